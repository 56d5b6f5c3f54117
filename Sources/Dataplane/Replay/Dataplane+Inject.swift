import Cluster
import Netfilter
import Wire

extension Dataplane {
    /// Where a replayed packet enters the network, with the steps that say so.
    struct Entry: Sendable {
        var location: Location
        var steps: [DataplaneStep]
        /// The node whose conntrack sees the packet first.
        var node: Int
        /// Who sent it, as a trace names its source (a reply that comes back to an outside
        /// client is delivered to it).
        var source: TraceSource
    }

    /// Sends `packet` from `entry` along the one path the seeded choices pick, and keeps the
    /// node state (conntrack, `recent`, statistic counters, IPVS) it leaves behind, as a real
    /// packet would. `client` names the original sender when `packet` is a reply, so that a
    /// reply leaving the cluster towards an outside client counts as delivered to it.
    ///
    /// - Complexity: one walk of every hook on every node the packet crosses.
    mutating func inject(_ packet: Packet, from entry: Entry, seed: UInt64, client: (Packet, TraceSource)? = nil,
                         recordSteps: Bool = true) -> DataplanePath {
        var request = Request(source: entry.source, destination: TraceDestination(address: packet.destination, port: packet.destinationPort, spec: ""))
        request.seed = seed
        request.reply = false
        request.recordSteps = recordSteps
        // The walk owns the node state while it runs (no copy of any table), and gives it back.
        // Taken in its own statement: an argument that mutates `self` would make the call copy
        // `self` (and with it every node's state) first.
        var work = scratchWork
        scratchWork = []
        work.append(takeState(into: packet, at: entry, recordSteps: recordSteps))
        var results = run(&work, request: request, client: client)
        scratchWork = work  // emptied by `run`; its capacity serves the next packet
        guard !results.isEmpty else {
            // Cannot happen: every walk ends somewhere. Start the nodes afresh rather than trap.
            nodes = NodeStates(cluster.nodes.map { NodeHost(node: $0, cluster: cluster) })
            return DataplanePath(probability: 1, verdict: .dropped, why: "kdp found no path", decidedBy: .kdp, dnat: nil,
                                 masquerade: false, snat: nil, deliveredTo: nil, steps: [], finalPacket: packet)
        }
        let path = results[0].0
        swap(&nodes, &results[0].1)
        return path
    }

    /// A walk that holds the nodes' state, which `nodes` gives up until the walk returns it: a
    /// temporary passed straight to `run`, so nothing else shares it.
    private mutating func takeState(into packet: Packet, at entry: Entry, recordSteps: Bool) -> Walk {
        var walk = Walk(nodes: NodeStates(), packet: packet, location: entry.location)
        walk.recordSteps = recordSteps
        if recordSteps { walk.steps = entry.steps.map { var s = $0; s.packet = packet; return s } }
        swap(&walk.nodes, &nodes)
        return walk
    }

    /// Where a delivered path's far end answers from: the pod, node or host-network pod that
    /// received it, and the node that is.
    func answeringEntry(_ path: DataplanePath) -> Entry? {
        guard let location = replyStart(path, request: Request(source: .external(path.finalPacket.source),
                                                                destination: TraceDestination(address: path.finalPacket.destination, port: 0, spec: "")))
        else { return nil }
        switch location {
        case .pod(let p):
            guard let n = cluster.pods[p].nodeName.flatMap({ nodeIndex[$0] }) else { return nil }
            return Entry(location: location, steps: [], node: n, source: .pod(cluster.pods[p]))
        case .node(let n, _):
            return Entry(location: location, steps: [], node: n, source: .node(nodes[n].node))
        }
    }

    /// Sets every node's clock (conntrack timeouts, `recent --seconds`, IPVS timers) to a
    /// capture timestamp.
    mutating func setClock(seconds: Double) {
        clock = seconds
    }
}

