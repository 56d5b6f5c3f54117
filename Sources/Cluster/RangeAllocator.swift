import Wire

/// The API server's bitmap allocator for Service ClusterIPs and NodePorts
/// (pkg/registry/core/service/allocator, `randomScanStrategyWithOffset`). The range is split at
/// an offset: dynamic allocations pick a random start in the upper part and scan forward; only
/// when that part is full do they fall back to the lower part, which is left for values users
/// choose (KEP-3070 for ClusterIPs, KEP-3668 for NodePorts). Randomness comes from the
/// cluster's seed, so the same input always gives the same addresses.
struct RangeAllocator {
    let size: Int
    let offset: Int
    private var used: Set<Int> = []

    init(size: Int, offset: Int) {
        self.size = max(0, size)
        self.offset = min(offset, max(0, size))
    }

    /// `min(max(minimum, size/step), maximum)`, or 0 for small ranges (`calculateRangeOffset`).
    static func rangeOffset(size: Int, minimum: Int, maximum: Int, step: Int) -> Int {
        if size <= minimum { return 0 }
        return min(max(minimum, size / step), maximum)
    }

    func isUsed(_ index: Int) -> Bool { used.contains(index) }

    mutating func take(_ index: Int) { used.insert(index) }

    mutating func allocateNext(using rng: inout SeededGenerator) -> Int? {
        guard used.count < size else { return nil }
        let upper = size - offset
        if upper > 0 {
            let start = Int.random(in: 0..<upper, using: &rng)
            for i in 0..<upper {
                let at = offset + (start + i) % upper
                if !used.contains(at) { used.insert(at); return at }
            }
        }
        if offset > 0 {
            let start = Int.random(in: 0..<offset, using: &rng)
            for i in 0..<offset {
                let at = (start + i) % offset
                if !used.contains(at) { used.insert(at); return at }
            }
        }
        return nil
    }
}
