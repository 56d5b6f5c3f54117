import Dispatch
import Foundation

extension Dataplane {
    /// `loadAllRules`, with every node's rules compiled on every core first (each node's
    /// compile is independent and cached in its `NodeRules`), then loaded in node order.
    /// `kdp verify` reads every node; one node's compile time (`dataplane.load`) is measured
    /// by `loadAllRules` alone.
    ///
    /// - Complexity: the nodes' compiles divided among the cores.
    public mutating func loadAllRulesInParallel() throws {
        let hosts = Array(nodes)
        let families = cluster.settings.families
        DispatchQueue.concurrentPerform(iterations: hosts.count) { i in
            // Errors surface again, in order, from `loadAllRules` below.
            for f in families { _ = try? hosts[i].tracer(for: f) }
        }
        try loadAllRules()
    }

    /// Compiles and loads the rules of the nodes at `indices` (of `nodes`) now, in that order:
    /// `kdp bench` measures one node's load against the whole cluster's.
    public mutating func loadRules(ofNodes indices: some Sequence<Int>) throws {
        for i in indices { for f in cluster.settings.families { _ = try nodes[i].load(f) } }
    }
}
