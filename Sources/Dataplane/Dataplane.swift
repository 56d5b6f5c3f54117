import Cluster
import Netfilter
import Wire

/// The emulated cluster network: every node a namespace with its CNI interfaces and routes and
/// its kube-proxy rules, every pod a namespace on a veth into its node's bridge `cni0`, and the
/// flat network between nodes (host-gw routes, or VXLAN over UDP 8472). A traced packet walks
/// real hops and each node's netfilter hooks; node state (conntrack, `recent`) persists across
/// traces, so a reply is un-NATed and session affinity holds.
public struct Dataplane: Sendable {
    public let cluster: Cluster
    public internal(set) var nodes: NodeStates
    let nodeIndex: [String: Int]
    let nodeByIP: [IPAddress: Int]
    let podByIP: [IPAddress: Int]
    /// Pods whose address another pod (on another node) already holds in `podByIP`: a cluster
    /// with overlapping podCIDRs gives two pods one address. Empty in a consistent cluster.
    let sharedPodIPs: [IPAddress: [Int]]
    /// Each pod's node index (-1: on no node), so that a walk leaving a pod does not hash the
    /// node's name.
    let podNode: [Int]
    /// What never changes about each node (the node, its CNI network, its kernel settings), apart
    /// from `nodes`' state, so that a walk may own the state while reading these.
    let layout: [NodeLayout]

    /// The time every node's clock reads while a packet walks (a replayed capture's timestamp);
    /// nil leaves each node's own.
    var clock: Double?
    /// `inject`'s work list, kept empty between packets with its capacity, so that a replayed
    /// flow's first packet does not allocate one.
    var scratchWork: [Walk] = []

    /// The most hops a path may take before it is called a loop.
    static let hopLimit = 32

    public init(cluster: Cluster) {
        self.cluster = cluster
        let sharedRules = ClusterRules(cluster: cluster)
        nodes = NodeStates(cluster.nodes.map { NodeHost(node: $0, cluster: cluster, shared: sharedRules) })
        layout = nodes.map { NodeLayout(node: $0.node, network: $0.network, kernel: $0.kernel) }
        var ni: [String: Int] = [:], byIP: [IPAddress: Int] = [:], pods: [IPAddress: Int] = [:]
        for (i, n) in cluster.nodes.enumerated() {
            ni[n.name] = i
            for ip in n.internalIPs { byIP[ip] = i }
        }
        var shared: [IPAddress: [Int]] = [:]
        for (i, p) in cluster.pods.enumerated() where !p.hostNetwork {
            for ip in p.ips {
                if pods[ip] != nil, let node = p.nodeName, cluster.pods[pods[ip]!].nodeName != node {
                    shared[ip, default: []].append(i)
                } else {
                    pods[ip] = i
                }
            }
        }
        nodeIndex = ni
        nodeByIP = byIP
        podByIP = pods
        sharedPodIPs = shared
        podNode = cluster.pods.map { p in p.nodeName.flatMap { ni[$0] } ?? -1 }
    }

    /// The pod with address `ip` on node `n` (by the pods' precomputed node index, no name
    /// compared): where podCIDRs overlap, each node's bridge answers for its own pod.
    /// - Complexity: O(1) but for addresses two nodes' pods share.
    func pod(_ ip: IPAddress, onNodeIndex n: Int) -> Int? {
        if let p = podByIP[ip], podNode[p] == n { return p }
        return sharedPodIPs[ip]?.first { podNode[$0] == n }
    }

    public func node(named name: String) -> NodeHost? { nodeIndex[name].map { nodes[$0] } }

    /// Compiles and loads every node's rules now rather than on first use (benchmarks, and
    /// callers that trace many packets).
    public mutating func loadAllRules() throws {
        for i in nodes.indices { for f in cluster.settings.families { _ = try nodes[i].load(f) } }
    }

    /// What a trace asks for.
    public struct Request: Sendable {
        public var source: TraceSource
        public var destination: TraceDestination
        public var proto: IPProtocol = .tcp
        public var sourcePort: UInt16?
        /// For external sources: the node the network (or the cloud's load balancer) hands the
        /// packet to; nil lets the load balancer pick (each node in turn with `allPaths`).
        public var via: String?
        public var allPaths = false
        public var seed: UInt64 = 1
        public var reply = true
        /// Record every step (turn off for bulk replay: verdicts, translations and deliveries
        /// stay exact, the paths have no steps).
        public var recordSteps = true
        /// Record each path's header constants (`DataplanePath.constants`): `kdp verify`.
        public var recordConstants = false
        /// With `allPaths`: a path for every real server IPVS could choose, not only the one
        /// its scheduler state picks (`kdp verify`).
        public var everyRealServer = false
        /// For a node or host-network source: the address its socket is bound to, instead of
        /// the one the route picks.
        public var sourceAddress: IPAddress?

