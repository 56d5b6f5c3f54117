/// A UDP datagram over bytes (RFC 768).
public struct UDPDatagram {
    public static let headerLength = 8
    public let bytes: UnsafeRawBufferPointer

    /// Checks the header and its length field; bytes past the length are cut.
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 8 else { throw WireError(.udp, .truncated(needed: 8, available: bytes.count), at: 0) }
        let len = Int(bytes.be16(4))
        guard len >= 8 else { throw WireError(.udp, .badLength(len), at: 4) }
        guard bytes.count >= len else { throw WireError(.udp, .truncated(needed: len, available: bytes.count), at: 4) }
        self.bytes = bytes.slice(0, len)
    }

    public var sourcePort: UInt16 { bytes.be16(0) }
    public var destinationPort: UInt16 { bytes.be16(2) }
    public var length: Int { Int(bytes.be16(4)) }
    public var checksum: UInt16 { bytes.be16(6) }
    public var payload: UnsafeRawBufferPointer { bytes.tail(from: 8) }

    public func computedChecksum(source: IPAddress, destination: IPAddress) -> UInt16 {
        let ph = InternetChecksum.pseudoHeader(source: source, destination: destination, proto: .udp, length: bytes.count)
        let c = InternetChecksum.finish(InternetChecksum.sum(bytes.slice(0, 6), initial: InternetChecksum.sum(bytes.tail(from: 8), initial: ph)))
        return c == 0 ? 0xFFFF : c
    }
}

/// A parsed UDP header.
public struct UDPRepr: Hashable, Sendable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var payloadLength: Int
    /// False for a datagram sent without a checksum (zero, allowed on IPv4 only); emit keeps it.
    public var hasChecksum: Bool

    public init(sourcePort: UInt16, destinationPort: UInt16, payloadLength: Int, hasChecksum: Bool = true) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.payloadLength = payloadLength
        self.hasChecksum = hasChecksum
    }

    /// Parses the header. A zero checksum means none on IPv4 and is invalid on IPv6 (RFC 8200 §8.1).
    public static func parse(_ d: UDPDatagram, source: IPAddress, destination: IPAddress, checksum: ChecksumPolicy = .verify) throws(WireError) -> UDPRepr {
        if d.checksum == 0 {
            if checksum == .verify, source.family == .ipv6 { throw WireError(.udp, .invalidField("zero checksum on IPv6"), at: 6) }
        } else if checksum == .verify {
            let c = d.computedChecksum(source: source, destination: destination)
            if c != d.checksum { throw WireError(.udp, .badChecksum(expected: UInt32(c), found: UInt32(d.checksum)), at: 6) }
        }
        return UDPRepr(sourcePort: d.sourcePort, destinationPort: d.destinationPort, payloadLength: d.length - 8, hasChecksum: d.checksum != 0)
    }

    public var bufferLength: Int { 8 }

    /// Writes the header into `b`, whose payload is already in place after it, with the checksum.
    public func emit(into b: UnsafeMutableRawBufferPointer, source: IPAddress, destination: IPAddress) {
        let n = 8 + payloadLength
        b.put16(0, sourcePort)
        b.put16(2, destinationPort)
        b.put16(4, UInt16(truncatingIfNeeded: n))
        b.put16(6, 0)
        guard hasChecksum else { return }
        let ph = InternetChecksum.pseudoHeader(source: source, destination: destination, proto: .udp, length: n)
        let c = InternetChecksum.finish(InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: b[0..<n]), initial: ph))
        b.put16(6, c == 0 ? 0xFFFF : c)
    }
}
