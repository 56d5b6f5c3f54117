import Wire

/// Conntrack's hash from a tuple to its entry's slot: the kernel's nf_conntrack_hash, as flat
/// arrays with open addressing (linear probing, load at most one half, backward-shift
/// deletion). Each position's 8-byte word holds the slot and 32 bits of the tuple's hash, so a
/// probe reads the tuple itself only when those bits agree: a miss, which is what every new
/// connection's lookups are, costs one cache line. Every new connection inserts two tuples and every packet looks one up, so this
/// replaces `Dictionary<ConntrackTuple, Int>`, whose SipHash and rehashing on growth were a
/// third of a new connection's cost.
///
/// The hash mixes the tuple's integers with a per-process random seed (as the kernel seeds
/// jhash with `nf_conntrack_hash_rnd`), so a crafted capture cannot pile tuples into one chain.
/// Lookups, inserts and removals are O(1) expected; growth doubles the arrays. Replay keys its
/// tracked flows by 5-tuple with it too (values up to 2^32 - 2).
public struct ConntrackTupleIndex: Sendable {
    private var tuples: [ConntrackTuple] = []
    /// Per position: the hash's high 32 bits << 32 | (slot + 1); 0 for an empty position.
    private var words: [UInt64] = []
    public private(set) var count = 0

    private static let seed: UInt64 = UInt64.random(in: 1...UInt64.max)

    public init() {}

    @inline(__always)
    private static func fold(_ a: IPAddress) -> UInt64 {
        switch a {
        case .v4(let v): UInt64(v.value)
        case .v6(let v): UInt64(truncatingIfNeeded: v.value) ^ UInt64(truncatingIfNeeded: v.value >> 64) &* 0x9E37_79B9_7F4A_7C15
        }
    }

    @inline(__always)
    private static func hash(_ t: ConntrackTuple) -> UInt64 {
        var h = seed ^ (UInt64(t.sourcePort) << 40 | UInt64(t.destinationPort) << 24 | UInt64(t.proto.rawValue))
        h = (h ^ fold(t.source)) &* 0xFF51_AFD7_ED55_8CCD
        h = (h ^ (h >> 29) ^ fold(t.destination)) &* 0xC4CE_B9FE_1A85_EC53
        return h ^ (h >> 32)
    }

    @inline(__always)
    private static func word(_ h: UInt64, slot: Int) -> UInt64 { h & 0xFFFF_FFFF_0000_0000 | UInt64(UInt32(slot + 1)) }

    @inline(__always)
    private static func slot(_ w: UInt64) -> Int { Int(UInt32(truncatingIfNeeded: w)) - 1 }

    @inline(__always)
    private func position(of t: ConntrackTuple) -> (Int, found: Bool, hash: UInt64) {
        let h = Self.hash(t)
        let mask = words.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let w = words[i]
            if w == 0 { return (i, false, h) }
            if w >> 32 == h >> 32 && tuples[i] == t { return (i, true, h) }
            i = (i + 1) & mask
        }
    }

    public subscript(_ t: ConntrackTuple) -> Int? {
        get {
            guard count > 0 else { return nil }
            let (i, found, _) = position(of: t)
            return found ? Self.slot(words[i]) : nil
        }
        set {
            if let v = newValue { set(t, v) } else { remove(t) }
        }
    }

    private mutating func set(_ t: ConntrackTuple, _ value: Int) {
        if (count + 1) * 2 > words.count { grow() }
        let (i, found, h) = position(of: t)
        if !found {
            tuples[i] = t
            count += 1
        }
        words[i] = Self.word(h, slot: value)
    }

    private mutating func remove(_ t: ConntrackTuple) {
        guard count > 0 else { return }
        var (i, found, _) = position(of: t)
        guard found else { return }
        let mask = words.count - 1
        words[i] = 0
        count -= 1
        // Backward shift: move later members of the run into the hole when their home
        // position does not lie strictly between the hole and them.
        var j = i
        while true {
            j = (j + 1) & mask
            if words[j] == 0 { return }
            let home = Int(truncatingIfNeeded: Self.hash(tuples[j])) & mask
            let between = i <= j ? (home > i && home <= j) : (home > i || home <= j)
            if between { continue }
            tuples[i] = tuples[j]
            words[i] = words[j]
            words[j] = 0
            i = j
        }
    }

    private mutating func grow() {
        let oldTuples = tuples, oldWords = words
        let capacity = max(16, words.count * 2)
        let filler = oldTuples.first ?? ConntrackTuple(source: .v4(IPv4Address(0)), sourcePort: 0, destination: .v4(IPv4Address(0)), destinationPort: 0, proto: .tcp)
        tuples = Array(repeating: filler, count: capacity)
        words = Array(repeating: 0, count: capacity)
        let mask = capacity - 1
        for k in oldWords.indices where oldWords[k] != 0 {
            var i = Int(truncatingIfNeeded: Self.hash(oldTuples[k])) & mask
            while words[i] != 0 { i = (i + 1) & mask }
            tuples[i] = oldTuples[k]
            words[i] = oldWords[k]
        }
    }
}

extension ConntrackTupleIndex: Hashable {
    /// Two indexes are equal when they map the same tuples to the same slots, whatever order
    /// they were built in.
    public static func == (a: Self, b: Self) -> Bool {
        guard a.count == b.count else { return false }
        for k in a.words.indices where a.words[k] != 0 && b[a.tuples[k]] != slot(a.words[k]) { return false }
        return true
    }

    public func hash(into h: inout Hasher) { h.combine(count) }
}
