#!/usr/bin/env python3
"""Servers and clients for scripts/record-demo-captures.sh (run inside its network namespaces).

  demo-traffic.py servers READY_FILE DNS_IP NAME=IP... -- WEB_IP=POD...
      A DNS responder on DNS_IP:53/udp answering A queries for each NAME with IP (NXDOMAIN
      otherwise), and an HTTP/1.0 server on every WEB_IP:8080 whose body names the pod. Writes
      READY_FILE once every socket listens; runs until killed (at most 10 minutes).
  demo-traffic.py dns SRC SPORT SERVER NAME         one A query from SRC:SPORT, prints the answer
  demo-traffic.py http SRC SPORT DST DPORT COUNT    COUNT connections from SRC:SPORT, SPORT+1, ...
  demo-traffic.py refused SRC SPORT DST DPORT       one connect that must be refused
  demo-traffic.py txcsum-off IFACE...               turns off transmit checksum offload

Source ports are fixed so that re-recording gives the same flows; the DNS transaction ID is fixed
too. Every client step has a timeout and exits non-zero when it fails.
"""
import socket
import struct
import sys
import threading
import time

DNS_ID = 0x6B64  # "kd"


def dns_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_query(name):
    # RD set, one question, QTYPE A, QCLASS IN.
    return struct.pack("!HHHHHH", DNS_ID, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack("!HH", 1, 1)


def read_qname(msg, off):
    labels = []
    while msg[off] != 0:
        n = msg[off]
        labels.append(msg[off + 1:off + 1 + n].decode())
        off += 1 + n
    return ".".join(labels), off + 1


def dns_answer(query, records):
    qid, flags, qd = struct.unpack("!HHH", query[:6])
    name, end = read_qname(query, 12)
    qtype, _ = struct.unpack("!HH", query[end:end + 4])
    question = query[12:end + 4]
    ip = records.get(name.lower())
    if ip is None:
        # QR, AA, RD echoed, RA; RCODE 3 (NXDOMAIN).
        return struct.pack("!HHHHHH", qid, 0x8580 | (flags & 0x0100), 1, 0, 0, 0) + question
    answers = []
    if qtype == 1:
        # Name as a pointer to the question (offset 12), TYPE A, CLASS IN, TTL 30 (CoreDNS's
        # kubernetes plugin default), RDLENGTH 4.
        answers.append(struct.pack("!HHHIH", 0xC00C, 1, 1, 30, 4) + socket.inet_aton(ip))
    return struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100), 1, len(answers), 0, 0) + question + b"".join(answers)


def servers(args):
    ready_file, dns_ip = args[0], args[1]
    sep = args.index("--")
    records = dict(a.split("=", 1) for a in args[2:sep])
    records = {k.lower().rstrip("."): v for k, v in records.items()}
    web = dict(a.split("=", 1) for a in args[sep + 1:])

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((dns_ip, 53))

    def serve_dns():
        while True:
            data, peer = udp.recvfrom(2048)
            try:
                udp.sendto(dns_answer(data, records), peer)
            except (IndexError, struct.error, UnicodeDecodeError):
                pass

    def serve_http(listener, pod):
        while True:
            conn, _ = listener.accept()
            conn.settimeout(5)
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                body = ("hello from %s\n" % pod).encode()
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                             b"Connection: close\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            finally:
                conn.close()

    threading.Thread(target=serve_dns, daemon=True).start()
    for ip, pod in web.items():
        l = socket.socket()
        l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.bind((ip, 8080))
        l.listen(64)
        threading.Thread(target=serve_http, args=(l, pod), daemon=True).start()
    with open(ready_file, "w") as f:
        f.write("ready\n")
    time.sleep(600)


def dns(args):
    src, sport, server, name = args[0], int(args[1]), args[2], args[3]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, sport))
    s.settimeout(3)
    s.sendto(dns_query(name), (server, 53))
    reply, peer = s.recvfrom(2048)
    qid, flags, _, ancount = struct.unpack("!HHHH", reply[:8])
    if qid != DNS_ID or ancount < 1:
        sys.exit("dns: unexpected reply from %s: %r" % (peer, reply))
    print("%s A %s (from %s:%d)" % (name, socket.inet_ntoa(reply[-4:]), peer[0], peer[1]))


def http(args):
    src, sport, dst, dport, count = args[0], int(args[1]), args[2], int(args[3]), int(args[4])
    for i in range(count):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((src, sport + i))
        s.settimeout(5)
        s.connect((dst, dport))
        s.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: kdp-demo\r\nAccept: */*\r\n\r\n" % dst.encode())
        response = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            response += chunk
        s.close()
        print("%s:%d -> %s:%d: %s" % (src, sport + i, dst, dport, response.split(b"\r\n\r\n", 1)[-1].decode().strip()))
        time.sleep(0.2)


def refused(args):
    src, sport, dst, dport = args[0], int(args[1]), args[2], int(args[3])
    s = socket.socket()
    s.bind((src, sport))
    s.settimeout(3)
    try:
        s.connect((dst, dport))
    except ConnectionRefusedError:
        print("%s:%d -> %s:%d: refused" % (src, sport, dst, dport))
        return
    sys.exit("refused: %s:%d connected, expected a refusal" % (dst, dport))


def txcsum_off(args):
    # What `ethtool -K IFACE tx off` does (ethtool is not installed everywhere): without it a veth
    # hands tcpdump TCP and UDP segments whose checksum the sender left for offload (only the
    # pseudo-header sum), and every captured segment reads back with a bad checksum.
    import ctypes
    import fcntl
    SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for name in args:
        value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
        ifreq = struct.pack("16sP", name.encode(), ctypes.addressof(value)).ljust(40, b"\0")
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)


if __name__ == "__main__":
    commands = {"servers": servers, "dns": dns, "http": http, "refused": refused, "txcsum-off": txcsum_off}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])
