import Cluster
import Netfilter
import Wire

/// Where a packet that starts a flow enters the emulated network.
extension Replay {

    /// Where a packet that starts a flow enters, by the capture point and its source address.
    mutating func placement(_ p: ReplayPacket) -> Dataplane.Entry? {
        let src = p.flow.source
        if let pod = capturePod, plane.cluster.pods[pod].ips.contains(src) { return podEntry(pod) }
        if let n = captureNode {
            if plane.nodes[n].node.internalIPs.contains(src) || plane.nodes[n].host.isLocal(src) { return nodeEntry(n) }
            if let pod = plane.podByIP[src], plane.cluster.pods[pod].nodeName == plane.nodes[n].node.name { return podEntry(pod) }
            guard case .node(_, let device) = options.capturePoint else { return nil }
            let dev = device ?? "eth0"
            if device == nil { note("-i any on node \(plane.nodes[n].node.name): packets from other hosts are taken as arriving on eth0") }
            let name = plane.nodes[n].node.name
            return Dataplane.Entry(location: .node(n, inInterface: dev),
                                   steps: [DataplaneStep(.link, node: name, action: "from \(src), arrives on \(dev) of node \(name)",
                                                         packet: p.packet, crossings: [InterfaceCrossing(.node(name), dev, .received)])],
                                   node: n, source: .external(src))
        }
        if options.capturePoint != .external {
            if let pod = plane.podByIP[src] { return podEntry(pod) }
            // A host-network pod sends from its node's address: the node's entry.
            if let n = plane.nodeByIP[src] { return nodeEntry(n) }
        }
        return externalEntry(p)
    }

    mutating func podEntry(_ pod: Int) -> Dataplane.Entry? {
        let n = plane.podNode[pod]
        guard n >= 0 else { return nil }
        return Dataplane.Entry(location: .pod(pod), steps: [], node: n, source: podSource(pod))
    }

    /// The pod as a trace source, made once per pod that sends: `.pod` boxes a copy of the
    /// whole `Pod` (an allocation and a retain of each of its strings), which every new flow
    /// from the pod paid; a kept source is one retain.
    mutating func podSource(_ pod: Int) -> TraceSource {
        if podSources.isEmpty { podSources = Array(repeating: nil, count: plane.cluster.pods.count) }
        if let s = podSources[pod] { return s }
        let s = TraceSource.pod(plane.cluster.pods[pod])
        podSources[pod] = s
        return s
    }

    func nodeEntry(_ n: Int) -> Dataplane.Entry {
        let name = plane.nodes[n].node.name
        return Dataplane.Entry(location: .node(n, inInterface: nil),
                               steps: [DataplaneStep(.link, node: name, action: "sent by node \(name)", packet: Packet(source: .v4(.zero), destination: .v4(.zero)))],
                               node: n, source: .node(plane.nodes[n].node))
    }

    /// From outside: `--via`, else the node that owns the destination (a node IP, a NodePort),
    /// else for a load balancer's VIP the node the cloud picks (seeded per flow), else the
    /// first node, said in the notes.
    mutating func externalEntry(_ p: ReplayPacket) -> Dataplane.Entry {
        let dst = p.flow.destination
        let n: Int
        if let via = options.via, let v = plane.nodeIndex[via] {
            n = v
        } else if let owner = plane.nodeByIP[dst] {
            n = owner
        } else if services.loadBalancerIPs.contains(dst) {
            note("flows from outside to a load balancer's VIP enter at a node the cloud's load balancer picks: kdp draws it per flow with the seed (--via fixes it)")
            var rng = SeededGenerator(seed: seed(p))
            n = Int.random(in: 0..<plane.nodes.count, using: &rng)
        } else {
            n = 0
            note("packets from outside to \(dst) enter at node \(plane.nodes[0].node.name), the first node: no --via, and no node owns the address")
        }
        let name = plane.nodes[n].node.name
        return Dataplane.Entry(location: .node(n, inInterface: "eth0"),
                               steps: [DataplaneStep(.link, node: name, action: "from \(p.flow.source) outside the cluster, arrives on eth0 of node \(name)",
                                                     packet: p.packet, crossings: [InterfaceCrossing(.node(name), "eth0", .received)])],
                               node: n, source: .external(p.flow.source))
    }
}
