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

extension BenchRatio {
    /// The sweep's flatness: for each per-packet lookup whose cost must not grow with the number
    /// of Services, its ns/op in the run with the most Services over the run with the fewest
    /// (issues 15 and 17: at most 1.5 from 1,000 to 30,000 Services). Empty for one run.
    public static func sweep(_ reports: [BenchReport]) -> [BenchRatio] {
        guard let low = reports.min(by: { $0.workload.services < $1.workload.services }),
              let high = reports.max(by: { $0.workload.services < $1.workload.services }),
              high.workload.services > low.workload.services else { return [] }
        return ["lookup.iptables.compiled", "lookup.nftables"].compactMap { name in
            guard let a = high.results.first(where: { $0.name == name })?.nsPerOp,
                  let b = low.results.first(where: { $0.name == name })?.nsPerOp, b > 0 else { return nil }
            return BenchRatio(name: "\(name) @\(high.workload.services) / @\(low.workload.services)", value: a / b, target: "<= 1.5", met: a / b <= 1.5)
        }
    }
}

private extension Double {
    var formatted: String { self == rounded() ? String(Int(self)) : String(self) }
}