        public init(source: TraceSource, destination: TraceDestination) {
            self.source = source
            self.destination = destination
        }
    }

    /// Traces a packet and, unless told not to, its reply. Without `allPaths` the node state the
    /// packet leaves behind is kept, so a later trace sees this connection (and its affinity).
    public mutating func trace(_ request: Request) throws(InputError) -> DataplaneTrace {
        let family = request.destination.address.family
        var rng = SeededGenerator(seed: request.seed)
        let sport = request.sourcePort ?? UInt16(32768 + Int.random(in: 0..<28232, using: &rng))
        // A node's own packets take their source from the route (`ip route get`: the route's
        // `src`, else the outgoing interface's primary address; for a local destination the
        // address itself); in IPVS mode the Service addresses are local (kube-ipvs0), so the
        // node's state must be in place first.
        if let n = sendingNode(request.source) { _ = try? nodes[n].load(family) }
        let (sourceIP, starts) = try startingPoints(request, family: family, rng: &rng)
        let packet = Packet(source: sourceIP, destination: request.destination.address, proto: request.proto,
                            sourcePort: sport, destinationPort: request.destination.port,
                            tcpFlags: request.proto == .tcp ? TCPFlag.syn : 0,
                            icmpType: request.proto == .icmpv6 ? 128 : 8)  // echo request
        var paths: [DataplanePath] = []
        var keptState: NodeStates?
        for (start, share) in starts {
            var walk = Walk(nodes: nodes, packet: packet, location: start.location, probability: share)
            walk.recordSteps = request.recordSteps
            if request.recordConstants { walk.constants = HeaderConstants() }
            if request.recordSteps { walk.steps += start.steps.map { step in var s = step; s.packet = packet; return s } }
            for (forward, state) in run(walk, request: request) {
                var path = forward
                var after = state
                if request.reply, path.verdict == .delivered, let replyStart = replyStart(path, request: request) {
                    let replyPacket = Packet(
                        source: path.finalPacket.destination, destination: path.finalPacket.source, proto: request.proto,
                        sourcePort: path.finalPacket.destinationPort, destinationPort: path.finalPacket.sourcePort,
                        tcpFlags: request.proto == .tcp ? TCPFlag.syn | TCPFlag.ack : 0)
                    var replyWalk = Walk(nodes: state, packet: replyPacket, location: replyStart)
                    replyWalk.recordSteps = request.recordSteps
                    if request.recordConstants { replyWalk.constants = HeaderConstants() }
                    let back = run(replyWalk, request: Request(source: request.source, destination: request.destination), client: (packet, request.source))
                    if let (replyPath, replyState) = back.first {
                        // The reply's tests read the request's fields swapped.
                        if let c = replyPath.constants { path.constants?.formUnion(c.swapped) }
                        let reached = replyPath.verdict == .delivered
                            && replyPath.finalPacket.source == packet.destination
                            && replyPath.finalPacket.sourcePort == packet.destinationPort
                            && replyPath.finalPacket.destination == packet.source
                        path.reply = ReplyPath(path: replyPath, reachedClient: reached)
                        after = replyState
                    }
                }
                if keptState == nil { keptState = after }
                paths.append(path)
            }
        }
        if !request.allPaths, let keptState { nodes = keptState }
        var notes: [String] = []
        if let r = request.destination.resolvedBy { notes.append("DNS: \(r)") }
        if request.recordSteps { notes += kernelNotes(paths, family: family) }
        return DataplaneTrace(source: request.source.description, destination: request.destination.spec,
                              packet: packet, paths: paths.sorted { $0.probability > $1.probability }, notes: notes)
    }

