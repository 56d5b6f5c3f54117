import Cluster
import Dataplane
import Netfilter
import Wire

/// `service-endpoints`, `service-reply` and `source-preserved`, from one sweep over every
/// Service port and entry point: ClusterIP from every pod and node, NodePort on every node,
/// externalIPs and LoadBalancer VIPs from outside through every node (from inside and outside
/// `loadBalancerSourceRanges`).
struct ServiceChecks: Sendable {
    var endpoints: ResultBuilder
    var reply: ResultBuilder
    var source: ResultBuilder

    func result(_ invariant: Invariant) -> ResultBuilder {
        switch invariant {
        case .serviceReply: reply
        case .sourcePreserved: source
        default: endpoints
        }
    }
}

/// One entry point of one Service port: who sends, what they should reach.
struct ServiceEntry: Sendable {
    var receiver: Int
    var senders: [Int]
    /// The endpoints meant to be reached (address, port); empty means refused.
    var intended: Set<SocketAddress>
    /// When nothing is intended: rejected (no endpoints at all) or dropped (Local policy
    /// without a local endpoint, a source outside loadBalancerSourceRanges).
    var refusal: PathVerdict
    /// Why the refusal, for the message.
    var refusalWhy: String
    var podSenders: Bool
    var proto: IPProtocol
    /// Endpoint addresses of the port whose pods are not ready (for the why).
    var unready: Set<IPAddress> = []
    /// Endpoint addresses of the port that would serve cluster-wide (for the why).
    var serving: Set<IPAddress> = []
    /// Intended endpoints no node or pod of the cluster holds.
    var outside: Set<SocketAddress> = []
}

extension Verifier {
    /// Outside clients' addresses: TEST-NET-3 and the IPv6 documentation range, never a
    /// cluster address.
    static func outsideClient(_ family: IPFamily) -> IPAddress {
        family == .ipv4 ? .v4(IPv4Address(203, 0, 113, 10)) : try! IPAddress(parsing: "2001:db8::10")
    }

