import Wire

/// Which multiplicative hash the sh and dh schedulers use. Kernels up to v4.4 computed
/// `(x * 2654435761) & mask`; from somewhere before v4.19 they call `hash_32(x, bits)`, which keeps
/// the *top* bits of the product (reference §0, §3.7). The bucket a client lands in differs, so the
/// emulated kernel must say which it is.
public enum HashVariant: String, Sendable, CaseIterable {
    case hash32
    case legacy
}

/// The integer hashes IPVS schedulers use, bit for bit.
public enum KernelHash {
    /// `hash_32(val, bits)` from include/linux/hash.h (`__hash_32_generic`): multiply by
    /// GOLDEN_RATIO_32 modulo 2^32 and keep the top `bits` bits.
    @inlinable
    public static func hash32(_ value: UInt32, bits: UInt32) -> UInt32 {
        (value &* 0x61C8_8647) >> (32 &- bits)
    }

    /// The pre-hash_32 form `x * 2654435761` (the caller masks the low bits).
    @inlinable
    public static func legacy(_ value: UInt32) -> UInt32 {
        value &* 2_654_435_761
    }

    /// The 32-bit number IPVS hashes for an address: `ntohl(addr)` for IPv4, and for IPv6 the XOR
    /// of the four 32-bit words (byte swapping commutes with XOR, reference §4 step 7).
    @inlinable
    public static func fold(_ address: IPAddress) -> UInt32 {
        switch address {
        case .v4(let a): return a.value
        case .v6(let a): return fold(v6: a.value)
        }
    }

    @inlinable
    public static func fold(v6 bits: UInt128) -> UInt32 {
        UInt32(truncatingIfNeeded: bits >> 96) ^ UInt32(truncatingIfNeeded: bits >> 64)
            ^ UInt32(truncatingIfNeeded: bits >> 32) ^ UInt32(truncatingIfNeeded: bits)
    }

    /// A 64-bit `hsiphash_key_t` (two `unsigned long` words).
    public typealias SipKey = (UInt64, UInt64)

    /// `hsiphash(&v, 4, key)` on a 64-bit little-endian kernel: SipHash-1-3 over the four bytes
    /// of `v`, result truncated to 32 bits (lib/siphash.c, HPREAMBLE/HPOSTAMBLE with a 4-byte
    /// tail). The mh scheduler hashes one `unsigned int` this way (ip_vs_mh_hashkey).
    @inlinable
    public static func hsiphash(_ v: UInt32, key: SipKey) -> UInt32 {
        var s = SipState(key: key)
        let b = (UInt64(4) << 56) | UInt64(v)
        return s.finish(b)
    }

    /// `hsiphash(data, len, key)` for any byte string, 64-bit build. Used to check the
    /// implementation against the kernel's own test vectors (lib/tests/siphash_kunit.c).
    public static func hsiphash(bytes: [UInt8], key: SipKey) -> UInt32 {
        var s = SipState(key: key)
        let full = bytes.count / 8 * 8
        var i = 0
        while i < full {
            var m: UInt64 = 0
            for j in 0..<8 { m |= UInt64(bytes[i + j]) << (8 * UInt64(j)) }
            s.v3 ^= m
            s.round()
            s.v0 ^= m
            i += 8
        }
        var b = UInt64(bytes.count) << 56
        for j in 0..<(bytes.count - full) { b |= UInt64(bytes[full + j]) << (8 * UInt64(j)) }
        return s.finish(b)
    }

    public struct SipState {
        public var v0: UInt64, v1: UInt64, v2: UInt64, v3: UInt64

        @inlinable
        public init(key: SipKey) {
            v0 = 0x736f_6d65_7073_6575 ^ key.0
            v1 = 0x646f_7261_6e64_6f6d ^ key.1
            v2 = 0x6c79_6765_6e65_7261 ^ key.0
            v3 = 0x7465_6462_7974_6573 ^ key.1
        }

        @inlinable
        public mutating func round() {
            v0 &+= v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
            v2 &+= v3; v3 = rotl(v3, 16); v3 ^= v2
            v0 &+= v3; v3 = rotl(v3, 21); v3 ^= v0
            v2 &+= v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
        }

        /// HPOSTAMBLE: one round on the last block, then three finalisation rounds.
        @inlinable
        public mutating func finish(_ b: UInt64) -> UInt32 {
            v3 ^= b
            round()
            v0 ^= b
            v2 ^= 0xff
            round(); round(); round()
            return UInt32(truncatingIfNeeded: (v0 ^ v1) ^ (v2 ^ v3))
        }

        @inlinable
        func rotl(_ x: UInt64, _ n: UInt64) -> UInt64 { (x << n) | (x >> (64 - n)) }
    }
}
