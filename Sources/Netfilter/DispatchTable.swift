/// A read-only hash map from a 64-bit key to a sorted list of rule indices, in three flat
/// arrays: open addressing with linear probing over a power-of-two slot array, and every key's
/// list contiguous in one shared index array. A lookup hashes with one multiply, probes one or
/// two 16-byte slots and binary-searches a short list, with no allocation and no reference
/// counting, which is what Swift's `Dictionary<UInt64, [Int32]>` cost per packet (SipHash, a
/// bucket probe, then the value array's own buffer).
struct DispatchTable: Sendable {
    private struct Slot: Sendable {
        /// 0 marks an empty slot; keys are never 0 (they always carry a protocol with ports).
        var key: UInt64 = 0
        var start: Int32 = 0
        var count: Int32 = 0
    }

    private var slots: [Slot]
    private var indices: [Int32] = []
    private var shift: UInt64

    /// Builds the table from keyed lists (each list in increasing order).
    init(_ lists: [UInt64: [Int32]]) {
        var capacity = 8
        while capacity < lists.count * 2 { capacity <<= 1 }
        slots = Array(repeating: Slot(), count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        // Sorted keys make the table the same from run to run.
        for key in lists.keys.sorted() {
            precondition(key != 0, "dispatch keys carry a protocol")
            let list = lists[key]!
            var i = slot(for: key)
            while slots[i].key != 0 { i = (i + 1) & (capacity - 1) }
            slots[i] = Slot(key: key, start: Int32(indices.count), count: Int32(list.count))
            indices += list
        }
    }

    @inline(__always)
    private func slot(for key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// The first rule index at or after `from` filed under `key`, or nil.
    @inline(__always)
    func first(_ key: UInt64, atLeast from: Int) -> Int? {
        let mask = slots.count - 1
        var i = slot(for: key)
        while true {
            let s = slots[i]
            if s.key == key {
                var lo = Int(s.start), hi = lo + Int(s.count)
                let end = hi
                let f = Int32(truncatingIfNeeded: from)
                while lo < hi {
                    let mid = (lo + hi) >> 1
                    if indices[mid] < f { lo = mid + 1 } else { hi = mid }
                }
                return lo < end ? Int(indices[lo]) : nil
            }
            if s.key == 0 { return nil }
            i = (i + 1) & mask
        }
    }
}