    func checkServices(_ options: Options) -> ServiceChecks {
        var checks = ServiceChecks(endpoints: ResultBuilder(.serviceEndpoints, options: options),
                                   reply: ResultBuilder(.serviceReply, options: options),
                                   source: ResultBuilder(.sourcePreserved, options: options))
        // The pod network as the nodes hold it (their podCIDRs).
        let podNetwork = cluster.nodes.flatMap(\.podCIDRs)
        var podByIP: [IPAddress: Pod] = [:]
        for p in cluster.pods where !p.hostNetwork && !p.isTerminal { for ip in p.ips { podByIP[ip] = p } }
        let inCluster = Set(podByIP.keys).union(cluster.nodes.flatMap(\.internalIPs))
        for family in cluster.settings.families {
            var senders: [Sender] = [], receivers: [Receiver] = [], entries: [ServiceEntry] = []
            var podGroups: [String: [Int]] = [:], nodeSender: [String: Int] = [:]
            for p in cluster.pods where !p.hostNetwork && !p.isTerminal && p.nodeName != nil {
                guard let ip = p.ip(family) else { continue }
                podGroups[p.nodeName!, default: []].append(senders.count)
                senders.append(Sender(source: .pod(p), address: ip, label: "pod/\(p.key)"))
            }
            for n in cluster.nodes {
                guard let ip = n.internalIP(family) else { continue }
                nodeSender[n.name] = senders.count
                senders.append(Sender(source: .node(n), address: ip, label: "node/\(n.name)"))
            }
            func outside(_ ip: IPAddress, via node: String) -> Int {
                senders.append(Sender(source: .external(ip), address: ip, via: node, label: "external/\(ip) via node/\(node)"))
                return senders.count - 1
            }
            for svc in cluster.services where !svc.headless && svc.externalName == nil {
                for sp in svc.ports {
                    let intended = IntendedEndpoints(service: svc, port: sp, family: family, cluster: cluster, podByIP: podByIP)
                    for a in intended.stale {
                        checks.endpoints.violated(Violation(
                            packetClass: "service/\(svc.key):\(sp.port)",
                            why: "endpoint \(a) of Service \(svc.key) is inside the pod range but no pod holds it: its traffic goes nowhere the Service meant",
                            trace: nil))
                    }
                    func add(_ receiver: Receiver, senders s: [Int], local node: String?, sourceAllowed: Bool = true, pods: Bool = false) {
                        let chosen = intended.chosen(localTo: node)
                        var entry = ServiceEntry(receiver: receivers.count, senders: s, intended: Set(chosen.map { SocketAddress($0.address, port: $0.port) }),
                                                 refusal: .rejected, refusalWhy: "Service \(svc.key) has no endpoints", podSenders: pods, proto: sp.protocol)
                        if !sourceAllowed {
                            entry.intended = []
                            entry.refusal = .dropped
                            entry.refusalWhy = "the source is outside loadBalancerSourceRanges"
                        } else if chosen.isEmpty && intended.hasAny {
                            entry.refusal = .dropped
                            entry.refusalWhy = "traffic policy Local and no local endpoint on node \(node ?? "?")"
                        }
                        entry.unready = Set(intended.all.filter { !$0.ready }.map(\.address))
                        entry.serving = Set(intended.chosen().map(\.address))
                        entry.outside = entry.intended.filter { !inCluster.contains($0.address) }
                        receivers.append(receiver)
                        entries.append(entry)
                    }
                    let name = "service/\(svc.key):\(sp.port)"
                    if let vip = svc.clusterIP(family) {
                        for n in cluster.nodes {
                            let local = svc.internalTrafficPolicy == .local ? n.name : nil
                            let r = Receiver(address: vip, port: sp.port, pod: nil, service: svc, label: "\(name) (ClusterIP \(vip))")
                            if let pods = podGroups[n.name] { add(r, senders: pods, local: local, pods: true) }
                            if let s = nodeSender[n.name] { add(r, senders: [s], local: local) }
                        }
                    }
                    let local = svc.externalTrafficPolicy == .local
                    // NodePorts, externalIPs and VIPs serve only the Service's own families.
                    let families = !svc.ipFamilies.isEmpty ? svc.ipFamilies : svc.clusterIPs.map(\.family)
                    for n in cluster.nodes where families.isEmpty || families.contains(family) {
                        if svc.usesNodePorts, let np = sp.nodePort, let ip = n.internalIP(family) {
                            add(Receiver(address: ip, port: np, pod: nil, service: svc, label: "node/\(n.name):\(np) (NodePort of \(svc.key))"),
                                senders: [outside(Self.outsideClient(family), via: n.name)], local: local ? n.name : nil)
                        }
                        for ip in svc.externalIPs where ip.family == family {
                            add(Receiver(address: ip, port: sp.port, pod: nil, service: svc, label: "\(name) (externalIP \(ip))"),
                                senders: [outside(Self.outsideClient(family), via: n.name)], local: local ? n.name : nil)
                        }
                        guard svc.type == .loadBalancer else { continue }
                        for ip in svc.loadBalancerIPs where ip.family == family {
                            let r = Receiver(address: ip, port: sp.port, pod: nil, service: svc, label: "\(name) (LoadBalancer \(ip))")
                            let ranges = svc.loadBalancerSourceRanges.filter { $0.family == family }
                            if ranges.isEmpty {
                                add(r, senders: [outside(Self.outsideClient(family), via: n.name)], local: local ? n.name : nil)
                            } else {
                                // One client inside the first allowed range, one outside them all.
                                add(r, senders: [outside(ranges[0].address(at: 1) ?? ranges[0].network, via: n.name)], local: local ? n.name : nil)
                                let outsider = Self.outsideClient(family)
                                if !ranges.contains(where: { $0.contains(outsider) }) {
                                    add(r, senders: [outside(outsider, via: n.name)], local: nil, sourceAllowed: false)
                                }
                            }
                        }
                    }
                }
            }
            let template = ClassExplorer(plane: plane, senders: senders, receivers: receivers, withReply: true, progress: progress)
            let blank = checks.empty
            let frozen = (entries, receivers)
            let parts = Self.inParallel(entries.count) { range in
                var local = blank
                var explorer = template, examples = template
                for e in range {
                    let entry = frozen.0[e]
                    let region = PacketRegion(senders: entry.senders, receivers: [entry.receiver], proto: entry.proto,
                                              destinationPorts: PortRange(frozen.1[entry.receiver].port!), sourcePorts: Self.ephemeralPorts)
                    explorer.explore(region) { c, paths in
                        check(entry, c, paths, &local, &examples, podNetwork: podNetwork)
                    }
                }
                return local
            }
            for p in parts { checks.merge(p) }
        }
        if cluster.settings.kubeProxy.masqueradeAll { checks.source.note("masqueradeAll is on: kube-proxy masquerades every Service connection on purpose") }
        return checks
    }

