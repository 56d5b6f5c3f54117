#!/usr/bin/env bash
# record-demo-captures.sh OUTDIR
#
# Records the captures shipped in captures/ from the real kernel: real traffic through the
# iptables rules kdp compiles for node worker-1 of topologies/demo.yaml, loaded into a throwaway
# network namespace with iptables-restore. Three namespaces with unique names, joined only to
# each other by veth pairs (no traffic leaves them; the host's interfaces, rules and routes are
# never touched), deleted on exit whatever happens:
#
#   client  eth0 10.244.1.2/24 (the client pod) + 203.0.113.5/32 (a client outside the cluster)
#      |    default via 10.244.1.1
#   node    cni0 10.244.1.1/24 (worker-1's bridge address)   eth0 172.18.0.3/16 (worker-1's IP)
#      |    kdp compile --node worker-1 --format save | iptables-restore; ip_forward=1
#   server  eth0 172.18.0.4/16 (plays the rest of the cluster) + every endpoint pod IP /32
#           (coredns-0 10.244.0.2, web-0 10.244.1.3, web-1 10.244.2.2, web-2 10.244.2.3)
#
# Addresses, ports and names come from `kdp cluster -o json`. Neighbours are static (no ARP in
# the captures), IPv6 is off (no router solicitations) and transmit checksum offload is off (the
# captures carry real checksums). The servers (scripts/demo-traffic.py) answer DNS on coredns's
# IP:53 and HTTP on every web pod's IP:8080; web-canary has no endpoints, so kube-proxy's REJECT
# answers with ICMP port unreachable.
#
# Writes OUTDIR/<name> (tcpdump -i eth0 in the client namespace, as inside the pod: the client
# side) and OUTDIR/server/<name> (tcpdump -i eth0 in the server namespace: what the kernel
# delivered) for dns-udp.pcap, http-web.pcap, nodeport.pcap, refused.pcap, affinity.pcap,
# demo.pcapng; node-any.pcap is `tcpdump -i any` (LINUX_SLL2) in the node namespace. Also
# OUTDIR/worker-1.rules (what was loaded) and OUTDIR/log.txt (what the clients printed).
# The node's conntrack table is flushed between captures, so each one starts on a fresh node.
#
# Needs root, ip, tcpdump, python3, iptables-restore, conntrack, and a built kdp ($KDP, default
# .build/debug/kdp).
set -euo pipefail

