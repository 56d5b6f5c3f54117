import Cluster
import Dataplane
import Netfilter
import Wire

/// The three no-NAT rules of the Kubernetes network model: pod to pod, node to its pods, host
/// network to every pod. Each is one exploration per sending node, family and protocol, over
/// every receiving pod and every port.
extension Verifier {
    /// Running pods on the pod network with an address of `family`, as receivers (a pod that
    /// Succeeded or Failed runs nothing and owns no address).
    func podReceivers(_ family: IPFamily, on node: String? = nil) -> [Receiver] {
        cluster.pods.compactMap { p in
            guard !p.hostNetwork, !p.isTerminal, p.nodeName != nil, node == nil || p.nodeName == node, let ip = p.ip(family) else { return nil }
            return Receiver(address: ip, port: nil, pod: p, service: nil, label: "pod/\(p.key)")
        }
    }

    func checkPodToPod(_ result: inout ResultBuilder) {
        for family in cluster.settings.families {
            let receivers = podReceivers(family)
            let senders = receivers.map { r in Sender(source: .pod(r.pod!), address: r.address, label: r.label) }
            explore(senders: senders, receivers: receivers, groupBy: { senders[$0].source.node }, result: &result)
        }
    }

    func checkNodeToPod(_ result: inout ResultBuilder) {
        for family in cluster.settings.families {
            for host in plane.nodes {
                let receivers = podReceivers(family, on: host.node.name)
                // Each of the node's own addresses, as a socket bound to it would send.
                let addresses = host.network.interfaces.flatMap { i in i.addresses.map(\.0) }
                    .filter { $0.family == family && !$0.isLoopback }
                let senders = addresses.map { a in
                    Sender(source: .node(host.node), address: a, boundAddress: a, label: "node/\(host.node.name) (\(a))")
                }
                explore(senders: senders, receivers: receivers, groupBy: { _ in host.node.name }, result: &result)
            }
        }
    }

    func checkHostNetworkToPod(_ result: inout ResultBuilder) {
        let hostPods = cluster.pods.filter { $0.hostNetwork && !$0.isTerminal && $0.nodeName.flatMap { cluster.node(named: $0) } != nil }
        if hostPods.isEmpty { result.note("the cluster has no host-network pods: nothing to check") }
        for family in cluster.settings.families {
            let receivers = podReceivers(family)
            // A host-network pod sends from its node's namespace, from the address the route
            // picks for each destination.
            let senders: [Sender] = hostPods.compactMap { p in
                guard let node = cluster.node(named: p.nodeName!), let ip = node.internalIP(family) else { return nil }
                return Sender(source: .pod(p), address: ip, label: "pod/\(p.key) (host network on \(node.name))")
            }
            explore(senders: senders, receivers: receivers, groupBy: { senders[$0].source.node }, result: &result)
        }
    }

    /// Explores every sender group (senders entering at one place) over all receivers and
    /// protocols, and checks that each class is delivered to its pod, unchanged.
    private func explore(senders: [Sender], receivers: [Receiver], groupBy: (Int) -> String?, result: inout ResultBuilder) {
        guard !senders.isEmpty, !receivers.isEmpty, let family = receivers.first?.address.family else { return }
        var groups: [String: [Int]] = [:], order: [String] = []
        for i in senders.indices {
            let key = groupBy(i) ?? "\(i)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(i)
        }
        let template = ClassExplorer(plane: plane, senders: senders, receivers: receivers, progress: progress)
        let jobs = order.flatMap { key in ClassExplorer.protocols(family).map { (groups[key]!, $0.0, $0.1) } }
        let blank = result.empty
        let count = receivers.count
        let parts = Self.inParallel(jobs.count) { range in
            var local = blank
            var explorer = template, examples = template
            for j in range {
                let (group, proto, ports) = jobs[j]
                let region = PacketRegion(senders: group, receivers: Array(0..<count), proto: proto,
                                          destinationPorts: ports, sourcePorts: proto.hasPorts ? PortRange(1, 65535) : PortRange(0, 0))
                explorer.explore(region) { c, paths in
                    local.counted(c)
                    // A pod to itself is not the invariant's: another pod of the class stands in.
                    if c.example.source == c.example.destination { return }
                    if paths.contains(where: { Self.deliveredUnchanged($0, c) && $0.finalPacket.sourcePort != c.example.sourcePort }) {
                        local.note("the source port of some classes is remapped on the way (flannel's MASQUERADE --random-fully of a node's traffic to another node's pods keeps the address): the addresses are what the invariant checks, and they are unchanged")
                    }
                    guard let bad = paths.first(where: { !Self.deliveredUnchanged($0, c) }) else { return }
                    local.violated(Self.violation(c, path: bad, explorer: &examples))
                }
            }
            return local
        }
        for p in parts { result.merge(p) }
    }

    /// Delivered to the pod that holds the destination, with the addresses and the destination
    /// port as sent (a source port remapped with the address kept is noted, not a violation:
    /// the model is about the addresses pods see).
    static func deliveredUnchanged(_ path: DataplanePath, _ c: PacketClass) -> Bool {
        guard path.probability > 0 else { return true }
        guard path.verdict == .delivered, let pod = c.exampleReceiver.pod,
              path.deliveredTo == .pod(namespace: pod.namespace, name: pod.name) else { return false }
        let f = path.finalPacket, e = c.example
        return f.source == e.source && f.destination == e.destination && f.destinationPort == e.destinationPort
    }

    /// A violation of class `c`: its example traced again with every step, and why in words.
    static func violation(_ c: PacketClass, path: DataplanePath, explorer: inout ClassExplorer) -> Violation {
        let trace = explorer.exampleTrace(c)
        // The stepped path that ends as the bad one did.
        let stepped = trace?.paths.first { $0.verdict == path.verdict && $0.deliveredTo == path.deliveredTo
            && $0.finalPacket.source == path.finalPacket.source && $0.finalPacket.destination == path.finalPacket.destination } ?? path
        return Violation(packetClass: c.summary, example: c.example, why: PathExplanation.why(stepped, expected: c), trace: trace)
    }
}

extension TraceSource {
    /// The node a pod or node source sends from (outside clients: nil).
    var node: String? {
        switch self {
        case .pod(let p): p.nodeName
        case .node(let n): n.name
        case .external: nil
        }
    }
}

extension ClassExplorer {
    /// The class's example traced with every step and its reply, as `kdp trace --all-paths`
    /// shows it.
    mutating func exampleTrace(_ c: PacketClass) -> DataplaneTrace? {
        let request = Self.request(sender: c.exampleSender, receiver: c.exampleReceiver, proto: c.proto,
                                   dport: c.example.destinationPort, sport: c.example.sourcePort, reply: withReply)
        return try? plane.trace(request)
    }
}
