/// An SCTP packet over bytes (RFC 9260): the common header and the first chunk's header.
public struct SCTPPacket {
    public static let headerLength = 12
    public let bytes: UnsafeRawBufferPointer

    /// Checks the common header and, when there is a chunk, its 4-byte header.
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 12 else { throw WireError(.sctp, .truncated(needed: 12, available: bytes.count), at: 0) }
        if bytes.count > 12, bytes.count < 16 { throw WireError(.sctp, .truncated(needed: 16, available: bytes.count), at: 12) }
        self.bytes = bytes
    }

    public var sourcePort: UInt16 { bytes.be16(0) }
    public var destinationPort: UInt16 { bytes.be16(2) }
    public var verificationTag: UInt32 { bytes.be32(4) }
    /// The CRC32c as it stands: Linux stores it little-endian (sctp_end_cksum's cpu_to_le32).
    public var checksum: UInt32 { UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24 }
    /// The first chunk's type (1 INIT, 2 INIT ACK, 0 DATA, 6 ABORT...), nil when there is no chunk.
    public var firstChunkType: UInt8? { bytes.count >= 16 ? bytes[12] : nil }
    public var chunks: UnsafeRawBufferPointer { bytes.tail(from: 12) }

    /// CRC32c over the packet with the checksum field taken as zero.
    public var computedChecksum: UInt32 {
        let zero: UInt32 = 0
        var c = CRC32c.update(0xFFFF_FFFF, bytes.slice(0, 8))
        c = withUnsafeBytes(of: zero) { CRC32c.update(c, $0) }
        return ~CRC32c.update(c, bytes.tail(from: 12))
    }
}

/// A parsed SCTP common header.
public struct SCTPRepr: Hashable, Sendable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var verificationTag: UInt32
    public var firstChunkType: UInt8?
    /// Bytes of chunks after the common header.
    public var chunksLength: Int

    public init(sourcePort: UInt16, destinationPort: UInt16, verificationTag: UInt32, firstChunkType: UInt8?, chunksLength: Int) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.verificationTag = verificationTag
        self.firstChunkType = firstChunkType
        self.chunksLength = chunksLength
    }

    public static func parse(_ p: SCTPPacket, checksum: ChecksumPolicy = .verify) throws(WireError) -> SCTPRepr {
        if checksum == .verify, p.computedChecksum != p.checksum {
            throw WireError(.sctp, .badChecksum(expected: p.computedChecksum, found: p.checksum), at: 8)
        }
        return SCTPRepr(sourcePort: p.sourcePort, destinationPort: p.destinationPort, verificationTag: p.verificationTag,
                        firstChunkType: p.firstChunkType, chunksLength: p.chunks.count)
    }

    public var bufferLength: Int { 12 }

    /// Writes the common header into `b`, whose chunks are already in place after it, and the CRC32c.
    public func emit(into b: UnsafeMutableRawBufferPointer) {
        b.put16(0, sourcePort)
        b.put16(2, destinationPort)
        b.put32(4, verificationTag)
        b.put32(8, 0)
        let c = CRC32c.checksum(UnsafeRawBufferPointer(rebasing: b[0..<(12 + chunksLength)]))
        for k in 0..<4 { b[8 + k] = UInt8(truncatingIfNeeded: c >> (8 * k)) }
    }
}