me=$(basename "$0")
if [ $# -ne 1 ] || [ "${1:0:1}" = "-" ]; then
    echo "usage: $me OUTDIR   (records the demo captures into OUTDIR; needs root)" >&2
    exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "$me: needs root (it creates network namespaces and loads iptables rules in them); try: sudo $0 $1" >&2
    exit 1
fi
for tool in ip tcpdump python3 iptables-restore conntrack; do
    command -v "$tool" >/dev/null || { echo "$me: $tool is not installed" >&2; exit 1; }
done
root=$(cd "$(dirname "$0")/.." && pwd)
kdp=${KDP:-$root/.build/debug/kdp}
[ -x "$kdp" ] || { echo "$me: no kdp binary at $kdp (run swift build, or set KDP)" >&2; exit 1; }
traffic="$root/scripts/demo-traffic.py"
# The interpreter itself, not a wrapper (pyenv's shim is a shell script): the pids kept for
# cleanup must be the servers' own.
python=$(python3 -c 'import sys; print(sys.executable)')
mkdir -p "$1/server"
out=$(cd "$1" && pwd)

# --- the demo's addresses, from kdp itself -----------------------------------------------------
eval "$("$kdp" cluster -o json | python3 -c '
import ipaddress, json, sys
d = json.load(sys.stdin)
pods = {(p["namespace"], p["name"]): p for p in d["pods"]}
svcs = {(s["namespace"], s["name"]): s for s in d["services"]}
nodes = {n["name"]: n for n in d["nodes"]}
client = pods[("default", "client")]
node = nodes[client["node"]]
cidr = ipaddress.ip_network(node["podCIDRs"][0])
other = next(n for n in d["nodes"] if n["name"] != node["name"] and n["role"] == "worker")
by_ip = {p["ips"][0]: p["name"] for p in d["pods"]}
dns = svcs[("kube-system", "kube-dns")]
coredns = next(s for s in d["endpointSlices"] if s["service"] == "kube-dns")["endpoints"][0]["addresses"][0]
web = next(s for s in d["endpointSlices"] if s["service"] == "web" and s["namespace"] == "default")
web_ips = [e["addresses"][0] for e in web["endpoints"]]
servers = [coredns] + web_ips
def port(s, name=None): return next(p for p in s["ports"] if name is None or p["name"] == name)
v = {
    "NODE": node["name"], "NODE_IP": node["internalIPs"][0], "GATEWAY": str(cidr.network_address + 1),
    "PREFIX_LEN": str(cidr.prefixlen), "NODE_NET_LEN": d["cluster"]["nodeNetworks"][0].split("/")[1],
    "CLUSTER_CIDR": d["cluster"]["clusterCIDRs"][0], "OTHER_NODE_IP": other["internalIPs"][0],
    "CLIENT_IP": client["ips"][0], "OUTSIDE_IP": "203.0.113.5",
    "DNS_VIP": dns["clusterIPs"][0], "DNS_NAME": "web.default.svc." + d["cluster"]["clusterDomain"],
    "COREDNS_IP": coredns, "WEB_VIP": svcs[("default", "web")]["clusterIPs"][0],
    "WEB_PORT": str(port(svcs[("default", "web")])["port"]),
    "CANARY_VIP": svcs[("default", "web-canary")]["clusterIPs"][0],
    "STICKY_VIP": svcs[("default", "web-sticky")]["clusterIPs"][0],
    "NODEPORT": str(port(svcs[("default", "web-nodeport")])["nodePort"]),
    "SERVER_IPS": " ".join(servers),
    "LOCAL_SERVER_IPS": " ".join(ip for ip in servers if ipaddress.ip_address(ip) in cidr),
    "WEB_PODS": " ".join("%s=%s" % (ip, by_ip[ip]) for ip in web_ips),
}
for k, val in v.items(): print("%s=%s" % (k, "\x27" + val + "\x27"))
')"

# --- namespaces --------------------------------------------------------------------------------
tag="$$-$RANDOM"
C="kdp-demo-c-$tag"; N="kdp-demo-n-$tag"; S="kdp-demo-s-$tag"
pids=()
cleanup() {
    set +e
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    for ns in "$C" "$N" "$S"; do ip netns del "$ns" 2>/dev/null; done
    rm -f "$out/.ready" "$out"/.*.raw "$out/server"/.*.raw "$out"/*.tcpdump-log "$out"/.*.tcpdump-log \
        "$out/server"/*.tcpdump-log "$out/server"/.*.tcpdump-log
}
trap cleanup EXIT
trap 'exit 130' INT TERM
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

for ns in "$C" "$N" "$S"; do ip netns add "$ns"; done
ip -n "$N" link add cni0 address 0a:58:0a:f4:01:01 type veth peer name eth0 address 0a:58:0a:f4:01:02 netns "$C"
ip -n "$N" link add eth0 address 02:42:ac:12:00:03 type veth peer name eth0 address 02:42:ac:12:00:04 netns "$S"
for ns in "$C" "$N" "$S"; do
    nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
done
nsx "$C" "$python" "$traffic" txcsum-off eth0
nsx "$N" "$python" "$traffic" txcsum-off cni0 eth0
nsx "$S" "$python" "$traffic" txcsum-off eth0

ip -n "$C" addr add "$CLIENT_IP/$PREFIX_LEN" dev eth0
ip -n "$C" addr add "$OUTSIDE_IP/32" dev eth0
ip -n "$C" link set eth0 up
ip -n "$C" route add default via "$GATEWAY" dev eth0
ip -n "$C" neigh replace "$GATEWAY" lladdr 0a:58:0a:f4:01:01 dev eth0 nud permanent

ip -n "$N" addr add "$GATEWAY/$PREFIX_LEN" dev cni0
ip -n "$N" addr add "$NODE_IP/$NODE_NET_LEN" dev eth0
ip -n "$N" link set cni0 up
ip -n "$N" link set eth0 up
ip -n "$N" route add "$CLUSTER_CIDR" via "$OTHER_NODE_IP" dev eth0
# A default route, as every node has: a ClusterIP is routed (out eth0) before filter FORWARD sees
# it, so web-canary's SYN reaches kube-proxy's REJECT instead of "network unreachable". The
# server namespace does not forward, so nothing sent there by default goes further.
ip -n "$N" route add default via "$OTHER_NODE_IP" dev eth0
for ip in $LOCAL_SERVER_IPS; do ip -n "$N" route add "$ip/32" via "$OTHER_NODE_IP" dev eth0; done
ip -n "$N" route add "$OUTSIDE_IP/32" via "$CLIENT_IP" dev cni0
ip -n "$N" neigh replace "$CLIENT_IP" lladdr 0a:58:0a:f4:01:02 dev cni0 nud permanent
ip -n "$N" neigh replace "$OTHER_NODE_IP" lladdr 02:42:ac:12:00:04 dev eth0 nud permanent
nsx "$N" sysctl -qw net.ipv4.ip_forward=1

ip -n "$S" addr add "$OTHER_NODE_IP/$NODE_NET_LEN" dev eth0
for ip in $SERVER_IPS; do ip -n "$S" addr add "$ip/32" dev eth0; done
ip -n "$S" link set eth0 up
ip -n "$S" route add default via "$NODE_IP" dev eth0
ip -n "$S" neigh replace "$NODE_IP" lladdr 02:42:ac:12:00:03 dev eth0 nud permanent

"$kdp" compile --node "$NODE" --format save >"$out/$NODE.rules"
nsx "$N" iptables-restore <"$out/$NODE.rules"

# --- servers -----------------------------------------------------------------------------------
ip netns exec "$S" "$python" "$traffic" servers "$out/.ready" "$COREDNS_IP" "$DNS_NAME=$WEB_VIP" -- $WEB_PODS &
pids+=($!)
for _ in $(seq 400); do [ -e "$out/.ready" ] && break; sleep 0.05; done
[ -e "$out/.ready" ] || { echo "$me: the servers did not start" >&2; exit 1; }

# --- recording ---------------------------------------------------------------------------------
# dump NS IFACE FILE [tcpdump options]: starts tcpdump and waits until it listens. Immediate mode
# (every packet handed over at once, so none is still in the ring when tcpdump stops) makes
# libpcap use one ring frame per snaplen-sized packet; -B gives the ring room for a few hundred
# (the default 2 MB holds about 30 frames on `any`, whose lo has a 64 KB MTU, and drops the rest).
dump() {
    local ns=$1 iface=$2 file=$3; shift 3
    ip netns exec "$ns" tcpdump -Z root -U --immediate-mode -B 32768 -n -s 262144 -i "$iface" "$@" -w "$file" 2>"$file.tcpdump-log" &
    local p=$!
    pids+=($p)
    for _ in $(seq 400); do grep -q "listening on" "$file.tcpdump-log" 2>/dev/null && break; sleep 0.05; done
    grep -q "listening on" "$file.tcpdump-log" || { echo "$me: tcpdump -i $iface did not start: $(cat "$file.tcpdump-log")" >&2; exit 1; }
    dumps+=("$p")
}
# stop: ends this capture's tcpdumps (SIGTERM, then SIGKILL: -U has flushed every packet already).
stop() {
    sleep 0.5
    for p in "${dumps[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 40); do
        local alive=0
        for p in "${dumps[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.05
    done
    for p in "${dumps[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    # Forget the pids waited for: cleanup must never signal a pid the system has reused.
    local keep=() p d
    for p in "${pids[@]}"; do
        for d in "${dumps[@]}"; do [ "$p" = "$d" ] && continue 2; done
        keep+=("$p")
    done
    pids=("${keep[@]}")
    local logs=("$out"/*.tcpdump-log "$out"/.*.tcpdump-log "$out/server"/*.tcpdump-log "$out/server"/.*.tcpdump-log)
    if grep -H "[1-9][0-9]* packets dropped by kernel" "${logs[@]}" 2>/dev/null; then
        echo "$me: tcpdump lost packets; run again" >&2
        exit 1
    fi
    rm -f "${logs[@]}"
    nsx "$N" conntrack -F >/dev/null 2>&1 || true
}
# capture NAME [tcpdump options]: client side and server side of the next traffic.
capture() {
    local name=$1; shift
    dumps=()
    dump "$C" eth0 "$out/$name" "$@"
    dump "$S" eth0 "$out/server/$name" "$@"
}
client() { nsx "$C" "$python" "$traffic" "$@" | tee -a "$out/log.txt"; }
: >"$out/log.txt"
nsx "$N" conntrack -F >/dev/null 2>&1 || true

echo "# dns-udp.pcap" >>"$out/log.txt"
capture dns-udp.pcap
client dns "$CLIENT_IP" 45053 "$DNS_VIP" "$DNS_NAME"
stop

echo "# http-web.pcap" >>"$out/log.txt"
capture http-web.pcap
client http "$CLIENT_IP" 41001 "$WEB_VIP" "$WEB_PORT" 6
stop

echo "# nodeport.pcap" >>"$out/log.txt"
capture nodeport.pcap
client http "$OUTSIDE_IP" 43001 "$NODE_IP" "$NODEPORT" 2
stop

echo "# refused.pcap" >>"$out/log.txt"
capture refused.pcap
client refused "$CLIENT_IP" 44001 "$CANARY_VIP" "$WEB_PORT"
stop

echo "# affinity.pcap" >>"$out/log.txt"
capture affinity.pcap
client http "$CLIENT_IP" 42001 "$STICKY_VIP" "$WEB_PORT" 5
stop

echo "# demo.pcapng" >>"$out/log.txt"
capture .demo.raw --time-stamp-precision=nano
client dns "$CLIENT_IP" 46053 "$DNS_VIP" "$DNS_NAME"
client http "$CLIENT_IP" 46001 "$WEB_VIP" "$WEB_PORT" 2
stop
"$python" "$root/scripts/pcap-to-pcapng.py" "$out/.demo.raw" "$out/demo.pcapng" eth0
"$python" "$root/scripts/pcap-to-pcapng.py" "$out/server/.demo.raw" "$out/server/demo.pcapng" eth0
rm -f "$out/.demo.raw" "$out/server/.demo.raw"

echo "# node-any.pcap" >>"$out/log.txt"
dumps=()
dump "$N" any "$out/node-any.pcap" -y LINUX_SLL2
dump "$S" eth0 "$out/server/node-any.pcap"
client http "$CLIENT_IP" 47001 "$WEB_VIP" "$WEB_PORT" 1
stop

for f in dns-udp.pcap http-web.pcap nodeport.pcap refused.pcap affinity.pcap demo.pcapng node-any.pcap; do
    printf '%-16s recorded %4s packets   server side %4s packets\n' "$f" \
        "$(tcpdump -nr "$out/$f" 2>/dev/null | wc -l)" "$(tcpdump -nr "$out/server/$f" 2>/dev/null | wc -l)"
done
