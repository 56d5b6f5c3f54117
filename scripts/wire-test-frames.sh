#!/bin/bash
# Records the frames of Tests/WireTests/CapturedFrames.swift: tcpdump on a veth between two
# test namespaces (kdp-wire13-*), removed on exit. Needs root, python3, tcpdump. Then convert
# all2.pcap with the python snippet at the end (prints the Swift fixture).
mkdir -p ${OUT:-/tmp/kdp-wire-frames}
set -x
R=$RANDOM; A=kdp-wire13-a$R; B=kdp-wire13-b$R
cleanup(){ ip netns del $A; ip netns del $B; }
trap cleanup EXIT
ip netns add $A; ip netns add $B
ip link add w13a netns $A type veth peer name w13b netns $B
for n in $A $B; do ip -n $n link set lo up; done
ip -n $A link set w13a up; ip -n $B link set w13b up
ip -n $A addr add 10.13.0.1/24 dev w13a; ip -n $B addr add 10.13.0.2/24 dev w13b
ip -n $A addr add fd13::1/64 dev w13a nodad; ip -n $B addr add fd13::2/64 dev w13b nodad
# VLAN and QinQ
ip -n $A link add link w13a name w13a.10 type vlan id 10; ip -n $B link add link w13b name w13b.10 type vlan id 10
ip -n $A link add link w13a name w13a.s type vlan proto 802.1ad id 100; ip -n $B link add link w13b name w13b.s type vlan proto 802.1ad id 100
ip -n $A link add link w13a.s name w13a.q type vlan id 20; ip -n $B link add link w13b.s name w13b.q type vlan id 20
ip -n $A link add vx13 type vxlan id 4242 remote 10.13.0.2 dstport 4789 dev w13a; ip -n $B link add vx13 type vxlan id 4242 remote 10.13.0.1 dstport 4789 dev w13b
for l in w13a.10 w13a.s w13a.q vx13; do ip -n $A link set $l up; done
for l in w13b.10 w13b.s w13b.q vx13; do ip -n $B link set $l up; done
ip -n $A addr add 10.13.10.1/24 dev w13a.10; ip -n $B addr add 10.13.10.2/24 dev w13b.10
ip -n $A addr add 10.13.20.1/24 dev w13a.q; ip -n $B addr add 10.13.20.2/24 dev w13b.q
ip -n $A addr add 10.13.42.1/24 dev vx13; ip -n $B addr add 10.13.42.2/24 dev vx13
cat > ${OUT:-/tmp/kdp-wire-frames}/txoff.py <<'PY'
import fcntl, socket, struct, ctypes, sys
for ifn in sys.argv[1:]:
    s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
    ev=ctypes.create_string_buffer(struct.pack('II',0x17,0))
    ifr=struct.pack('16sP16x',ifn.encode(),ctypes.addressof(ev))
    fcntl.ioctl(s.fileno(),0x8946,ifr)
PY
ip netns exec $A python3 ${OUT:-/tmp/kdp-wire-frames}/txoff.py w13a vx13
ip netns exec $B python3 ${OUT:-/tmp/kdp-wire-frames}/txoff.py w13b vx13
sleep 1
ip netns exec $B tcpdump -i w13b -w ${OUT:-/tmp/kdp-wire-frames}/all2.pcap -U -s 0 &
TP=$!
ip netns exec $B python3 -c '
import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1); s.bind(("0.0.0.0",8080)); s.listen(1)
c,_=s.accept(); c.recv(100); c.sendall(b"HTTP/1.0 200 OK\r\n\r\nhi"); c.close()' &
sleep 1
ip netns exec $A python3 -c '
import socket
c=socket.create_connection(("10.13.0.2",8080)); c.sendall(b"GET / HTTP/1.0\r\n\r\n"); c.recv(100); c.close()'
sleep 0.3
ip netns exec $A python3 -c '
import socket
u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.sendto(b"dnsq",("10.13.0.2",53))
u6=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); u6.sendto(b"dns6",("fd13::2",53))
# fragmented IPv4 and IPv6 udp
u.sendto(b"x"*2000,("10.13.0.2",9999)); u6.sendto(b"y"*2000,("fd13::2",9999))
'
ip netns exec $A python3 -c '
import socket
c6=socket.socket(socket.AF_INET6); c6.settimeout(1)
try: c6.connect(("fd13::2",8081))
except Exception as e: print(e)
'
ip netns exec $A python3 -c '
import socket,struct,time
def ck(b):
    if len(b)%2: b+=b"\0"
    s=sum(struct.unpack("!%dH"%(len(b)//2),b)); s=(s&0xffff)+(s>>16); s=(s&0xffff)+(s>>16); return ~s&0xffff
def echo(dst,opts=None):
    r=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP)
    if opts: r.setsockopt(socket.IPPROTO_IP,socket.IP_OPTIONS,opts)
    m=struct.pack("!BBHHH",8,0,0,0x1234,1)+b"kdp-wire13-ping"
    m=m[:2]+struct.pack("!H",ck(m))+m[4:]
    r.sendto(m,(dst,0)); time.sleep(0.2)
echo("10.13.0.2")
echo("10.13.0.2",bytes([7,11,4])+bytes(8)+bytes([0]))
echo("10.13.42.2")
r6=socket.socket(socket.AF_INET6,socket.SOCK_RAW,socket.IPPROTO_ICMPV6)
r6.sendto(struct.pack("!BBHHH",128,0,0,0x4321,1)+b"kdp-wire13-ping6",("fd13::2",0)); time.sleep(0.2)
'
sleep 1
kill $TP; wait $TP
# Convert to the Swift fixture (label = tcpdump -nn line, hex = frame bytes).
cd ${OUT:-/tmp/kdp-wire-frames} && python3 - <<'PY'
import struct, subprocess
d = open('all2.pcap', 'rb').read()
labels = []
for l in subprocess.run(['tcpdump', '-r', 'all2.pcap', '-nn'], capture_output=True, text=True).stdout.splitlines():
    if l[:2].isdigit() and l[2] == ':': labels.append(l[16:])
    else: labels[-1] += ' | ' + l
off, frames = 24, []
while off < len(d):
    _, _, incl, _ = struct.unpack('<IIII', d[off:off + 16]); off += 16
    frames.append(d[off:off + incl]); off += incl
print('let capturedFrames: [(label: String, hex: String)] = [')
for f, l in zip(frames, labels):
    print('    ("%s",\n     "%s"),' % (l.replace('\\', '').replace('"', "'")[:150], f.hex()))
print(']')
PY
