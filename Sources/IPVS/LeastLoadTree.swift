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

extension LeastLoadTree {
    /// The leaf for one server: usable = not OVERLOAD and weight > 0 (all four skip the rest).
    @inline(__always)
    static func leaf(_ s: RealServer, position: Int, scheduler: SchedulerName) -> Node {
        guard s.usable else { return Node() }
        var n = Node()
        n.pos = Int32(position)
        switch scheduler {
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

    /// Sets one leaf and repairs the path above it: O(log n).
    mutating func update(position p: Int, leaf: Node) {
        var i = leaves + p
        nodes[i] = leaf
        i >>= 1
        while i >= 1 {
            nodes[i] = Self.combine(nodes[2 * i], nodes[2 * i + 1])
            i >>= 1
        }
    }
}

extension VirtualService {
    func treeLeaf(position: Int, slot: Int32) -> LeastLoadTree.Node {
        LeastLoadTree.leaf(servers[Int(slot)], position: position, scheduler: config.scheduler)
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

    /// Repairs the path above one server after its weight or flags changed (`upd_dest`).
    mutating func treeUpdate(slot: Int32) {
        guard config.scheduler.usesLoadTree else { return }
        let p = Int(position[Int(slot)])
        guard p >= 0 else { return }
        sched.tree.update(position: p, leaf: treeLeaf(position: p, slot: slot))
    }
}