    /// What each node the paths crossed used of its kernel settings, nodes with the same
    /// settings on one line, in the order the paths first reach them.
    func kernelNotes(_ paths: [DataplanePath], family: IPFamily) -> [String] {
        var order: [Int] = []
        var seen = Set<Int>()
        for p in paths {
            for step in p.steps + (p.reply?.path.steps ?? []) {
                if let name = step.node, let n = nodeIndex[name], seen.insert(n).inserted { order.append(n) }
            }
        }
        var lines: [(nodes: [String], text: String)] = []
        for n in order {
            let text = nodes[n].kernel.summary(family)
            if let i = lines.firstIndex(where: { $0.text == text }) { lines[i].nodes.append(nodes[n].node.name) } else {
                lines.append(([nodes[n].node.name], text))
            }
        }
        return lines.map { "node\($0.nodes.count == 1 ? "" : "s") \($0.nodes.joined(separator: ", ")): \($0.text)" }
    }

    struct Start {
        var location: Location
        var steps: [DataplaneStep]
    }

    /// The source address and where the packet enters the network, with each entry's share.
    func startingPoints(_ request: Request, family: IPFamily, rng: inout SeededGenerator) throws(InputError) -> (IPAddress, [(Start, Double)]) {
        func link(_ node: String, _ text: String, _ crossings: [InterfaceCrossing] = []) -> DataplaneStep {
            DataplaneStep(.link, node: node, action: text, packet: Packet(source: .v4(.zero), destination: .v4(.zero)), crossings: crossings)
        }
        switch request.source {
        case .pod(let pod):
            guard let ip = pod.ip(family) else { throw InputError("pod \(pod.key) has no \(family.rawValue) address") }
            guard let n = pod.nodeName.flatMap({ nodeIndex[$0] }) else { throw InputError("pod \(pod.key) is on no node") }
            if pod.hostNetwork {
                let ip = request.sourceAddress ?? nodes[n].host.outputSource(to: request.destination.address) ?? ip
                return (ip, [(Start(location: .node(n, inInterface: nil), steps: [link(pod.nodeName!, "pod \(pod.key) sends from the host network of node \(pod.nodeName!)")]), 1)])
            }
            // By address first (O(1)); pods that share an address (overlapping podCIDRs) by name.
            let byIP = podByIP[ip].flatMap { cluster.pods[$0].name == pod.name && cluster.pods[$0].namespace == pod.namespace ? $0 : nil }
            guard let i = byIP ?? cluster.pods.firstIndex(where: { $0.namespace == pod.namespace && $0.name == pod.name }) else {
                throw InputError("pod \(pod.key) is not in the cluster")
            }
            return (ip, [(Start(location: .pod(i), steps: []), 1)])
        case .node(let node):
            guard let nodeIP = node.internalIP(family) else { throw InputError("node \(node.name) has no \(family.rawValue) address") }
            let ip = request.sourceAddress ?? nodes[nodeIndex[node.name]!].host.outputSource(to: request.destination.address) ?? nodeIP
            return (ip, [(Start(location: .node(nodeIndex[node.name]!, inInterface: nil), steps: [link(node.name, "sent by node \(node.name)")]), 1)])
        case .external(let ip):
            var entries: [Int]
            if let via = request.via {
                guard let n = nodeIndex[via] else {
                    throw InputError("--via node/\(via): no such node; nodes: \(cluster.nodes.map(\.name).joined(separator: ", "))")
                }
                entries = [n]
            } else if let n = nodeByIP[request.destination.address] {
                entries = [n]  // a node address: the network delivers it to that node
            } else if request.destination.service?.loadBalancerIPs.contains(request.destination.address) == true {
                // The cloud's load balancer hands the VIP's traffic to any node.
                entries = request.allPaths ? Array(nodes.indices) : [Int.random(in: 0..<nodes.count, using: &rng)]
            } else {
                entries = [0]
            }
            let share = 1 / Double(entries.count)
            return (ip, entries.map { n in
                let name = nodes[n].node.name
                return (Start(location: .node(n, inInterface: "eth0"),
                              steps: [link(name, "from \(ip) outside the cluster, arrives on eth0 of node \(name)", [InterfaceCrossing(.node(name), "eth0", .received)])]), share)
            })
        }
    }

    /// The node a locally generated packet starts on (a node, or a host-network pod).
    func sendingNode(_ source: TraceSource) -> Int? {
        switch source {
        case .pod(let pod) where pod.hostNetwork: pod.nodeName.flatMap { nodeIndex[$0] }
        case .node(let node): nodeIndex[node.name]
        default: nil
        }
    }

