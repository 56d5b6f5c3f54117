/// An IPv4 packet over bytes (RFC 791), with options and fragment fields.
public struct IPv4Packet {
    public let bytes: UnsafeRawBufferPointer

    /// Checks version, header length and total length against the bytes there are. Bytes after
    /// the total length (Ethernet padding) are not part of the packet.
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 20 else { throw WireError(.ipv4, .truncated(needed: 20, available: bytes.count), at: 0) }
        guard bytes[0] >> 4 == 4 else { throw WireError(.ipv4, .badVersion(bytes[0] >> 4), at: 0) }
        let ihl = Int(bytes[0] & 0xF) * 4
        guard ihl >= 20 else { throw WireError(.ipv4, .badHeaderLength(ihl), at: 0) }
        guard bytes.count >= ihl else { throw WireError(.ipv4, .truncated(needed: ihl, available: bytes.count), at: 0) }
        let total = Int(bytes.be16(2))
        guard total >= ihl else { throw WireError(.ipv4, .badLength(total), at: 2) }
        guard bytes.count >= total else { throw WireError(.ipv4, .truncated(needed: total, available: bytes.count), at: 2) }
        self.bytes = bytes.slice(0, total)
    }

    public var headerLength: Int { Int(bytes[0] & 0xF) * 4 }
    public var tos: UInt8 { bytes[1] }
    public var totalLength: Int { Int(bytes.be16(2)) }
    public var identification: UInt16 { bytes.be16(4) }
    public var dontFragment: Bool { bytes[6] & 0x40 != 0 }
    public var moreFragments: Bool { bytes[6] & 0x20 != 0 }
    /// The fragment offset in bytes (the field counts 8-byte units).
    public var fragmentOffset: Int { Int(bytes.be16(6) & 0x1FFF) * 8 }
    /// True for every fragment but an unfragmented packet: ports are only in the first.
    public var isFragment: Bool { moreFragments || fragmentOffset != 0 }
    public var ttl: UInt8 { bytes[8] }
    public var proto: IPProtocol { IPProtocol(rawValue: bytes[9]) }
    public var checksum: UInt16 { bytes.be16(10) }
    public var source: IPv4Address { bytes.ipv4(12) }
    public var destination: IPv4Address { bytes.ipv4(16) }
    public var options: UnsafeRawBufferPointer { bytes.slice(20, headerLength - 20) }
    public var payload: UnsafeRawBufferPointer { bytes.tail(from: headerLength) }

    /// The header checksum the header should carry (computed with the field taken as zero).
    public var computedChecksum: UInt16 {
        let h = bytes.slice(0, headerLength)
        return InternetChecksum.finish(InternetChecksum.sum(h.slice(0, 10), initial: InternetChecksum.sum(h.tail(from: 12))))
    }

    /// True when the header sums to zero, as the kernel's ip_fast_csum checks.
    public var checksumIsValid: Bool { InternetChecksum.checksum(bytes.slice(0, headerLength)) == 0 }
}

/// A parsed IPv4 header. `options` is empty (no allocation) for the usual 20-byte header.
public struct IPv4Repr: Hashable, Sendable {
    public var source: IPv4Address
    public var destination: IPv4Address
    public var proto: IPProtocol
    public var payloadLength: Int
    public var ttl: UInt8
    public var tos: UInt8
    public var identification: UInt16
    public var dontFragment: Bool
    public var moreFragments: Bool
    /// In bytes; a multiple of 8.
    public var fragmentOffset: Int
    /// Option bytes as they stand, padded to a multiple of 4 by the sender.
    public var options: [UInt8]

    public init(source: IPv4Address, destination: IPv4Address, proto: IPProtocol, payloadLength: Int, ttl: UInt8 = 64,
                tos: UInt8 = 0, identification: UInt16 = 0, dontFragment: Bool = false, moreFragments: Bool = false,
                fragmentOffset: Int = 0, options: [UInt8] = []) {
        self.source = source
        self.destination = destination
        self.proto = proto
        self.payloadLength = payloadLength
        self.ttl = ttl
        self.tos = tos
        self.identification = identification
        self.dontFragment = dontFragment
        self.moreFragments = moreFragments
        self.fragmentOffset = fragmentOffset
        self.options = options
    }

    public static func parse(_ p: IPv4Packet, checksum: ChecksumPolicy = .verify) throws(WireError) -> IPv4Repr {
        if checksum == .verify, !p.checksumIsValid {
            throw WireError(.ipv4, .badChecksum(expected: UInt32(p.computedChecksum), found: UInt32(p.checksum)), at: 10)
        }
        return IPv4Repr(source: p.source, destination: p.destination, proto: p.proto,
                        payloadLength: p.totalLength - p.headerLength, ttl: p.ttl, tos: p.tos,
                        identification: p.identification, dontFragment: p.dontFragment,
                        moreFragments: p.moreFragments, fragmentOffset: p.fragmentOffset,
                        options: p.headerLength > 20 ? Array(p.options) : [])
    }

    public var bufferLength: Int { 20 + (options.count + 3) / 4 * 4 }

    /// Writes the header (`bufferLength` bytes) with its checksum at the start of `buffer`.
    public func emit(into b: UnsafeMutableRawBufferPointer) {
        let hl = bufferLength
        b[0] = 0x40 | UInt8(hl / 4)
        b[1] = tos
        b.put16(2, UInt16(truncatingIfNeeded: hl + payloadLength))
        b.put16(4, identification)
        b.put16(6, (dontFragment ? 0x4000 : 0) | (moreFragments ? 0x2000 : 0) | UInt16(truncatingIfNeeded: fragmentOffset / 8) & 0x1FFF)
        b[8] = ttl
        b[9] = proto.rawValue
        b.put16(10, 0)
        b.put(12, source)
        b.put(16, destination)
        for i in 20..<hl { b[i] = 0 }
        b.copy(20, options)
        b.put16(10, InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: b[0..<hl])))
    }
}
