/// wrr's control-plane hooks from ip_vs_wrr.c (the rr and wrr picks themselves run on the flat
/// store: `ServiceStore.rrSchedule`, `wrrSchedule`). Positions in `order` stand
/// in for the kernel's list pointers; -1 stands for the list head.
extension VirtualService {
    // MARK: wrr

    /// ip_vs_wrr_gcd_weight: gcd of the weights > 0, or 1 when there are none.
    func wrrGcdWeight() -> Int32 {
        var g: Int32 = 0
        for s in order {
            let w = servers[Int(s)].weight
            if w > 0 { g = g > 0 ? gcd(w, g) : w }
        }
        return g > 0 ? g : 1
    }

    /// ip_vs_wrr_max_weight (0 when all weights are 0).
    func wrrMaxWeight() -> Int32 {
        var m: Int32 = 0
        for s in order where servers[Int(s)].weight > m { m = servers[Int(s)].weight }
        return m
    }

    /// ip_vs_wrr_init_svc.
    mutating func wrrInit() {
        sched.wrrCl = -1
        sched.wrrDi = wrrGcdWeight()
        sched.wrrMw = wrrMaxWeight() - (sched.wrrDi - 1)
        sched.wrrCw = sched.wrrMw
    }

    /// ip_vs_wrr_dest_changed: back to the head; `cw` carries over (reference §3.2 "surprise").
    mutating func wrrDestChanged() {
        sched.wrrCl = -1
        sched.wrrDi = wrrGcdWeight()
        sched.wrrMw = wrrMaxWeight() - (sched.wrrDi - 1)
        if sched.wrrCw > sched.wrrMw || sched.wrrCw == 0 {
            sched.wrrCw = sched.wrrMw
        } else if sched.wrrDi > 1 {
            sched.wrrCw = (sched.wrrCw / sched.wrrDi) * sched.wrrDi + 1
        }
    }
}

/// Euclid, as lib/math/gcd.c computes it for positive ints.
func gcd(_ a: Int32, _ b: Int32) -> Int32 {
    var a = a, b = b
    while b != 0 { (a, b) = (b, a % b) }
    return a
}
