#!/usr/bin/env bash
# Installs the Debian packages kdp needs, only those missing. Uses sudo when not root.
# Run by `make deps` (and so by `make demo`, `make test`, `make bench`).
set -euo pipefail

packages=(libpcap-dev libnl-3-dev libnl-route-3-dev libnl-genl-3-dev iptables ipset iproute2 conntrack tcpdump iputils-ping nftables python3 graphviz chromium fonts-dejavu-core)
# python3 runs the small echo servers and traffic generators of the kernel tests (Tests/).
# graphviz draws `-o svg` (kdp trace, kdp cluster, kdp report); the picture tests check the DOT with it.
# chromium (headless) and a font: the report test loads kdp report's HTML in a real browser.
# `make bench` measures peak memory with GNU time.
[ "${KDP_BENCH:-0}" = 1 ] && packages+=(time)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${missing[*]} and no apt-get here; install them by hand" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
