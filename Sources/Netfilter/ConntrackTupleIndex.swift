import Wire

/// Conntrack's hash from a tuple to its entry's slot: the kernel's nf_conntrack_hash, as flat
/// arrays with open addressing (linear probing, load at most one half, backward-shift
/// deletion). Each position's 8-byte word holds 32 bits of the tuple's hash and where its
/// member lives, so a probe reads a tuple only when those bits agree: a miss, which is what
/// every new connection's lookups are, costs one cache line. Every new connection inserts two
/// tuples and every packet looks one up, so this replaces `Dictionary<ConntrackTuple, Int>`,
/// whose SipHash and rehashing on growth were a third of a new connection's cost.
///
/// The members (tuple and value) are dense, in their own array, not spread over the hash
/// positions: an insert writes one random word and appends, and growth rehashes only the
/// 8-byte words, reading the members in order, instead of moving every tuple to a new array
/// twice the size (with many flows, that move and the fresh pages it touched were a tenth of
/// replay's new-flow time). A removal moves the last member into the hole.
///
/// The hash mixes the tuple's integers with a per-process random seed (as the kernel seeds
/// jhash with `nf_conntrack_hash_rnd`), so a crafted capture cannot pile tuples into one chain.
/// Lookups, inserts and removals are O(1) expected; growth doubles the words. Replay keys its
/// tracked flows by 5-tuple with it too.
public struct ConntrackTupleIndex: Sendable {
    private struct Member: Sendable {
        var tuple: ConntrackTuple
        var value: Int
    }

    private var members: [Member] = []
    /// Per position: the hash's high 32 bits << 32 | (member + 1); 0 for an empty position.
    private var words: [UInt64] = []
    public var count: Int { members.count }

    private static let processSeed: UInt64 = UInt64.random(in: 1...UInt64.max)
    /// The process's seed, held by each index: reading the lazily initialized global on every
    /// hash cost a `swift_once` check per lookup and insert.
    private let seed: UInt64

    public init() { seed = Self.processSeed }

    @inline(__always)
    private static func fold(_ a: IPAddress) -> UInt64 {
        switch a {
        case .v4(let v): UInt64(v.value)
        case .v6(let v): UInt64(truncatingIfNeeded: v.value) ^ UInt64(truncatingIfNeeded: v.value >> 64) &* 0x9E37_79B9_7F4A_7C15
        }
    }

    @inline(__always)
    private func hash(_ t: ConntrackTuple) -> UInt64 {
        var h = seed ^ (UInt64(t.sourcePort) << 40 | UInt64(t.destinationPort) << 24 | UInt64(t.proto.rawValue))
        h = (h ^ Self.fold(t.source)) &* 0xFF51_AFD7_ED55_8CCD
        h = (h ^ (h >> 29) ^ Self.fold(t.destination)) &* 0xC4CE_B9FE_1A85_EC53
        return h ^ (h >> 32)
    }

    @inline(__always)
    private static func word(_ h: UInt64, member: Int) -> UInt64 { h & 0xFFFF_FFFF_0000_0000 | UInt64(UInt32(member + 1)) }

    @inline(__always)
    private static func member(_ w: UInt64) -> Int { Int(UInt32(truncatingIfNeeded: w)) - 1 }

    /// The tuple's position: where it is, or the empty position that ends its run.
    @inline(__always)
    private func position(of t: ConntrackTuple) -> (Int, found: Bool, hash: UInt64) {
        let h = hash(t)
        let mask = words.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let w = words[i]
            if w == 0 { return (i, false, h) }
            if w >> 32 == h >> 32 && members[Self.member(w)].tuple == t { return (i, true, h) }
            i = (i + 1) & mask
        }
    }

    public subscript(_ t: ConntrackTuple) -> Int? {
        get {
            guard !members.isEmpty else { return nil }
            let (i, found, _) = position(of: t)
            return found ? members[Self.member(words[i])].value : nil
        }
        set {
            if let v = newValue { set(t, v) } else { remove(t) }
        }
    }

    /// One probe when the tuple is new and the positions have room (every new connection's
    /// two inserts); a second only after growing.
    private mutating func set(_ t: ConntrackTuple, _ value: Int) {
        if words.isEmpty { grow() }
        var (i, found, h) = position(of: t)
        if found {
            members[Self.member(words[i])].value = value
            return
        }
        if (members.count + 1) * 2 > words.count {
            grow()
            (i, _, h) = position(of: t)
        }
        words[i] = Self.word(h, member: members.count)
        members.append(Member(tuple: t, value: value))
    }

    private mutating func remove(_ t: ConntrackTuple) {
        guard !members.isEmpty else { return }
        var (i, found, _) = position(of: t)
        guard found else { return }
        let gone = Self.member(words[i])
        let mask = words.count - 1
        words[i] = 0
        // Backward shift: move later members of the run into the hole when their home
        // position does not lie strictly between the hole and them.
        var j = i
        while true {
            j = (j + 1) & mask
            if words[j] == 0 { break }
            let home = Int(truncatingIfNeeded: hash(members[Self.member(words[j])].tuple)) & mask
            let between = i <= j ? (home > i && home <= j) : (home > i || home <= j)
            if between { continue }
            words[i] = words[j]
            words[j] = 0
            i = j
        }
        // The last member fills the hole; its word is found by its own probe.
        let last = members.count - 1
        if gone != last {
            let moved = members[last]
            members[gone] = moved
            var k = Int(truncatingIfNeeded: hash(moved.tuple)) & mask
            while Self.member(words[k]) != last { k = (k + 1) & mask }
            words[k] = words[k] & 0xFFFF_FFFF_0000_0000 | UInt64(UInt32(gone + 1))
        }
        members.removeLast()
    }

    /// Twice the positions (at least 16), every member's word placed again from its hash; the
    /// members themselves stay where they are.
    private mutating func grow() {
        let capacity = max(16, words.count * 2)
        words = Array(repeating: 0, count: capacity)
        let mask = capacity - 1
        for (k, m) in members.enumerated() {
            let h = hash(m.tuple)
            var i = Int(truncatingIfNeeded: h) & mask
            while words[i] != 0 { i = (i + 1) & mask }
            words[i] = Self.word(h, member: k)
        }
    }
}

extension ConntrackTupleIndex: Hashable {
    /// Two indexes are equal when they map the same tuples to the same slots, whatever order
    /// they were built in.
    public static func == (a: Self, b: Self) -> Bool {
        guard a.count == b.count else { return false }
        for m in a.members where b[m.tuple] != m.value { return false }
        return true
    }

    public func hash(into h: inout Hasher) { h.combine(count) }
}
