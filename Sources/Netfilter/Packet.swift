import Wire

/// TCP flag bits as in the header (and `--tcp-flags`).
public enum TCPFlag {
    public static let fin: UInt8 = 0x01, syn: UInt8 = 0x02, rst: UInt8 = 0x04
    public static let psh: UInt8 = 0x08, ack: UInt8 = 0x10, urg: UInt8 = 0x20
}

/// The packet fields netfilter looks at, plus the skb state that travels with it (mark and
/// interfaces). Ports hold the ICMP echo id in `sourcePort` for ICMP, as conntrack does.
public struct Packet: Hashable, Sendable {
    public var source: IPAddress
    public var destination: IPAddress
    public var proto: IPProtocol
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var tcpFlags: UInt8
    public var icmpType: UInt8
    public var icmpCode: UInt8
    public var mark: UInt32
    public var inInterface: String?
    public var outInterface: String?
    /// For an ICMP/ICMPv6 error: the packet it quotes, as that packet was sent (a
    /// `QuotedPacket.flowKey` through `ConntrackTuple(_:)`). Conntrack finds the connection
    /// the error is RELATED to from it, and NAT rewrites it with the outer addresses
    /// (nf_nat_icmp_reply_translation). Nil for other packets, and for errors whose quote was
    /// not decoded (they stay INVALID).
    public var quoted: ConntrackTuple? {
        get { quotedBox?.tuple }
        set { quotedBox = newValue.map(QuotedTuple.init) }
    }
    /// The quote, boxed: held inline its 49 bytes made a packet 133 bytes, past the 128 a
    /// copy moves inline, so every copy of every packet (dozens per trace) called memcpy.
    /// Only ICMP errors have one.
    private var quotedBox: QuotedTuple?

    /// An immutable box for `quoted` (replaced, never changed, on a write), equal and hashed
    /// by its tuple, so that packets compare by value.
    final class QuotedTuple: Hashable, Sendable {
        let tuple: ConntrackTuple
        init(_ tuple: ConntrackTuple) { self.tuple = tuple }
        static func == (a: QuotedTuple, b: QuotedTuple) -> Bool { a.tuple == b.tuple }
        func hash(into h: inout Hasher) { h.combine(tuple) }
    }

    public init(source: IPAddress, destination: IPAddress, proto: IPProtocol = .tcp,
                sourcePort: UInt16 = 0, destinationPort: UInt16 = 0, tcpFlags: UInt8 = TCPFlag.syn,
                icmpType: UInt8 = 8, icmpCode: UInt8 = 0, mark: UInt32 = 0,
                inInterface: String? = nil, outInterface: String? = nil, quoted: ConntrackTuple? = nil) {
        self.source = source
        self.destination = destination
        self.proto = proto
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.tcpFlags = tcpFlags
        self.icmpType = icmpType
        self.icmpCode = icmpCode
        self.mark = mark
        self.inInterface = inInterface
        self.outInterface = outInterface
        self.quotedBox = quoted.map(QuotedTuple.init)
    }

    /// Moves the packet out of `place`, leaving one with no addresses, interfaces or quote:
    /// a finished path hands its final packet to its result without copying (and later
    /// releasing) its interface names and quote box.
    static func take(_ place: inout Packet) -> Packet {
        withUnsafeMutablePointer(to: &place) { p in
            let packet = p.move()
            p.initialize(to: Packet(source: .v4(.zero), destination: .v4(.zero)))
            return packet
        }
    }

    /// Whether this is an ICMP error conntrack relates to a connection: ICMP destination
    /// unreachable, source quench, redirect, time exceeded, parameter problem (icmp_is_err),
    /// or any ICMPv6 type below 128 (nf_conntrack_icmpv6_error: destination unreachable,
    /// packet too big, time exceeded, parameter problem).
    public var isICMPError: Bool {
        if proto == .icmp {
            switch icmpType {
            case 3, 4, 5, 11, 12: return true
            default: return false
            }
        }
        if proto == .icmpv6 { return icmpType < 128 }
        return false
    }

    /// The conntrack tuple of this packet. ICMP keys on the echo id and the type and code
    /// (nf_conntrack_proto_icmp.c icmp_pkt_to_tuple), held here as sourcePort and
    /// destinationPort = type << 8 | code.
    public var tuple: ConntrackTuple {
        if proto == .icmp || proto == .icmpv6 {
            return ConntrackTuple(source: source, sourcePort: sourcePort, destination: destination,
                                  destinationPort: UInt16(icmpType) << 8 | UInt16(icmpCode), proto: proto)
        }
        return ConntrackTuple(source: source, sourcePort: proto.hasPorts ? sourcePort : 0,
                              destination: destination, destinationPort: proto.hasPorts ? destinationPort : 0, proto: proto)
    }

    /// `tcp 10.0.0.1:3456 -> 10.0.0.2:80`
    public var summary: String {
        if proto.hasPorts {
            return "\(proto.name) \(source.joined(port: sourcePort)) -> \(destination.joined(port: destinationPort))"
        }
        return "\(proto.name) \(source) -> \(destination)"
    }
}
