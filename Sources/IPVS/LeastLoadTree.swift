/// lc, wlc, sed and nq as a tournament tree over list positions.
///
/// The kernel scans the whole destination list for every new connection (ip_vs_lc.c,
/// ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c). Each scan returns the *first server in list order*
/// whose cost ratio `num / den` is smallest, compared exactly by cross-multiplication
/// (`loh * w(dest) > doh * w(least)`, 64-bit). "Smallest ratio, ties to the left" is an
/// associative choice, so a segment tree whose nodes keep the winner of their range returns
/// exactly the scan's answer at the root, in O(1), and is repaired in O(log n) whenever a
/// server's counters, weight or OVERLOAD flag change. nq's "first idle server wins at once" is a
/// second field of the same tree (the leftmost usable server with no active connections).
struct LeastLoadTree: Sendable {
    struct Node: Sendable {
        /// Winning list position, -1 when no usable server is in range.
        var pos: Int32 = -1
        var num: Int64 = 0
        var den: Int64 = 1
        /// nq: leftmost usable position with activeconns == 0, or -1.
        var idle: Int32 = -1
    }

    var leaves = 0
    var nodes: [Node] = []

    /// Combines two ranges, `a` to the left of `b`.
    @inline(__always)
    static func combine(_ a: Node, _ b: Node) -> Node {
        var r: Node
        if a.pos < 0 {
            r = b
        } else if b.pos < 0 {
            r = a
        } else if a.num &* b.den > b.num &* a.den {
            r = b  // the kernel's strict test: a later server wins only with a smaller ratio
        } else {
            r = a
        }
        r.idle = a.idle >= 0 ? a.idle : b.idle
        return r
    }
}

extension VirtualService {
    /// The leaf for one server: usable = not OVERLOAD and weight > 0 (all four skip the rest).
    func treeLeaf(position: Int, slot: Int32) -> LeastLoadTree.Node {
        let s = servers[Int(slot)]
        guard s.usable else { return LeastLoadTree.Node() }
        var n = LeastLoadTree.Node()
        n.pos = Int32(position)
        switch config.scheduler {
        case .lc:
            n.num = Int64(s.connOverhead); n.den = 1
        case .wlc:
            n.num = Int64(s.connOverhead); n.den = Int64(s.weight)
        case .sed:
            n.num = Int64(s.activeConns &+ 1); n.den = Int64(s.weight)
        case .nq:
            n.num = Int64(s.activeConns &+ 1); n.den = Int64(s.weight)
            if s.activeConns == 0 { n.idle = Int32(position) }
        default:
            break
        }
        return n
    }

    mutating func rebuildTree() {
        var size = 1
        while size < order.count { size <<= 1 }
        sched.tree.leaves = size
        sched.tree.nodes = Array(repeating: LeastLoadTree.Node(), count: 2 * size)
        for (p, slot) in order.enumerated() { sched.tree.nodes[size + p] = treeLeaf(position: p, slot: slot) }
        var i = size - 1
        while i >= 1 {
            sched.tree.nodes[i] = LeastLoadTree.combine(sched.tree.nodes[2 * i], sched.tree.nodes[2 * i + 1])
            i -= 1
        }
    }

    /// Repairs the path above one server after its counters, weight or flags changed.
    mutating func treeUpdate(slot: Int32) {
        guard config.scheduler.usesLoadTree else { return }
        let p = Int(position[Int(slot)])
        guard p >= 0 else { return }
        var i = sched.tree.leaves + p
        sched.tree.nodes[i] = treeLeaf(position: p, slot: slot)
        i >>= 1
        while i >= 1 {
            sched.tree.nodes[i] = LeastLoadTree.combine(sched.tree.nodes[2 * i], sched.tree.nodes[2 * i + 1])
            i >>= 1
        }
    }

    func treePick() -> Int32 {
        guard sched.tree.nodes.count > 1 else { return -1 }
        let root = sched.tree.nodes[1]
        let p = config.scheduler == .nq && root.idle >= 0 ? root.idle : root.pos
        return p < 0 ? -1 : order[Int(p)]
    }
}
