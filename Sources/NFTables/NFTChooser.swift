import Wire

/// Values of `numgen random mod N` that lead to one outcome: an element's values (a range),
/// or every value no element holds (`ranges`). Values are before the offset is added.
public struct NFTNumgenClass: Hashable, Sendable {
    public var ranges: [ClosedRange<UInt32>]
    public var count: UInt64 { ranges.reduce(0) { $0 + UInt64($1.upperBound - $1.lowerBound) + 1 } }
    public var representative: UInt32 { ranges[0].lowerBound }
    func contains(_ v: UInt32) -> Bool { ranges.contains { $0.contains(v) } }
}

/// Random branches (`numgen random`): either every branch (`NFTChooser.enumerate`) or draws
/// from the seeded source, one path.
public struct NFTChooser: Sendable {
    var prefix: [UInt32]
    var used = 0
    var widths: [UInt32] = []
    var rng: SeededGenerator?
    public private(set) var probability = 1.0

    /// One path: each numgen draws from `seed`.
    public init(seed: UInt64) { prefix = []; rng = SeededGenerator(seed: seed) }
    /// A chosen branch for each numgen met, in order (missing ones: 0).
    public init(choices: [UInt32]) { prefix = choices }

    /// Draws `numgen random mod N offset O` for a lookup whose outcomes split the values into
    /// `classes` (each element's values, and all the others together): all-paths branches once
    /// per class, not once per value, with the class's share as its probability.
    /// Whether this chooser follows one seeded path (`choose(mod:classSize:)` applies).
    var drawsOnePath: Bool { rng != nil }

    /// The one-path draw with the class sizes read from a flat table: `classSize(v)` is how
    /// many values share `v`'s outcome. No class array is read (or retained) per packet.
    @inline(__always)
    mutating func choose(mod: UInt32, classSize: (UInt32) -> UInt32) -> UInt32 {
        var g = rng!
        let v = UInt32(g.next() % UInt64(mod))
        rng = g
        probability *= Double(classSize(v)) / Double(mod)
        return v
    }

    mutating func choose(_ classes: [NFTNumgenClass], mod: UInt32) -> UInt32 {
        if var g = rng {
            // One path: a draw, no bookkeeping (nothing allocated per packet).
            let v = UInt32(g.next() % UInt64(mod))
            rng = g
            let c = classes.firstIndex { $0.contains(v) } ?? 0
            probability *= Double(classes[c].count) / Double(mod)
            return v
        }
        defer { used += 1 }
        let width = UInt32(classes.count)
        if used < widths.count { widths[used] = width } else { widths.append(width) }
        if used >= prefix.count { prefix.append(0) }
        let c = Int(prefix[used] % width)
        probability *= Double(classes[c].count) / Double(mod)
        return classes[c].representative
    }

    /// Runs `body` once per combination of numgen branches it meets (depth first, branch 0
    /// first), each with its probability: the all-paths answer, as Netfilter's tracer gives
    /// `statistic random`'s.
    public static func enumerate<R>(_ body: (inout NFTChooser) -> R) -> [(R, Double)] {
        var out: [(R, Double)] = []
        func explore(_ prefix: [UInt32]) {
            var ch = NFTChooser(choices: prefix)
            let r = body(&ch)
            if ch.widths.count > prefix.count {
                for v in 0..<ch.widths[prefix.count] {
                    if v == 0 && ch.widths.count == prefix.count + 1 { out.append((r, ch.probability)); continue }
                    explore(prefix + [v])
                }
            } else {
                out.append((r, ch.probability))
            }
        }
        explore([])
        return out
    }
}

/// A numgen lookup site: the set and the numgen's numbers.
struct NFTNumgenSite: Hashable, Sendable {
    var set: Int32
    var mod: UInt32
    var offset: UInt32
}