    /// Whether a pod on node `n` sends a frame to `destination` straight to that pod's MAC
    /// (another address of the bridge's subnet, not the gateway), so that the bridge forwards
    /// it between its ports instead of handing it up to be routed.
    func isBridged(_ destination: IPAddress, on n: Int) -> Bool {
        layout[n].bridgeSubnets.contains { $0.address != destination && $0.subnet.contains(destination) }
    }

    /// Why the bridge of node `n` drops a frame that entered it from `ingressPod`'s port
    /// (br_netfilter on) and that netfilter sent out `device` towards `destination`, or nil: a
    /// frame that would leave by the port it came in on needs hairpin mode (br_forward's
    /// should_deliver).
    func hairpinDrop(device: String, destination: IPAddress, ingressPod: Int, node n: Int) -> String? {
        guard device == NodeNetwork.bridgeName, pod(destination, onNodeIndex: podNode[ingressPod]) == ingressPod, !layout[n].kernel.hairpinMode.on else { return nil }
        let pod = cluster.pods[ingressPod].key
        return "hairpin mode is off on \(NodeNetwork.bridgeName)'s port to pod \(pod): the bridge does not send a frame back out the port it came in on"
    }

    /// Where the reply starts: the pod, node or hostNetwork pod that received the request.
    func replyStart(_ path: DataplanePath, request: Request) -> Location? {
        switch path.deliveredTo {
        case .node(let name)?:
            return nodeIndex[name].map { .node($0, inInterface: nil) }
        case .pod(let namespace, let name)?:
            if let p = podByIP[path.finalPacket.destination], cluster.pods[p].name == name, cluster.pods[p].namespace == namespace { return .pod(p) }
            if let p = sharedPodIPs[path.finalPacket.destination]?.first(where: { cluster.pods[$0].name == name && cluster.pods[$0].namespace == namespace }) {
                return .pod(p)
            }
            // A host-network pod answers from its node's namespace.
            if let pod = cluster.pods.first(where: { $0.namespace == namespace && $0.name == name && $0.hostNetwork }),
               let n = pod.nodeName.flatMap({ nodeIndex[$0] }) { return .node(n, inInterface: nil) }
            return nil
        case .external?, nil:
            return nil
        }
    }

    /// Walks one packet to the end of every path it can take.
    func run(_ start: Walk, request: Request, client: (Packet, TraceSource)? = nil) -> [(DataplanePath, NodeStates)] {
        var work = [start]
        return run(&work, request: request, client: client)
    }

