/// A ratio between two rows of one `kdp bench` run, with the target an issue set on it: the
/// speed targets are ratios to a reference measured in the same run, so a noisy or faster
/// machine moves both sides together.
public struct BenchRatio: Encodable, Sendable, Equatable {
    public var name: String
    public var value: Double
    /// "<= 2" or ">= 100".
    public var target: String
    public var met: Bool

    /// The ratios `kdp bench` reports, for each pair whose rows this run has.
    public static func all(_ results: [BenchResult]) -> [BenchRatio] {
        func ns(_ name: String) -> Double? { results.first { $0.name == name }?.nsPerOp }
        var out: [BenchRatio] = []
        /// `a / b`, held at most `atMost` (or at least `atLeast`).
        func add(_ a: String, _ b: String, atMost: Double? = nil, atLeast: Double? = nil) {
            guard let x = ns(a), let y = ns(b), y > 0 else { return }
            let v = x / y
            if let atMost {
                out.append(BenchRatio(name: "\(a) / \(b)", value: v, target: "<= \(atMost.formatted)", met: v <= atMost))
            } else if let atLeast {
                out.append(BenchRatio(name: "\(a) / \(b)", value: v, target: ">= \(atLeast.formatted)", met: v >= atLeast))
            }
        }
        // Issue 17: one verdict-map lookup at most 2× a bare hash probe.
        add("lookup.nftables.map", "baseline.hash_probe", atMost: 2)
        // Issue 15: the compiled lookup at least 100× faster than linear (10,000 Services).
        add("lookup.iptables.linear", "lookup.iptables.compiled", atLeast: 100)
        // Issue 15: IPVS's per-packet new connections ≤ 4× the probe, batched ≤ 3×, established ≤ 2×.
        add("ipvs.new.rr.unbatched", "baseline.hash_probe", atMost: 4)
        add("ipvs.new.sh.unbatched", "baseline.hash_probe", atMost: 4)
        add("ipvs.new.rr", "baseline.hash_probe", atMost: 3)
        add("ipvs.established", "baseline.hash_probe", atMost: 2)
        // Issue 15: 100 nodes' load at most 5× one node's.
        add("dataplane.load.100nodes", "dataplane.load.1node", atMost: 5)
        return out
    }
}

private extension Double {
    var formatted: String { self == rounded() ? String(Int(self)) : String(self) }
}
