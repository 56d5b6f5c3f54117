/// A set's or map's exact keys to their element numbers: one flat array of slots with open
/// addressing (linear probing, load at most one half), built once when the ruleset is prepared
/// and only read per packet. It stands where the kernel's nft_set_hash (`nft_rhash`) stands for
/// kube-proxy's verdict maps: `service-ips[daddr . l4proto . dport]` is one of these per
/// packet, so it replaces `Dictionary<NFTKey, Int32>`, whose SipHash over 32 bytes cost several
/// times a bare probe.
///
/// A slot holds an 8-byte word (32 bits of the key's hash and the element number) and an
/// 8-byte value beside its 32-byte key, so a lookup that hits reads one slot (one cache line,
/// two at most) and a miss usually stops at the word. The value is a verdict map's verdict
/// (`NFTVerdict.packed`): it sits in what was the key's alignment padding, so a `vmap` hit
/// reads no element. Beside the slots, one tag byte per slot (occupied, and 7 more bits of the
/// hash) is looked at first: a miss, such as `cluster-ips` probed with an endpoint's address on
/// every new connection, reads only the tags (1/48 of the slots' bytes, so they stay in cache
/// at 30,000 keys) and stops at an empty one. The hash is a multiply-xorshift of the key's four 64-bit words
/// with a per-process seed, so crafted keys cannot pile into one run. Lookup O(1) expected;
/// building O(n).
struct NFTKeyIndex: Sendable {
    struct Slot: Sendable {
        /// hash's high 32 bits << 32 | (element + 1); 0 for an empty slot.
        var word: UInt64 = 0
        /// What `insertIfAbsent` stored with the key (a packed verdict; 0: none).
        var value: UInt64 = 0
        var key = NFTKey()
    }

    private var slots: [Slot] = []
    /// Per slot: 0 when empty, else `tag(hash)`.
    private var tags: [UInt8] = []
    private(set) var count = 0

    private static let seed: UInt64 = UInt64.random(in: 1...UInt64.max)

    init() {}

    /// An index over `capacity` keys, sized so it never grows while being filled.
    init(capacity: Int) {
        guard capacity > 0 else { return }
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: Slot(), count: size)
        tags = Array(repeating: 0, count: size)
    }

    /// The occupied bit and the hash's top 7 bits (the slot number uses the low bits, the word
    /// bits 32–63).
    @inline(__always)
    private static func tag(_ h: UInt64) -> UInt8 { 0x80 | UInt8(truncatingIfNeeded: h >> 57) }

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
    subscript(_ key: NFTKey) -> Int32? { entry(key)?.element }

    /// The element stored for `key` and the value stored with it, or nil.
    @inline(__always)
    func entry(_ key: NFTKey) -> (element: Int32, value: UInt64)? {
        guard count > 0 else { return nil }
        let h = Self.hash(key)
        let want = Self.tag(h)
        return tags.withUnsafeBufferPointer { t in
            slots.withUnsafeBufferPointer { s in
                let mask = s.count - 1
                var i = Int(truncatingIfNeeded: h) & mask
                while true {
                    let tag = t[i]
                    if tag == 0 { return nil }
                    if tag == want {
                        let word = s[i].word
                        if word >> 32 == h >> 32 && s[i].key == key { return (Int32(truncatingIfNeeded: UInt32(truncatingIfNeeded: word)) - 1, s[i].value) }
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }

    /// Adds `key` → `element` unless `key` is there already (the first element written wins,
    /// as nft refuses a duplicate element).
    mutating func insertIfAbsent(_ key: NFTKey, _ element: Int32, value: UInt64 = 0) {
        if (count + 1) * 2 > slots.count { grow() }
        let h = Self.hash(key)
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i].word != 0 {
            if slots[i].word >> 32 == h >> 32 && slots[i].key == key { return }
            i = (i + 1) & mask
        }
        slots[i] = Slot(word: h & 0xFFFF_FFFF_0000_0000 | UInt64(UInt32(element + 1)), value: value, key: key)
        tags[i] = Self.tag(h)
        count += 1
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(), count: max(16, old.count * 2))
        tags = Array(repeating: 0, count: slots.count)
        let mask = slots.count - 1
        for slot in old where slot.word != 0 {
            let h = Self.hash(slot.key)
            var i = Int(truncatingIfNeeded: h) & mask
            while slots[i].word != 0 { i = (i + 1) & mask }
            slots[i] = slot
            tags[i] = Self.tag(h)
        }
    }
}
