#!/bin/sh
# Regenerates Tests/CapturesTests/Fixtures: a few KB of real traffic recorded with tcpdump in two
# throwaway network namespaces joined by a veth pair (UDP to a closed port, so ICMP unreachable
# comes back, and one TCP connection with data and FIN). Needs root, tcpdump, ip, python3.
set -eu
out="$(cd "$(dirname "$0")/.." && pwd)/Tests/CapturesTests/Fixtures"
mkdir -p "$out"
a="kdp-capfix-a-$$"; b="kdp-capfix-b-$$"
ip netns add "$a"; ip netns add "$b"
cleanup() { ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; }
trap cleanup EXIT
ip netns exec "$a" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip netns exec "$b" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip netns exec "$a" ip link add a0 type veth peer name b0 netns "$b"
ip netns exec "$a" sh -c 'ip addr add 10.213.0.1/24 dev a0 && ip link set a0 up && ip link set lo up'
ip netns exec "$b" sh -c 'ip addr add 10.213.0.2/24 dev b0 && ip link set b0 up && ip link set lo up'
ip netns exec "$a" tcpdump -Z root -U -s 0 -i a0 --time-stamp-precision=nano -w "$out/en10mb-ns.pcap" >/dev/null 2>&1 & p1=$!
ip netns exec "$a" tcpdump -Z root -U -s 0 -i any -w "$out/sll2.pcap" >/dev/null 2>&1 & p2=$!
sleep 1.5
ip netns exec "$a" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3): s.sendto(b"udp-%d" % i, ("10.213.0.2", 5353))'
ip netns exec "$b" python3 -c '
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.213.0.2", 8080)); l.listen(1)
c, _ = l.accept(); c.recv(100); c.sendall(b"world"); c.close()' & srv=$!
sleep 0.5
ip netns exec "$a" python3 -c '
import socket
s = socket.create_connection(("10.213.0.2", 8080)); s.sendall(b"hello"); s.recv(100); s.close()'
wait $srv
sleep 1
# tcpdump -i any does not always stop on SIGTERM here; -U has flushed every packet already.
kill -TERM $p1 $p2; sleep 0.5; kill -KILL $p1 $p2 2>/dev/null || true; wait $p1 $p2 || true
ls -l "$out"
