import Wire

/// One direction of a connection: addresses, ports, protocol (struct nf_conntrack_tuple).
public struct ConntrackTuple: Hashable, Sendable, CustomStringConvertible {
    public var source: IPAddress
    public var sourcePort: UInt16
    public var destination: IPAddress
    public var destinationPort: UInt16
    public var proto: IPProtocol

    public init(source: IPAddress, sourcePort: UInt16, destination: IPAddress, destinationPort: UInt16, proto: IPProtocol) {
        self.source = source
        self.sourcePort = sourcePort
        self.destination = destination
        self.destinationPort = destinationPort
        self.proto = proto
    }

    /// The tuple a reply carries (nf_ct_invert_tuple). ICMP keeps the id and maps the query
    /// type to its reply type (icmp_invert_tuple: echo 8 ↔ 0, timestamp 13 ↔ 14, info 15 ↔ 16,
    /// address mask 17 ↔ 18).
    public var inverted: ConntrackTuple {
        if proto == .icmp || proto == .icmpv6 {
            let type = UInt8(destinationPort >> 8), code = destinationPort & 0xFF
            // icmpv6_invert_tuple: echo 128 ↔ 129, node information 139 ↔ 140.
            let inverse: [UInt8: UInt8] = proto == .icmp ? [8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17]
                                                         : [128: 129, 129: 128, 139: 140, 140: 139]
            return ConntrackTuple(source: destination, sourcePort: sourcePort, destination: source,
                                  destinationPort: UInt16(inverse[type] ?? type) << 8 | code, proto: proto)
        }
        return ConntrackTuple(source: destination, sourcePort: destinationPort, destination: source,
                              destinationPort: sourcePort, proto: proto)
    }

    /// ICMP types that can start a connection (icmp_new: echo, timestamp, info, address mask).
    static let icmpQueryTypes: Set<UInt8> = [8, 13, 15, 17]
    /// ICMPv6 types that can start a connection (icmpv6_new: echo request, node information query).
    static let icmpv6QueryTypes: Set<UInt8> = [128, 139]

    /// As `conntrack -L` prints one direction: `src=.. dst=.. sport=.. dport=..`.
    public var description: String {
        "src=\(source) dst=\(destination)" + (proto.hasPorts ? " sport=\(sourcePort) dport=\(destinationPort)" : "")
    }
}

extension ConntrackTuple {
    /// The tuple of a flow key (Wire's 5-tuple, e.g. `QuotedPacket.flowKey` of an ICMP error):
    /// the same fields, ICMP's id and type/code held in the ports as conntrack does.
    public init(_ key: FlowKey) {
        self.init(source: key.source, sourcePort: key.sourcePort, destination: key.destination,
                  destinationPort: key.destinationPort, proto: key.proto)
    }
}
