/// An ICMP (RFC 792) or ICMPv6 (RFC 4443) message over bytes: type, code, checksum, the
/// 4-byte rest of header (echo id and sequence, MTU, pointer), and the data. Error messages
/// quote the packet they refer to: `quoted()` reads its IP header and first 8 bytes, which is
/// what conntrack matches to mark the error RELATED to a tracked flow.
public struct ICMPMessage {
    public static let headerLength = 8
    public let bytes: UnsafeRawBufferPointer
    /// ICMPv6 (true) or ICMP for IPv4.
    public let isV6: Bool

    public init(checking bytes: UnsafeRawBufferPointer, v6: Bool) throws(WireError) {
        guard bytes.count >= 8 else { throw WireError(v6 ? .icmpv6 : .icmpv4, .truncated(needed: 8, available: bytes.count), at: 0) }
        self.bytes = bytes
        isV6 = v6
    }

    public var type: UInt8 { bytes[0] }
    public var code: UInt8 { bytes[1] }
    public var checksum: UInt16 { bytes.be16(2) }
    /// Bytes 4..<8: id and sequence for echo, the next-hop MTU for too-big, the pointer for a parameter problem.
    public var restOfHeader: UInt32 { bytes.be32(4) }
    public var identifier: UInt16 { bytes.be16(4) }
    public var sequenceNumber: UInt16 { bytes.be16(6) }
    public var data: UnsafeRawBufferPointer { bytes.tail(from: 8) }

    /// True for the messages that quote a packet: destination unreachable, source quench,
    /// redirect, time exceeded, parameter problem (ICMP 3, 4, 5, 11, 12); ICMPv6 1–4
    /// (destination unreachable, packet too big, time exceeded, parameter problem).
    public var isError: Bool {
        if isV6 { return (1...4).contains(type) }
        switch type {
        case 3, 4, 5, 11, 12: return true
        default: return false
        }
    }

    /// True for echo request/reply (ICMP 8/0, ICMPv6 128/129).
    public var isEcho: Bool { isV6 ? type == 128 || type == 129 : type == 8 || type == 0 }

    /// The checksum the message should carry: over the message alone (ICMP), or with the
    /// IPv6 pseudo-header (ICMPv6).
    public func computedChecksum(source: IPAddress, destination: IPAddress) -> UInt16 {
        let ph = isV6 ? InternetChecksum.pseudoHeader(source: source, destination: destination, proto: .icmpv6, length: bytes.count) : 0
        return InternetChecksum.finish(InternetChecksum.sum(bytes.slice(0, 2), initial: InternetChecksum.sum(bytes.tail(from: 4), initial: ph)))
    }

    /// The quoted packet of an error message: its IP header's fields and the first 8 bytes after
    /// it. The quoted packet is cut short by design, so its lengths and checksum are not checked.
    public func quoted() throws(WireError) -> QuotedPacket {
        let kind: HeaderKind = isV6 ? .icmpv6 : .icmpv4
        guard isError else { throw WireError(kind, .invalidField("type \(type) quotes no packet"), at: 0) }
        let q = data
        if isV6 {
            guard q.count >= 40 else { throw WireError(.ipv6, .truncated(needed: 40, available: q.count), at: 8) }
            guard q[0] >> 4 == 6 else { throw WireError(.ipv6, .badVersion(q[0] >> 4), at: 8) }
            let upper: IPv6UpperLayer
            do { upper = try IPv6UpperLayer.walk(q, first: IPProtocol(rawValue: q[6])) } catch { throw error.shifted(by: 8) }
            guard q.count >= upper.offset + 8 else { throw WireError(kind, .truncated(needed: 8 + upper.offset + 8, available: bytes.count), at: 8 + upper.offset) }
            return QuotedPacket(source: .v6(q.ipv6(8)), destination: .v6(q.ipv6(24)), proto: upper.proto, headerLength: upper.offset,
                                first8: q.be32(upper.offset), second4: q.be32(upper.offset + 4))
        }
        guard q.count >= 20 else { throw WireError(.ipv4, .truncated(needed: 20, available: q.count), at: 8) }
        guard q[0] >> 4 == 4 else { throw WireError(.ipv4, .badVersion(q[0] >> 4), at: 8) }
        let ihl = Int(q[0] & 0xF) * 4
        guard ihl >= 20 else { throw WireError(.ipv4, .badHeaderLength(ihl), at: 8) }
        guard q.count >= ihl + 8 else { throw WireError(kind, .truncated(needed: 8 + ihl + 8, available: bytes.count), at: 8 + ihl) }
        return QuotedPacket(source: .v4(q.ipv4(12)), destination: .v4(q.ipv4(16)), proto: IPProtocol(rawValue: q[9]), headerLength: ihl,
                            first8: q.be32(ihl), second4: q.be32(ihl + 4))
    }
}

