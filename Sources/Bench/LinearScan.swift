import IPVS

/// Direct ports of the kernel's O(n) scans: the reference IPVS's least-load tree is tested
/// against (`LeastLoadDifferentialTests`), and the `kernel_scan.lc.<n>servers` row of `kdp bench`
/// that the tree's `ipvs.new.lc.<n>servers` is compared with. O(n) in the servers, as in the kernel.
public enum LinearScan {
    /// ip_vs_lc_schedule.
    public static func lc(_ list: [RealServer]) -> Int? {
        var least: Int? = nil
        var loh: Int32 = 0
        for (i, d) in list.enumerated() {
            if d.overloaded || d.weight == 0 { continue }
            let doh = d.connOverhead
            if least == nil || doh < loh { least = i; loh = doh }
        }
        return least
    }

    /// ip_vs_wlc_schedule (and sed with `cost = active + 1`).
    public static func wlc(_ list: [RealServer], sed: Bool = false) -> Int? {
        func cost(_ d: RealServer) -> Int32 { sed ? d.activeConns &+ 1 : d.connOverhead }
        var first = -1
        for (i, d) in list.enumerated() where !d.overloaded && d.weight > 0 {
            first = i
            break
        }
        if first < 0 { return nil }
        var least = first
        var loh = cost(list[first])
        for i in (first + 1)..<list.count {
            let d = list[i]
            if d.overloaded { continue }
            let doh = cost(d)
            if Int64(loh) * Int64(d.weight) > Int64(doh) * Int64(list[least].weight) {
                least = i
                loh = doh
            }
        }
        return least
    }

    /// ip_vs_nq_schedule.
    public static func nq(_ list: [RealServer]) -> Int? {
        var least: Int? = nil
        var loh: Int32 = 0
        for (i, d) in list.enumerated() {
            if d.overloaded || d.weight == 0 { continue }
            let doh = d.activeConns &+ 1
            if d.activeConns == 0 { return i }
            if least == nil || Int64(loh) * Int64(d.weight) > Int64(doh) * Int64(list[least!].weight) {
                least = i
                loh = doh
            }
        }
        return least
    }
}
