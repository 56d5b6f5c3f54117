#!/usr/bin/env python3
"""pcap-to-pcapng.py IN.pcap OUT.pcapng [IFACE_NAME]

Rewrites a classic pcap file (microsecond or nanosecond, either byte order) as pcapng: one
Section Header Block, one Interface Description Block (the file's link type and snaplen, if_name
when given, if_tsresol 6 or 9 to keep the input's precision), and one Enhanced Packet Block per
record with the same timestamp, captured and original lengths and bytes. tcpdump cannot write
pcapng and dumpcap is not installed here: scripts/record-demo-captures.sh converts a real tcpdump
recording with this script.
"""
import struct
import sys

MAGIC = {0xA1B2C3D4: ("<", 6), 0xA1B23C4D: ("<", 9), 0xD4C3B2A1: (">", 6), 0x4D3CB2A1: (">", 9)}


def option(code, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack("<HH", code, len(value)) + value + b"\0" * pad


def block(kind, body):
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def convert(src, dst, if_name=None):
    data = open(src, "rb").read()
    (magic,) = struct.unpack("<I", data[:4])
    if magic not in MAGIC:
        sys.exit("pcap-to-pcapng: %s: not a classic pcap file (magic 0x%08x)" % (src, magic))
    order, resolution = MAGIC[magic]
    _, _, _, _, snaplen, linktype = struct.unpack(order + "HHiIII", data[4:24])
    linktype &= 0xFFFF
    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
                 + option(4, b"kdp scripts/pcap-to-pcapng.py") + option(0, b""))]
    idb_options = b""
    if if_name:
        idb_options += option(2, if_name.encode())
    idb_options += option(9, bytes([resolution])) + option(0, b"")
    out.append(block(1, struct.pack("<HHI", linktype, 0, snaplen) + idb_options))
    off, scale = 24, 10 ** resolution
    while off < len(data):
        if off + 16 > len(data):
            sys.exit("pcap-to-pcapng: %s: truncated record header at byte %d" % (src, off))
        sec, frac, caplen, origlen = struct.unpack(order + "IIII", data[off:off + 16])
        packet = data[off + 16:off + 16 + caplen]
        if len(packet) != caplen:
            sys.exit("pcap-to-pcapng: %s: truncated record at byte %d" % (src, off))
        ts = sec * scale + frac
        pad = (4 - caplen % 4) % 4
        out.append(block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, caplen, origlen) + packet + b"\0" * pad))
        off += 16 + caplen
    with open(dst, "wb") as f:
        f.write(b"".join(out))


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    convert(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else None)