/// The packet an ICMP error quotes: the addresses and protocol of its IP header and the
/// first 8 bytes of what followed (ports for TCP/UDP/SCTP; type, code, id for ICMP).
public struct QuotedPacket: Hashable, Sendable {
    public var source: IPAddress
    public var destination: IPAddress
    public var proto: IPProtocol
    /// Bytes of the quoted IP header (with IPv6 extension headers).
    public var headerLength: Int
    /// The first 4 bytes after the IP header, big-endian.
    public var first8: UInt32
    /// The next 4 bytes.
    public var second4: UInt32

    /// The quoted packet's flow, in the direction it was sent: what conntrack looks up to
    /// find the flow the error is RELATED to.
    public var flowKey: FlowKey {
        if proto == .icmp || proto == .icmpv6 {
            return FlowKey(source: source, sourcePort: UInt16(truncatingIfNeeded: second4 >> 16), destination: destination,
                           destinationPort: UInt16(first8 >> 16), proto: proto)
        }
        return FlowKey(source: source, sourcePort: UInt16(first8 >> 16), destination: destination,
                       destinationPort: UInt16(truncatingIfNeeded: first8), proto: proto)
    }
}

/// A parsed ICMP/ICMPv6 header; the data (echo payload or quoted packet) stays in the buffer.
public struct ICMPRepr: Hashable, Sendable {
    public var type: UInt8
    public var code: UInt8
    public var restOfHeader: UInt32
    public var dataLength: Int
    public var isV6: Bool

    public init(type: UInt8, code: UInt8, restOfHeader: UInt32 = 0, dataLength: Int = 0, isV6: Bool = false) {
        self.type = type
        self.code = code
        self.restOfHeader = restOfHeader
        self.dataLength = dataLength
        self.isV6 = isV6
    }

    /// Parses the header; `source`/`destination` form ICMPv6's pseudo-header (unused for ICMP).
    public static func parse(_ m: ICMPMessage, source: IPAddress, destination: IPAddress, checksum: ChecksumPolicy = .verify) throws(WireError) -> ICMPRepr {
        if checksum == .verify {
            let c = m.computedChecksum(source: source, destination: destination)
            if c != m.checksum { throw WireError(m.isV6 ? .icmpv6 : .icmpv4, .badChecksum(expected: UInt32(c), found: UInt32(m.checksum)), at: 2) }
        }
        return ICMPRepr(type: m.type, code: m.code, restOfHeader: m.restOfHeader, dataLength: m.data.count, isV6: m.isV6)
    }

    public var bufferLength: Int { 8 }

    /// Writes the header into `b`, whose data is already in place after it, with the checksum.
    public func emit(into b: UnsafeMutableRawBufferPointer, source: IPAddress, destination: IPAddress) {
        let n = 8 + dataLength
        b[0] = type
        b[1] = code
        b.put16(2, 0)
        b.put32(4, restOfHeader)
        let ph = isV6 ? InternetChecksum.pseudoHeader(source: source, destination: destination, proto: .icmpv6, length: n) : 0
        b.put16(2, InternetChecksum.finish(InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: b[0..<n]), initial: ph)))
    }
}
