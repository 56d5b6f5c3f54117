/// The Internet checksum (RFC 1071), its pseudo-headers, the incremental update (RFC 1624)
/// NAT rewrites use, and CRC32c (SCTP, RFC 3309).
public enum InternetChecksum {
    /// Ones'-complement sum of `bytes` as big-endian 16-bit words, added to `initial`,
    /// not yet folded. A 64-bit accumulator cannot overflow for any packet size.
    ///
    /// - Complexity: O(n), sixty-four bytes per step: the ones'-complement sum does not depend on
    ///   byte order or word size (RFC 1071 §2(B) and (C)), so it adds native unaligned 64-bit
    ///   words with end-around carry (an add and an add-with-carry each) and swaps the folded
    ///   result once. Replay verifies every packet's checksum with it.
    public static func sum(_ bytes: UnsafeRawBufferPointer, initial: UInt64 = 0) -> UInt64 {
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return initial }
        var i = 0
        // Two ones'-complement accumulators, so that one step's adds do not wait on each other.
        // After a carry out, the sum is at most 2^64 - 2, so adding the carry back cannot carry.
        var s0: UInt64 = 0, s1: UInt64 = 0
        @inline(__always) func add(_ acc: inout UInt64, _ w: UInt64) {
            let (r, carry) = acc.addingReportingOverflow(w)
            acc = r &+ (carry ? 1 : 0)
        }
        while i + 64 <= n {
            add(&s0, base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            add(&s1, base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
            add(&s0, base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self))
            add(&s1, base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self))
            add(&s0, base.loadUnaligned(fromByteOffset: i + 32, as: UInt64.self))
            add(&s1, base.loadUnaligned(fromByteOffset: i + 40, as: UInt64.self))
            add(&s0, base.loadUnaligned(fromByteOffset: i + 48, as: UInt64.self))
            add(&s1, base.loadUnaligned(fromByteOffset: i + 56, as: UInt64.self))
            i += 64
        }
        if i + 32 <= n {
            add(&s0, base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            add(&s1, base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
            add(&s0, base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self))
            add(&s1, base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self))
            i += 32
        }
        while i + 8 <= n {
            add(&s0, base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        // A 4-byte tail in one add (an IPv4 header's last word, a TCP header's options).
        if i + 4 <= n {
            add(&s1, UInt64(base.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
            i += 4
        }
        add(&s0, s1)
        // Folded to 33 bits: the 16-bit and byte adds below cannot carry out of 64.
        var s = (s0 & 0xFFFF_FFFF) &+ (s0 >> 32)
        while i + 2 <= n {
            s &+= UInt64(base.loadUnaligned(fromByteOffset: i, as: UInt16.self))
            i += 2
        }
        // An odd last byte is the high byte of a big-endian word: the low byte of a native one
        // on a little-endian machine, the high byte on a big-endian one.
        if i < n {
            let b = UInt64(base.load(fromByteOffset: i, as: UInt8.self))
            s &+= UInt16(littleEndian: 1) == 1 ? b : b << 8
        }
        while s >> 16 != 0 { s = (s & 0xFFFF) &+ (s >> 16) }
        // Folded to 16 bits in native order; big-endian words give the byte-swapped value.
        return initial &+ UInt64(UInt16(truncatingIfNeeded: s).bigEndian)
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
