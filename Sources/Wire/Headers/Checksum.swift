/// The Internet checksum (RFC 1071), its pseudo-headers, the incremental update (RFC 1624)
/// NAT rewrites use, and CRC32c (SCTP, RFC 3309).
public enum InternetChecksum {
    /// Ones'-complement sum of `bytes` as big-endian 16-bit words, added to `initial`,
    /// not yet folded. A 64-bit accumulator cannot overflow for any packet size.
    public static func sum(_ bytes: UnsafeRawBufferPointer, initial: UInt64 = 0) -> UInt64 {
        var s = initial
        var i = 0
        let n = bytes.count
        while i + 1 < n { s &+= UInt64(bytes[i]) << 8 | UInt64(bytes[i + 1]); i += 2 }
        if i < n { s &+= UInt64(bytes[i]) << 8 }
        return s
    }

    /// Folds a sum to 16 bits and complements it: the value a header carries.
    public static func finish(_ sum: UInt64) -> UInt16 {
        var s = sum
        while s >> 16 != 0 { s = (s & 0xFFFF) + (s >> 16) }
        return ~UInt16(s)
    }

    /// The checksum of `bytes` alone (the IPv4 header, ICMPv4).
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt16 { finish(sum(bytes)) }

    /// The pseudo-header sum (RFC 793 for IPv4, RFC 8200 §8.1 for IPv6) for an upper-layer
    /// packet of `length` bytes.
    public static func pseudoHeader(source: IPAddress, destination: IPAddress, proto: IPProtocol, length: Int) -> UInt64 {
        UInt64(proto.rawValue) + UInt64(length & 0xFFFF) + UInt64(length >> 16) + addressSum(source) + addressSum(destination)
    }

    @inline(__always) static func addressSum(_ a: IPAddress) -> UInt64 {
        switch a {
        case .v4(let v): return UInt64(v.value >> 16) + UInt64(v.value & 0xFFFF)
        case .v6(let v):
            var s: UInt64 = 0
            for k in 0..<8 { s += UInt64(UInt16(truncatingIfNeeded: v.value >> (16 * k))) }
            return s
        }
    }

    /// RFC 1624 eqn. 3: the checksum after one 16-bit word of the covered data changes from
    /// `old` to `new`, HC' = ~(~HC + ~m + m'), without summing the packet again.
    public static func update(_ checksum: UInt16, old: UInt16, new: UInt16) -> UInt16 {
        var s = UInt32(~checksum) + UInt32(~old) + UInt32(new)
        while s >> 16 != 0 { s = (s & 0xFFFF) + (s >> 16) }
        return ~UInt16(s)
    }

    /// The checksum after a 32-bit word (an IPv4 address) changes.
    public static func update(_ checksum: UInt16, old: UInt32, new: UInt32) -> UInt16 {
        update(update(checksum, old: UInt16(old >> 16), new: UInt16(new >> 16)),
               old: UInt16(truncatingIfNeeded: old), new: UInt16(truncatingIfNeeded: new))
    }

    /// The checksum after an address changes (both address words of a pseudo-header or header).
    public static func update(_ checksum: UInt16, old: IPAddress, new: IPAddress) -> UInt16 {
        var c = checksum
        for k in 0..<8 {
            c = update(c, old: UInt16(truncatingIfNeeded: old.bits >> (16 * k)), new: UInt16(truncatingIfNeeded: new.bits >> (16 * k)))
        }
        return c
    }
}

/// CRC32c (Castagnoli), as SCTP carries it (RFC 9260 Appendix A; Linux sctp_compute_cksum).
public enum CRC32c {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// Continues a running CRC (start with 0xFFFFFFFF, complement at the end).
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c = crc
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 { ~update(0xFFFF_FFFF, bytes) }
}