    /// `run` on a work list the caller hands over (emptied): a walk that owns the nodes' state
    /// is never shared, so each node's tables are written in place.
    func run(_ work: inout [Walk], request: Request, client: (Packet, TraceSource)? = nil) -> [(DataplanePath, NodeStates)] {
        var done: [(DataplanePath, NodeStates)] = []
        func finish(_ w: Walk, _ verdict: PathVerdict, why: String?, decidedBy: PathDecider, deliveredTo: DeliveryTarget?) {
            done.append((DataplanePath(
                probability: w.probability, verdict: verdict, why: why, decidedBy: decidedBy, dnat: w.dnat,
                masquerade: w.masquerade, snat: w.snat, deliveredTo: deliveredTo, steps: w.steps, finalPacket: w.packet,
                nodeTransmissions: w.transmissions, visits: w.visits, consultedState: w.consultedState, consultedTCPFlags: w.consultedTCPFlags,
                constants: w.constants), w.nodes))
        }
        while var w = work.popLast() {
            w.hops += 1
            if w.hops > Self.hopLimit {
                finish(w, .dropped, why: "routing loop: more than \(Self.hopLimit) hops", decidedBy: .network, deliveredTo: nil)
                continue
            }
            switch w.location {
            case .pod(let p):
                let n = podNode[p]
                guard n >= 0 else {
                    finish(w, .noRoute, why: "pod \(cluster.pods[p].key) is on no node", decidedBy: .network, deliveredTo: nil)
                    continue
                }
                // The pod routes everything to its gateway on cni0 (or bridges it there).
                let nodeName = layout[n].node.name
                if w.recordSteps { let pod = cluster.pods[p]; w.steps.append(DataplaneStep(.link, node: pod.nodeName, action: "pod \(pod.key) eth0 → veth → \(NodeNetwork.bridgeName) on node \(pod.nodeName!)", packet: w.packet,
                                             crossings: [InterfaceCrossing(.pod(namespace: pod.namespace, name: pod.name), "eth0", .sent),
                                                         InterfaceCrossing(.node(pod.nodeName!), NodeNetwork.bridgeName, .received)])) }
                let family = w.packet.destination.family
                if isBridged(w.packet.destination, on: n), !layout[n].kernel.isOn(Sysctl.bridgeNFCall(family)) {
                    // A frame for another port of the bridge, with br_netfilter off: the bridge
                    // forwards it and iptables never sees it (no conntrack, no NAT undone).
                    let setting = "\(Sysctl.bridgeNFCall(family).rawValue)=0"
                    if let q = self.pod(w.packet.destination, onNodeIndex: n) {
                        let peer = cluster.pods[q]
                        if w.recordSteps { w.steps.append(DataplaneStep(.deliver, node: nodeName,
                                                     action: "\(NodeNetwork.bridgeName) bridges the frame to the port of pod \(peer.key) (\(setting): iptables does not see it) → veth → pod \(peer.key) eth0",
                                                     packet: w.packet,
                                                     crossings: [InterfaceCrossing(.node(nodeName), NodeNetwork.bridgeName, .sent),
                                                                 InterfaceCrossing(.pod(namespace: peer.namespace, name: peer.name), "eth0", .received)])) }
                        finish(w, .delivered, why: nil, decidedBy: .network, deliveredTo: .pod(namespace: peer.namespace, name: peer.name))
                    } else {
                        finish(w, .noRoute, why: "no pod has \(w.packet.destination) on node \(nodeName)'s bridge (ARP gets no answer)",
                               decidedBy: .network, deliveredTo: nil)
                    }
                    continue
                }
                w.ingressPod = p
                w.bridgedAtIngress = isBridged(w.packet.destination, on: n)
                w.location = .node(n, inInterface: NodeNetwork.bridgeName)
                work.append(w)
            case .node(let n, let inInterface):
                var packet = w.packet
                packet.inInterface = inInterface
                packet.outInterface = nil
                // The walk's own copy of the node: this path's conntrack and recent lists.
                let name = w.nodes[n].node.name
                let tracer: Tracer?
                do { tracer = try w.nodes[n].load(packet.destination.family) } catch {
                    // kdp's own compiler output failed to parse: a kdp bug, said as such.
                    finish(w, .dropped, why: "kdp could not load node \(name)'s compiled rules: \(error)", decidedBy: .kdp, deliveredTo: nil)
                    continue
                }
                guard let tracer else {
                    finish(w, .dropped, why: "node \(name) has no \(packet.destination.family.rawValue) address", decidedBy: .network, deliveredTo: nil)
                    continue
                }
                let family = packet.destination.family
                let kernel = w.nodes[n].kernel
                // A frame from a pod port with br_netfilter on walks iptables at the bridge; the
                // Tracer routes it unless it is bridged (forwarding then does not apply).
                let fromPortFiltered = w.ingressPod != nil && kernel.isOn(Sysctl.bridgeNFCall(family))
                // Following one path, the walk hands the node's state to the tracer rather than
                // sharing it (moved out, no copy), so that the tracer writes its tables in place
                // instead of copying them (replay: every packet, tables of every flow). All
                // paths keep the walk's copy: each branch starts from it.
                var host = request.allPaths ? w.nodes[n].host : Host.take(&w.nodes[n].host)
                host.forwarding = kernel.isOn(Sysctl.forwarding(family))
                host.bridgeNFCallIPTables = kernel.isOn(Sysctl.bridgeNFCall(family))
                if let clock {
                    host.now = clock
                    // Tested by flag: optional chaining on the existential copied it out and back.
                    if host.hasIPVS { host.ipvs!.advanceClock(to: clock) }
                }
                let tuple = packet.tuple
                let now = host.now
                let known = request.allPaths || host.conntrack.lookup(tuple, now: now) != nil

                var options = TraceOptions(allPaths: request.allPaths, seed: request.seed &+ UInt64(w.hops))
                options.recordSteps = w.recordSteps
                options.recordConstants = w.constants != nil
                options.everyRealServer = request.everyRealServer
                var trace = tracer.trace(packet: packet, host: consume host, options: options)
                let last = trace.paths.count - 1
                for k in trace.paths.indices {
                    // The last path is moved out of the trace, not copied (its host with it).
                    var path = k == last ? trace.paths.removeLast() : trace.paths[k]
                    // The last path takes the walk over, moved (swapped with a vacant walk),
                    // not copied: its nodes stay unshared and are written in place, and none
                    // of its arrays is retained for a copy and released with the original.
                    var next: Walk
                    if k == last {
                        next = Walk.vacant
                        swap(&next, &w)
                    } else {
                        next = w
                    }
                    if let c = path.constants { next.constants?.formUnion(c) }
                    // Only a packet that was never delivered locally: IPVS schedules in INPUT
                    // and sends from the node itself, out of the bridge device, not a port.
                    if fromPortFiltered, path.verdict == .accepted, let out = path.deliveredTo, case .out(let device) = out,
                       !path.reachedInput,
                       let reason = hairpinDrop(device: device, destination: path.finalPacket.destination, ingressPod: next.ingressPod!, node: n) {
                        // The bridge drops it right after PREROUTING and the route lookup (br_nf's
                        // bridged_dnat): FORWARD and POSTROUTING never run, and the connection is
                        // never confirmed.
                        let cut = (path.steps.lastIndex { $0.hook == .prerouting }).map { $0 + 1 } ?? 0
                        next.probability *= path.probability
                        next.packet = path.finalPacket
                        next.packet.outInterface = nil
                        next.steps += path.steps[..<cut].map { s in
                            DataplaneStep(.netfilter(hook: s.hook, s.subject), node: name, text: s.text, action: s.action,
                                          rewrite: s.rewrite, packet: s.packet)
                        }
                        if let d = path.dnat { next.dnat = d }
                        if !request.allPaths {
                            // The table the tracer took, without the connection it confirmed.
                            var h = Host.take(&path.host)
                            if !known { h.conntrack = h.conntrack.removing(tuple) }
                            next.nodes[n].host = h
                        }
                        if next.recordSteps { next.steps.append(DataplaneStep(.link, node: name, action: "drop: \(reason)", packet: next.packet)) }
                        finish(next, .dropped, why: reason, decidedBy: .network, deliveredTo: nil)
                        continue
                    }
                    // Exchanged, not copied: the place holds the vacant host (or, following all
                    // paths, the walk's copy), which goes out with the path.
                    swap(&next.nodes[n].host, &path.host)
                    next.visits.append(NodeVisit(node: n, tuple: tuple, knownBefore: known))
                    next.consultedState = next.consultedState || path.consultedState
                    next.consultedTCPFlags = next.consultedTCPFlags || path.consultedTCPFlags
                    next.probability *= path.probability
                    next.packet = path.finalPacket
                    next.steps += path.steps.map { s in
                        DataplaneStep(.netfilter(hook: s.hook, s.subject), node: name, text: s.text, action: s.action,
                                      rewrite: s.rewrite, packet: s.packet)
                    }
                    if let d = path.dnat { next.dnat = d }
                    if let s = path.snat { next.snat = s }
                    next.masquerade = next.masquerade || path.masquerade
                    switch path.verdict {
                    case .dropped, .rejected:
                        let why = Explanation.why(path: path, node: layout[n].node, packet: packet, cluster: cluster)
                        finish(next, path.verdict == .dropped ? .dropped : .rejected, why: why, decidedBy: .node(path.decidedBy), deliveredTo: nil)
                    case .accepted:
                        route(next, from: n, deliveredTo: path.deliveredTo, decidedBy: .node(path.decidedBy), client: client, work: &work, finish: finish)
                    }
                }
            }
        }
        return done
    }
}

/// A node's fixed facts, read by walks that own the nodes' state.
struct NodeLayout: Sendable {
    let node: Node
    let network: NodeNetwork
    let kernel: NodeKernel
    /// The bridge's addresses with their subnets (`Dataplane.isBridged`, asked per packet).
    let bridgeSubnets: [(address: IPAddress, subnet: Prefix)]

    init(node: Node, network: NodeNetwork, kernel: NodeKernel) {
        self.node = node
        self.network = network
        self.kernel = kernel
        bridgeSubnets = (network.interfaces.first { $0.name == NodeNetwork.bridgeName }?.addresses ?? [])
            .map { (address: $0.0, subnet: Prefix(containing: $0.0, length: $0.1)) }
    }
}
