/// A set's or map's exact keys to their element numbers: flat arrays with open addressing
/// (linear probing, load at most one half), built once when the ruleset is prepared and only
/// read per packet. It stands where the kernel's nft_set_hash (`nft_rhash`) stands for
/// kube-proxy's verdict maps: `service-ips[daddr . l4proto . dport]` is one of these per
/// packet, so it replaces `Dictionary<NFTKey, Int32>`, whose SipHash over 32 bytes cost several
/// times a bare probe.
///
/// Each position's 8-byte word holds 32 bits of the key's hash and the element number, so a
/// probe compares the 32-byte key only when those bits agree: a miss (a packet to no Service)
/// usually costs the one word. The hash is a multiply-xorshift of the key's four 64-bit words
/// with a per-process seed, so crafted keys cannot pile into one run. Lookup O(1) expected;
/// building O(n).
struct NFTKeyIndex: Sendable {
    private var keys: [NFTKey] = []
    /// Per position: hash's high 32 bits << 32 | (element + 1); 0 for an empty position.
    private var words: [UInt64] = []
    private(set) var count = 0

    private static let seed: UInt64 = UInt64.random(in: 1...UInt64.max)

    init() {}

    /// An index over `capacity` keys, sized so it never grows while being filled.
    init(capacity: Int) {
        guard capacity > 0 else { return }
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = Array(repeating: NFTKey(), count: size)
        words = Array(repeating: 0, count: size)
    }

    @inline(__always)
    private static func hash(_ k: NFTKey) -> UInt64 {
        var h = seed ^ UInt64(truncatingIfNeeded: k.low)
        h = (h ^ (h >> 31) ^ UInt64(truncatingIfNeeded: k.low >> 64)) &* 0xFF51_AFD7_ED55_8CCD
        h = (h ^ (h >> 29) ^ UInt64(truncatingIfNeeded: k.high)) &* 0xC4CE_B9FE_1A85_EC53
        h = (h ^ (h >> 32) ^ UInt64(truncatingIfNeeded: k.high >> 64)) &* 0x9E37_79B9_7F4A_7C15
        return h ^ (h >> 29)
    }

    /// The element stored for `key`, or nil.
    @inline(__always)
    subscript(_ key: NFTKey) -> Int32? {
        guard count > 0 else { return nil }
        let h = Self.hash(key)
        let mask = words.count - 1
        return words.withUnsafeBufferPointer { w in
            keys.withUnsafeBufferPointer { k in
                var i = Int(truncatingIfNeeded: h) & mask
                while true {
                    let word = w[i]
                    if word == 0 { return nil }
                    if word >> 32 == h >> 32 && k[i] == key { return Int32(truncatingIfNeeded: UInt32(truncatingIfNeeded: word)) - 1 }
                    i = (i + 1) & mask
                }
            }
        }
    }

    /// Adds `key` → `element` unless `key` is there already (the first element written wins,
    /// as nft refuses a duplicate element).
    mutating func insertIfAbsent(_ key: NFTKey, _ element: Int32) {
        if (count + 1) * 2 > words.count { grow() }
        let h = Self.hash(key)
        let mask = words.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while words[i] != 0 {
            if words[i] >> 32 == h >> 32 && keys[i] == key { return }
            i = (i + 1) & mask
        }
        keys[i] = key
        words[i] = h & 0xFFFF_FFFF_0000_0000 | UInt64(UInt32(element + 1))
        count += 1
    }

    private mutating func grow() {
        let oldKeys = keys, oldWords = words
        let size = max(16, words.count * 2)
        keys = Array(repeating: NFTKey(), count: size)
        words = Array(repeating: 0, count: size)
        let mask = size - 1
        for j in oldWords.indices where oldWords[j] != 0 {
            var i = Int(truncatingIfNeeded: Self.hash(oldKeys[j])) & mask
            while words[i] != 0 { i = (i + 1) & mask }
            keys[i] = oldKeys[j]
            words[i] = oldWords[j]
        }
    }
}
