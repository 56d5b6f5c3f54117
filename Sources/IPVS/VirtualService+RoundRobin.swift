/// rr and wrr, ported loop for loop from ip_vs_rr.c and ip_vs_wrr.c. Positions in `order` stand
/// in for the kernel's list pointers; -1 stands for the list head.
extension VirtualService {
    /// ip_vs_rr_schedule: scan from the element after the cursor to the end, then (unless the
    /// cursor is the head) wrap and continue up to and including the cursor. The first usable
    /// server wins and becomes the cursor; on failure the cursor stays.
    /// The cursor is kept as a list position (-1 = head), adjusted when the list changes, so the
    /// hot path reads only `order` and `servers`.
    mutating func rrSchedule() -> Int32 {
        let start = Int(sched.rrCursor)
        var from = start + 1
        var pass = 0
        let n = order.count
        repeat {
            var pos = from
            while pos < n {
                let d = order[pos]
                if servers[Int(d)].usable {
                    sched.rrCursor = Int32(pos)
                    return d
                }
                if pos == start { return -1 }
                pos += 1
            }
            pass += 1
            from = 0
        } while pass < 2 && start >= 0
        return -1
    }

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

    /// ip_vs_wrr_schedule, including the `last_pass` / `restarted` / `stop` bookkeeping.
    /// `cl` is kept as a list position (-1 = head); every list change resets it to the head.
    mutating func wrrSchedule() -> Int32 {
        var dest = Int(sched.wrrCl)
        if sched.wrrMw == 0 {
            return -1
        }
        let last = dest
        var stop = -2
        var lastPass = false
        var restarted = false
        let n = order.count
        while true {
            var pos = dest + 1
            while pos < n {
                let d = order[pos]
                let s = servers[Int(d)]
                if !s.overloaded && s.weight >= sched.wrrCw {
                    sched.wrrCl = Int32(pos)
                    return d
                }
                if pos == stop {
                    sched.wrrCl = Int32(pos)
                    return -1
                }
                pos += 1
            }
            dest = -1
            sched.wrrCw -= sched.wrrDi
            if sched.wrrCw <= 0 {
                sched.wrrCw = sched.wrrMw
                if lastPass || last < 0 {
                    sched.wrrCl = -1
                    return -1
                }
                restarted = true
            }
            lastPass = sched.wrrCw <= sched.wrrDi
            if lastPass && restarted && last >= 0 { stop = last }
        }
    }
}

/// Euclid, as lib/math/gcd.c computes it for positive ints.
func gcd(_ a: Int32, _ b: Int32) -> Int32 {
    var a = a, b = b
    while b != 0 { (a, b) = (b, a % b) }
    return a
}
