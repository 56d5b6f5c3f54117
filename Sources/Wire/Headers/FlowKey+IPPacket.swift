extension FlowKey {
    /// The flow of an IPv4 or IPv6 packet (told apart by the version nibble), read through the
    /// header views without allocating: what replay needs per packet. TCP, UDP and SCTP give
    /// their ports; ICMP and ICMPv6 give id and type << 8 | code as conntrack keys them; other
    /// protocols and non-first fragments give ports 0. Only the IP header is checked here (its
    /// checksum on IPv4 with `.verify`); transport checksums are the Reprs' business.
    public init(ipPacket bytes: UnsafeRawBufferPointer, checksum: ChecksumPolicy = .verify) throws(WireError) {
        self = try Self.parse(ipPacket: bytes, checksum: checksum).key
    }

    /// `init(ipPacket:checksum:)`'s key with what the parse found on the way: the transport
    /// header and payload (past IPv4 options or IPv6 extension headers), and whether the packet
    /// is unfragmented or a first fragment (only those carry ports). One parse for a caller that
    /// reads the transport header too (replay decodes every record).
    public static func parse(ipPacket bytes: UnsafeRawBufferPointer, checksum: ChecksumPolicy = .verify) throws(WireError)
        -> (key: FlowKey, transport: UnsafeRawBufferPointer, firstFragment: Bool) {
        guard !bytes.isEmpty else { throw WireError(.ipv4, .truncated(needed: 20, available: 0), at: 0) }
        let src: IPAddress, dst: IPAddress, proto: IPProtocol
        let l4: UnsafeRawBufferPointer
        var first = true
        var l4Offset: Int
        if bytes[0] >> 4 == 6 {
            let p = try IPv6Packet(checking: bytes)
            let u = try p.upperLayer()
            (src, dst, proto, l4Offset) = (.v6(p.source), .v6(p.destination), u.proto, u.offset)
            l4 = p.bytes.tail(from: u.offset)
            first = (u.fragment?.offset ?? 0) == 0
        } else {
            let p = try IPv4Packet(checking: bytes)
            if checksum == .verify, !p.checksumIsValid {
                throw WireError(.ipv4, .badChecksum(expected: UInt32(p.computedChecksum), found: UInt32(p.checksum)), at: 10)
            }
            (src, dst, proto, l4Offset) = (.v4(p.source), .v4(p.destination), p.proto, p.headerLength)
            l4 = p.payload
            first = p.fragmentOffset == 0
        }
        var sp: UInt16 = 0, dp: UInt16 = 0
        if first {
            switch proto {
            case .tcp, .udp, .sctp:
                guard l4.count >= 4 else { throw WireError(proto == .tcp ? .tcp : proto == .udp ? .udp : .sctp, .truncated(needed: 4, available: l4.count), at: l4Offset) }
                (sp, dp) = (l4.be16(0), l4.be16(2))
            case .icmp, .icmpv6:
                guard l4.count >= 8 else { throw WireError(proto == .icmp ? .icmpv4 : .icmpv6, .truncated(needed: 8, available: l4.count), at: l4Offset) }
                (sp, dp) = (l4.be16(4), l4.be16(0))
            default: break
            }
        }
        return (FlowKey(source: src, sourcePort: sp, destination: dst, destinationPort: dp, proto: proto), l4, first)
    }
}