    /// Checks one class of one entry against the three Service invariants.
    private func check(_ entry: ServiceEntry, _ c: PacketClass, _ paths: [DataplanePath], _ checks: inout ServiceChecks,
                       _ examples: inout ClassExplorer, podNetwork: [Prefix]) {
        checks.endpoints.counted(c)
        checks.reply.counted(c)
        if entry.podSenders { checks.source.counted(c) }
        let live = paths.filter { $0.probability > 0 }
        var reached = Set<SocketAddress>()
        var problems: [String] = []
        // Refused entries: each wrong verdict once, its share summed, where it went.
        var wrong: [PathVerdict: (share: Double, to: [String])] = [:]
        for p in live {
            if entry.intended.isEmpty {
                let ipvsRefusal = p.decidedBy == .node(.ipvs) && p.verdict != .delivered
                if p.verdict != entry.refusal && !ipvsRefusal {
                    wrong[p.verdict, default: (0, [])].share += p.probability
                    if p.verdict == .delivered { wrong[p.verdict]!.to.append("\(p.finalPacket.destination.joined(port: p.finalPacket.destinationPort))") }
                }
                continue
            }
            let at = SocketAddress(p.finalPacket.destination, port: p.finalPacket.destinationPort)
            // An endpoint outside the cluster's nodes and pods (an API server that is not a
            // Node) is reached where the packet leaves the cluster towards it.
            let outside = p.verdict == .leftCluster && entry.outside.contains(at)
            guard p.verdict == .delivered || outside else {
                problems.append("\(p.verdict.rawValue) with probability \(Self.percent(p.probability)): \(p.why ?? "")")
                continue
            }
            if outside {
                checks.reply.note("endpoints outside the cluster's nodes and pods are followed to the cluster's edge; their replies are not traced")
            }
            reached.insert(at)
            if !entry.intended.contains(at) {
                let sameAddress = entry.intended.filter { $0.address == at.address }.map(\.port).sorted()
                let reason = !sameAddress.isEmpty ? "the Service's targetPort on that pod is \(sameAddress.map(String.init).joined(separator: ", "))"
                    : entry.serving.contains(at.address) ? "it is on another node, and the traffic policy is Local"
                    : entry.unready.contains(at.address) ? "its pod is not ready" : "not one of the Service's endpoints"
                problems.append("reached \(at), which is not an intended endpoint of \(c.exampleReceiver.service!.key) (\(reason))")
            }
        }
        for (verdict, w) in wrong.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let to = w.to.isEmpty ? "" : " (to \(w.to.joined(separator: ", ")))"
            problems.append("\(verdict.rawValue) with probability \(Self.percent(w.share))\(to) where it should be \(entry.refusal.rawValue): \(entry.refusalWhy)")
        }
        if !entry.intended.isEmpty {
            for missing in entry.intended.subtracting(reached).sorted(by: { $0.description < $1.description }) {
                problems.append("never reaches endpoint \(missing)")
            }
        }
        if !problems.isEmpty {
            checks.endpoints.violated(Self.serviceViolation(c, problems.joined(separator: "; "), examples: &examples))
        }
        // The reply comes back from the address the client connected to.
        if let p = live.first(where: { $0.verdict == .delivered && $0.reply?.reachedClient != true }) {
            let why = p.reply.map { r in "the reply arrives as \(r.path.finalPacket.source):\(r.path.finalPacket.sourcePort) → \(r.path.finalPacket.destination) (\(r.path.verdict.rawValue)), not from \(c.example.destination):\(c.example.destinationPort)" }
                ?? "the endpoint's reply was not traced back"
            checks.reply.violated(Self.serviceViolation(c, why, examples: &examples))
        }
        // The pod's source survives to endpoints on the pod network, except hairpin and
        // masqueradeAll. An endpoint off the pod network (a node's address, an outside one) is
        // traffic leaving the pod network, which the CNI masquerades on purpose.
        if entry.podSenders, !cluster.settings.kubeProxy.masqueradeAll, case .pod(let sender) = c.exampleSender.source {
            let offNetwork = live.filter { path in path.verdict == .delivered && !podNetwork.contains { $0.contains(path.finalPacket.destination) } }
            if !offNetwork.isEmpty {
                checks.source.note("endpoints off the pod network (node or outside addresses, e.g. the API server behind kubernetes.default) are not checked: traffic leaving the pod network is masqueraded by the CNI on purpose")
            }
            if let p = live.first(where: { path in path.verdict == .delivered && path.finalPacket.source != c.example.source
                && podNetwork.contains { $0.contains(path.finalPacket.destination) }
                && path.deliveredTo != .pod(namespace: sender.namespace, name: sender.name) }) {
                let stepped = examples.exampleTrace(c)?.paths.first { $0.finalPacket == p.finalPacket } ?? p
                checks.source.violated(Violation(packetClass: c.summary, example: c.example,
                                                 why: "the pod's source \(c.example.source) arrives as \(p.finalPacket.source): " + PathExplanation.why(stepped, expected: c, destinationNAT: false),
                                                 trace: examples.exampleTrace(c)))
            }
        }
    }

    static func serviceViolation(_ c: PacketClass, _ why: String, examples: inout ClassExplorer) -> Violation {
        Violation(packetClass: c.summary, example: c.example, why: why, trace: examples.exampleTrace(c))
    }

    /// The kernel's default `net.ipv4.ip_local_port_range`: the source ports clients connect
    /// from. kube-apiserver's NodePort range (30000-32767) stays below it by design.
    static let ephemeralPorts = PortRange(32768, 60999)

    static func percent(_ p: Double) -> String { "\((p * 1000).rounded() / 10)%" }
}
