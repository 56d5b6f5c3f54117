import Wire

/// Conntrack's hash from a tuple to its entry's slot: the kernel's nf_conntrack_hash, as flat
/// arrays with open addressing (linear probing, load at most one half, backward-shift
/// deletion). Every new connection inserts two tuples and every packet looks one up, so this
/// replaces `Dictionary<ConntrackTuple, Int>`, whose SipHash and rehashing on growth were a
/// third of a new connection's cost.
///
/// The hash mixes the tuple's integers with a per-process random seed (as the kernel seeds
/// jhash with `nf_conntrack_hash_rnd`), so a crafted capture cannot pile tuples into one chain.
/// Lookups, inserts and removals are O(1) expected; growth doubles the arrays.
struct ConntrackTupleIndex: Sendable {
    private var tuples: [ConntrackTuple] = []
    /// The slot of each tuple, or -1 for an empty position.
    private var slots: [Int32] = []
    private(set) var count = 0

    private static let seed: UInt64 = UInt64.random(in: 1...UInt64.max)

    init() {}

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
    private func position(of t: ConntrackTuple) -> (Int, found: Bool) {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: Self.hash(t)) & mask
        while true {
            if slots[i] < 0 { return (i, false) }
            if tuples[i] == t { return (i, true) }
            i = (i + 1) & mask
        }
    }

    subscript(_ t: ConntrackTuple) -> Int? {
        get {
            guard count > 0 else { return nil }
            let (i, found) = position(of: t)
            return found ? Int(slots[i]) : nil
        }
        set {
            if let v = newValue { set(t, v) } else { remove(t) }
        }
    }

    private mutating func set(_ t: ConntrackTuple, _ value: Int) {
        if (count + 1) * 2 > slots.count { grow() }
        let (i, found) = position(of: t)
        if !found {
            tuples[i] = t
            count += 1
        }
        slots[i] = Int32(value)
    }

    private mutating func remove(_ t: ConntrackTuple) {
        guard count > 0 else { return }
        var (i, found) = position(of: t)
        guard found else { return }
        let mask = slots.count - 1
        slots[i] = -1
        count -= 1
        // Backward shift: move later members of the run into the hole when their home
        // position does not lie strictly between the hole and them.
        var j = i
        while true {
            j = (j + 1) & mask
            if slots[j] < 0 { return }
            let home = Int(truncatingIfNeeded: Self.hash(tuples[j])) & mask
            let between = i <= j ? (home > i && home <= j) : (home > i || home <= j)
            if between { continue }
            tuples[i] = tuples[j]
            slots[i] = slots[j]
            slots[j] = -1
            i = j
        }
    }

    private mutating func grow() {
        let oldTuples = tuples, oldSlots = slots
        let capacity = max(16, slots.count * 2)
        let filler = oldTuples.first ?? ConntrackTuple(source: .v4(IPv4Address(0)), sourcePort: 0, destination: .v4(IPv4Address(0)), destinationPort: 0, proto: .tcp)
        tuples = Array(repeating: filler, count: capacity)
        slots = Array(repeating: -1, count: capacity)
        let mask = capacity - 1
        for k in oldSlots.indices where oldSlots[k] >= 0 {
            var i = Int(truncatingIfNeeded: Self.hash(oldTuples[k])) & mask
            while slots[i] >= 0 { i = (i + 1) & mask }
            tuples[i] = oldTuples[k]
            slots[i] = oldSlots[k]
        }
    }
}

extension ConntrackTupleIndex: Hashable {
    /// Two indexes are equal when they map the same tuples to the same slots, whatever order
    /// they were built in.
    static func == (a: Self, b: Self) -> Bool {
        guard a.count == b.count else { return false }
        for k in a.slots.indices where a.slots[k] >= 0 && b[a.tuples[k]] != Int(a.slots[k]) { return false }
        return true
    }

    func hash(into h: inout Hasher) { h.combine(count) }
}
