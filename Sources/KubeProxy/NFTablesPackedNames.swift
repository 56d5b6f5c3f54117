import Foundation

/// Object names packed into one byte buffer, each with its span: what the dump sorts and
/// copies, per chain and per rule, without retaining the name strings themselves.
struct NFTablesPackedNames {
    private(set) var bytes = TextBuffer(capacity: 0)
    private(set) var spans: [Range<Int>] = []

    init<T>(_ items: [T], _ name: (T) -> String) {
        bytes = TextBuffer(capacity: items.count * 48)
        spans.reserveCapacity(items.count)
        for item in items {
            let start = bytes.count
            bytes.add(name(item))
            spans.append(start..<bytes.count)
        }
    }

    private struct Key {
        var high: UInt64, low: UInt64, index: Int
    }

    /// The positions of the names (those `include` takes) sorted as Go's `sort.Strings` sorts:
    /// byte by byte, a name before any longer name it begins. Each name's first 16 bytes are
    /// read once into two big-endian words (zero-padded, so a shorter name sorts first) and most
    /// comparisons are two integer compares; equal prefixes fall back to the whole names' bytes.
    /// kube-proxy's names differ within their first 16 bytes (`service-` or `endpoint-` and
    /// the hash), so the fallback is rare.
    /// Cost: O(n log n) integer compares; positions are sorted, not the objects (which would
    /// copy each chain's rules at every move).
    func sortedOrder(where include: (Int) -> Bool = { _ in true }) -> [Int] {
        bytes.withBytes { b in
            var keys: [Key] = []
            keys.reserveCapacity(spans.count)
            for (i, span) in spans.enumerated() where include(i) {
                var high: UInt64 = 0, low: UInt64 = 0
                for k in 0..<min(16, span.count) {
                    let byte = UInt64(b[span.lowerBound + k])
                    if k < 8 { high |= byte << (56 - 8 * k) } else { low |= byte << (56 - 8 * (k - 8)) }
                }
                keys.append(Key(high: high, low: low, index: i))
            }
            keys.sort { x, y in
                if x.high != y.high { return x.high < y.high }
                if x.low != y.low { return x.low < y.low }
                let s = spans[x.index], t = spans[y.index]
                let common = min(s.count, t.count)
                let c = common == 0 ? 0 : memcmp(b.baseAddress! + s.lowerBound, b.baseAddress! + t.lowerBound, common)
                return c != 0 ? c < 0 : s.count < t.count
            }
            return keys.map(\.index)
        }
    }
}
