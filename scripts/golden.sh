#!/usr/bin/env bash
# Regenerates Tests/KdpTests/Golden/expected/ from a kdp binary (default: the debug build).
# Only for a deliberate behaviour change: read `git diff` of expected/ before committing it.
# GoldenOutputTests runs the same cases and compares byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
kdp="${1:-.build/debug/kdp}"
dir=Tests/KdpTests/Golden
tmp=$(mktemp -d "$dir/.expected.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  name=${line%%:*}
  read -r -a args <<<"${line#*:}"
  for i in "${!args[@]}"; do args[$i]=${args[$i]/#golden\//$dir/}; done
  status=0
  "$kdp" "${args[@]}" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null || status=$?
  [ -s "$tmp/$name.err" ] || rm -f "$tmp/$name.err"
  want=0; case "$name" in *-exit2) want=2 ;; esac
  if [ "$status" != "$want" ]; then echo "golden: $name exited $status, expected $want" >&2; exit 1; fi
done <"$dir/cases.txt"
rm -rf "$dir/expected"
mv "$tmp" "$dir/expected"
trap - EXIT
echo "golden: $(ls "$dir/expected" | grep -c '\.out$') cases written to $dir/expected"
