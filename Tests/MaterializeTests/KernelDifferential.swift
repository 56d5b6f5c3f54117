import Cluster
import Dataplane
import Foundation
import Materialize
import Netfilter
import TestSupport
import Wire

/// The kernel differential's machinery (KernelDifferentialTests): a cluster materialized with
/// an external client network, echo servers in its pods (and in nodes for host-network pods),
/// probe classes (every sender × every address and port it can send to), real probes, kdp's
/// trace of each class, the comparison and the χ² fit.
final class KernelDifferential {
    /// Who sends: a pod, a node or the external client (from `bind`).
    struct Sender {
        var namespace: String
        var source: TraceSource
        /// The address the probe binds; "" lets the kernel's route choose (kdp's `outputSource`).
        var bind: String
        var kind: String
    }

    /// Where to: an address, port and protocol, with the kind of address.
    struct Target {
        var address: IPAddress
        var port: UInt16
        var proto: IPProtocol
        var kind: String
        var service: Service?
    }

    /// One observable result, in the probe's terms.
    struct Outcome: Hashable, CustomStringConvertible {
        /// ok, refused, timeout, unreachable (or reset, error: never expected).
        var verdict: String
        /// `pod/NS/NAME` or `node/NAME` (the server that answered).
        var target: String = ""
        /// The source address the server saw.
        var seen: String = ""
        /// The address the reply came from.
        var replyFrom: String = ""
        var description: String {
            verdict == "ok" ? "answered by \(target), which saw \(seen), reply from \(replyFrom)" : verdict
        }
    }

    /// A distinct packet: sender, target and (for external senders) the node the fabric hands it to.
    struct ProbeClass {
        var sender: Sender
        var target: Target
        var via: String?
        /// The state unit of session affinity: (client address as the DNAT node sees it, DNAT
        /// node, Service port), for Services with ClientIP affinity.
        var affinityKey: String?
        var description: String {
            "\(target.proto) from \(sender.source.description)\(sender.bind.isEmpty ? "" : " (\(sender.bind))") to \(target.kind) \(target.address):\(target.port)"
                + (via.map { " (the fabric routes it to node \($0))" } ?? "")
        }
    }

    struct Sent {
        var classIndex: Int
        var probe: KernelProbes.Probe
        var primer: Bool
        var result: KernelProbes.Result?
        /// kdp's outcomes of this probe's packet and their probabilities.
        var expected: [Outcome: Double] = [:]
    }

    let cluster: Cluster
    let names: MaterializeNames
    let label: String
    var plane: Dataplane
    var classes: [ProbeClass] = []
    var sent: [Sent] = []
    var servers: [KernelProbes.Server] = []
    let directory: URL
    static let externalClients = ["203.0.113.10", "203.0.113.200", "198.18.7.7"]
    /// Seconds a probe waits for its answer: TCP retransmits its SYN once (at 1 s), UDP sends
    /// its datagram three times, 0.5 s apart, on the same 5-tuple.
    static let timeout = 2.2

    init(cluster: Cluster, label: String) throws {
        self.cluster = cluster
        self.label = label
        names = MaterializeNames(prefix: "kdp-kd\(UInt32.random(in: 0...UInt32.max))-")
        plane = Dataplane(cluster: cluster)
        directory = try KernelProbes.install()
    }

    /// Where the fabric routes each VIP while pods and nodes send (the external client's
    /// rounds, afterwards, move them).
    var vipRoutes: [IPAddress: String] = [:]

    func materialize() throws {
        let clients = Self.externalClients.map { try! IPAddress(parsing: $0) }
        let external = ExternalNetwork.spreading(clients: clients, over: cluster)
        for r in external.vipRoutes { vipRoutes[r.vip] = r.node }
        _ = try Materializer.build(cluster, prefix: names.prefix, external: external)
        // The kernel rate-limits the ICMP errors a node sends (per destination, a token bucket
        // of 6 every icmp_ratelimit ms; icmp_ratemask picks the types): a burst of probes that
        // a REJECT rule refuses from one client would see some refusals turn into timeouts.
        // kdp traces packets one at a time and models no clock for ICMP, so the lab's nodes
        // send every ICMP error (icmp_ratemask=0), as a lightly loaded node does.
        for node in cluster.nodes {
            try Shell.sh("sysctl -q -w net.ipv4.icmp_ratemask=0", in: names.node(node.name))
        }
    }

    /// Stops the servers and removes every namespace of the prefix (and the scripts).
    func cleanUp() {
        for s in servers { s.stop() }
        servers = []
        _ = try? Materializer.delete(prefix: names.prefix)
        let left = (try? Shell.sh("ip netns list")) ?? ""
        for line in left.split(separator: "\n") {
            let n = String(line.split(separator: " ").first ?? "")
            if n.hasPrefix(names.prefix) { _ = try? Shell.run(["ip", "netns", "del", n]) }
        }
        try? FileManager.default.removeItem(at: directory)
    }

    func leftovers() -> [String] {
        ((try? Shell.sh("ip netns list")) ?? "").split(separator: "\n").map { String($0.split(separator: " ").first ?? "") }
            .filter { $0.hasPrefix(names.prefix) }
    }

    static func protoName(_ p: IPProtocol) -> String { p == .udp ? "udp" : "tcp" }

    /// The ports a pod serves: its container ports and every numeric target port of a
    /// Service that selects it (a server must listen where kdp delivers).
    func servedPorts(_ pod: Pod) -> Set<String> {
        var ports = Set(pod.ports.filter { $0.protocol == .tcp || $0.protocol == .udp }.map { "\(Self.protoName($0.protocol)) \($0.containerPort)" })
        for s in cluster.services where s.namespace == pod.namespace {
            guard let selector = s.selector, !selector.isEmpty, selector.allSatisfy({ pod.labels[$0.key] == $0.value }) else { continue }
            for p in s.ports where p.protocol == .tcp || p.protocol == .udp {
                if case .number(let n) = p.targetPort { ports.insert("\(Self.protoName(p.protocol)) \(n)") }
            }
        }
        return ports
    }

    /// The ports of EndpointSlice endpoints at a node's address (the `kubernetes` Service's
    /// API server): a node serves them.
    func nodeEndpointPorts(_ node: Node) -> Set<String> {
        var ports = Set<String>()
        for slice in cluster.endpointSlices where slice.endpoints.contains(where: { !Set($0.addresses).isDisjoint(with: node.internalIPs) }) {
            for p in slice.ports {
                guard let port = p.port, let proto = p.protocol ?? .tcp as IPProtocol?, proto == .tcp || proto == .udp else { continue }
                ports.insert("\(Self.protoName(proto)) \(port)")
            }
        }
        return ports
    }

    func startServers() throws {
        for pod in cluster.pods where !pod.hostNetwork && pod.nodeName != nil {
            let ports = servedPorts(pod).sorted()
            guard !ports.isEmpty else { continue }
            let spec = ports.map { p -> (String, Int, String) in
                let parts = p.split(separator: " ")
                return (String(parts[0]), Int(parts[1])!, "pod/\(pod.key)")
            }
            servers.append(try KernelProbes.Server(directory: directory, namespace: names.pod(namespace: pod.namespace, name: pod.name), ports: spec))
        }
        for node in cluster.nodes {
            let ports = Set(cluster.pods.filter { $0.hostNetwork && $0.nodeName == node.name }.flatMap(servedPorts)).union(nodeEndpointPorts(node)).sorted()
            guard !ports.isEmpty else { continue }
            let spec = ports.map { p -> (String, Int, String) in
                let parts = p.split(separator: " ")
                return (String(parts[0]), Int(parts[1])!, "node/\(node.name)")
            }
            servers.append(try KernelProbes.Server(directory: directory, namespace: names.node(node.name), ports: spec))
        }
    }

    /// Senders: the given pods, every node, and the external client from each of its addresses.
    func senders(pods: [Pod]) -> [Sender] {
        var out: [Sender] = []
        for pod in pods where !pod.hostNetwork {
            out.append(Sender(namespace: names.pod(namespace: pod.namespace, name: pod.name), source: .pod(pod), bind: "", kind: "pod"))
        }
        for node in cluster.nodes {
            out.append(Sender(namespace: names.node(node.name), source: .node(node), bind: "", kind: "node"))
        }
        for c in Self.externalClients {
            out.append(Sender(namespace: names.external, source: .external(try! IPAddress(parsing: c)), bind: c, kind: "external"))
        }
        return out
    }

    /// Every address and port worth a probe: pods' ports, host-network pods' ports on their
    /// nodes, ClusterIPs, NodePorts on every node, external IPs and LoadBalancer IPs.
    func targets() -> [Target] {
        var out: [Target] = []
        for pod in cluster.pods where pod.nodeName != nil {
            guard let ip = pod.ip(.ipv4) else { continue }
            for p in servedPorts(pod).sorted() {
                let parts = p.split(separator: " ")
                out.append(Target(address: ip, port: UInt16(parts[1])!, proto: parts[0] == "udp" ? .udp : .tcp,
                                  kind: pod.hostNetwork ? "host-network pod" : "pod"))
            }
        }
        for s in cluster.services where s.type != .externalName {
            for p in s.ports where p.protocol == .tcp || p.protocol == .udp {
                if !s.headless { for ip in s.clusterIPs where ip.family == .ipv4 { out.append(Target(address: ip, port: p.port, proto: p.protocol, kind: "ClusterIP", service: s)) } }
                if let np = p.nodePort, s.usesNodePorts {
                    for n in cluster.nodes { if let ip = n.internalIP(.ipv4) { out.append(Target(address: ip, port: np, proto: p.protocol, kind: "NodePort", service: s)) } }
                }
                for ip in s.externalIPs where ip.family == .ipv4 { out.append(Target(address: ip, port: p.port, proto: p.protocol, kind: "externalIP", service: s)) }
                for ip in s.loadBalancerIPs where ip.family == .ipv4 { out.append(Target(address: ip, port: p.port, proto: p.protocol, kind: "LoadBalancer", service: s)) }
            }
        }
        // A pod ports the same address twice (a Service's ClusterIP listed once per port): unique.
        var seen = Set<String>()
        return out.filter { seen.insert("\($0.proto) \($0.address) \($0.port)").inserted }
    }

    /// The classes: pods and nodes to every target; the external client to NodePorts,
    /// external IPs and LoadBalancer IPs through each node in turn.
    func makeClasses(pods: [Pod]) {
        let all = targets()
        for sender in senders(pods: pods) {
            if sender.kind == "external" {
                for t in all where ["NodePort", "externalIP", "LoadBalancer"].contains(t.kind) {
                    if t.kind == "NodePort" {
                        let node = cluster.nodes.first { $0.internalIPs.contains(t.address) }!.name
                        classes.append(ProbeClass(sender: sender, target: t, via: node))
                    } else {
                        for n in cluster.nodes { classes.append(ProbeClass(sender: sender, target: t, via: n.name)) }
                    }
                }
            } else {
                for t in all { classes.append(ProbeClass(sender: sender, target: t, via: nil)) }
            }
        }
    }

    func request(_ c: ProbeClass, sourcePort: UInt16, steps: Bool) throws -> Dataplane.Request {
        let destination = try TraceTargetParser.destination("\(c.target.address):\(c.target.port)", from: c.sender.source, in: cluster)
        var r = Dataplane.Request(source: c.sender.source, destination: destination)
        r.proto = c.target.proto
        r.sourcePort = sourcePort
        r.via = c.via
        r.allPaths = true
        r.reply = true
        r.recordSteps = steps
        return r
    }

    /// The pod or node a delivered path reached, as the echo servers name themselves.
    func targetName(_ d: DeliveryTarget?) -> String {
        switch d {
        case .pod(let ns, let name)?:
            if let p = cluster.pods.first(where: { $0.namespace == ns && $0.name == name }), p.hostNetwork, let n = p.nodeName { return "node/\(n)" }
            return "pod/\(ns)/\(name)"
        case .node(let n)?: return "node/\(n)"
        case .external(let ip)?: return "external/\(ip)"
        case nil: return "?"
        }
    }

    /// What a kdp path predicts the probe sees.
    func outcome(_ path: DataplanePath, proto: IPProtocol) -> Outcome {
        switch path.verdict {
        case .delivered:
            let seen = "\(path.finalPacket.source)"
            let target = targetName(path.deliveredTo)
            guard let reply = path.reply else { return Outcome(verdict: "no reply traced") }
            if reply.reachedClient { return Outcome(verdict: "ok", target: target, seen: seen, replyFrom: "\(reply.path.finalPacket.source)") }
            // A UDP reply that reaches the client's host from another address still reaches the
            // unconnected socket; a TCP one does not complete the handshake.
            if proto == .udp, reply.path.verdict == .delivered {
                return Outcome(verdict: "ok", target: target, seen: seen, replyFrom: "\(reply.path.finalPacket.source)")
            }
            return Outcome(verdict: "timeout")
        case .rejected: return Outcome(verdict: "refused")
        case .dropped: return Outcome(verdict: "timeout")
        case .noRoute, .leftCluster: return Outcome(verdict: "unreachable or timeout")
        case .accepted: return Outcome(verdict: "accepted (not delivered)")
        }
    }

    /// kdp's outcomes of a packet of class `c` from `sourcePort`, with their probabilities
    /// (every path), and the trace.
    func expectation(_ c: ProbeClass, sourcePort: UInt16, steps: Bool) throws -> ([Outcome: Double], DataplaneTrace) {
        let trace = try plane.trace(try request(c, sourcePort: sourcePort, steps: steps))
        var expected: [Outcome: Double] = [:]
        for p in trace.paths {
            // A packet that leaves the cluster for a VIP comes back in: the fabric routes
            // the VIP to a node, as a cloud load balancer does (the external client's view).
            if p.verdict == .leftCluster, let node = vipRoutes[p.finalPacket.destination] {
                var onward = c
                onward.sender = Sender(namespace: c.sender.namespace, source: .external(p.finalPacket.source), bind: "", kind: "outside")
                onward.via = node
                var r = try request(onward, sourcePort: p.finalPacket.sourcePort, steps: false)
                r.destination = TraceDestination(address: p.finalPacket.destination, port: p.finalPacket.destinationPort, spec: "\(p.finalPacket.destination):\(p.finalPacket.destinationPort)")
                for q in try plane.trace(r).paths { expected[outcome(q, proto: c.target.proto), default: 0] += p.probability * q.probability }
                continue
            }
            expected[outcome(p, proto: c.target.proto), default: 0] += p.probability
        }
        return (expected, trace)
    }

    /// kdp's trace of every probe (all paths, with their probabilities, from the probe's own
    /// source port), and for Services with ClientIP affinity the class's affinity key, from
    /// the DNAT step of its first probe's trace.
    func traceProbes() throws {
        var keyed = Set<Int>()
        for j in sent.indices {
            let i = sent[j].classIndex
            let c = classes[i]
            let first = keyed.insert(i).inserted
            let sticky = first && c.target.service?.sessionAffinity == .clientIP
            let (expected, trace) = try expectation(c, sourcePort: UInt16(sent[j].probe.sourcePort), steps: sticky)
            sent[j].expected = expected
            if sticky, let s = c.target.service {
                // The recent lists hold the source as the DNAT node sees it: after any SNAT
                // on the way (flannel masquerades a pod's packet to another node's address).
                let dnat = Set(trace.paths.compactMap { p -> String? in
                    guard let step = p.steps.first(where: { if case .dnat? = $0.rewrite { true } else { false } }) else { return nil }
                    return "\(step.packet.source) at \(step.node ?? "?")"
                })
                let servicePort = s.ports.first { $0.port == c.target.port && $0.protocol == c.target.proto }?.name
                    ?? s.ports.first { $0.nodePort == c.target.port }?.name ?? "?"
                if dnat.count == 1 {
                    classes[i].affinityKey = "\(dnat.first!) for \(s.key):\(servicePort)"
                }
            }
        }
    }

    /// The kernel's outcome of a probe.
    static func kernelOutcome(_ r: KernelProbes.Result?) -> Outcome {
        guard let r else { return Outcome(verdict: "missing") }
        switch r.kind {
        case "ok":
            let parts = r.payload.split(separator: " ")
            let seen = parts.count == 2 ? String(parts[1].split(separator: ":").first ?? "") : r.payload
            let from = String(r.replyFrom.split(separator: ":").first ?? "")
            return Outcome(verdict: "ok", target: parts.first.map(String.init) ?? "", seen: seen, replyFrom: from)
        case "refused", "timeout": return Outcome(verdict: r.kind)
        case "unreachable": return Outcome(verdict: "unreachable", target: r.payload)
        default: return Outcome(verdict: "\(r.kind) \(r.payload)")
        }
    }

    static func agrees(_ kernel: Outcome, _ expected: [Outcome: Double]) -> Bool {
        if expected[kernel, default: 0] > 0 { return true }
        if expected[Outcome(verdict: "unreachable or timeout"), default: 0] > 0, kernel.verdict == "unreachable" || kernel.verdict == "timeout" { return true }
        return false
    }

    /// kdp's trace of a class, with steps, in words: for a mismatch's report.
    func explain(_ c: ProbeClass, sourcePort: UInt16) -> String {
        var plane = Dataplane(cluster: cluster)
        guard let req = try? request(c, sourcePort: sourcePort, steps: true), let trace = try? plane.trace(req) else { return "  (kdp could not trace it)" }
        var lines = ["  kdp's trace: \(trace.source) → \(trace.destination), packet \(trace.packet.source):\(trace.packet.sourcePort) → \(trace.packet.destination):\(trace.packet.destinationPort)"]
        for (n, p) in trace.paths.enumerated() {
            lines.append("  path \(n + 1): p=\(p.probability) \(p.verdict.rawValue) to \(p.deliveredTo?.description ?? "-") decided by \(p.decidedBy)"
                         + (p.why.map { " (\($0))" } ?? "") + (p.dnat.map { " dnat \($0)" } ?? "") + (p.masquerade ? " masquerade" : "")
                         + " final \(p.finalPacket.source):\(p.finalPacket.sourcePort) → \(p.finalPacket.destination):\(p.finalPacket.destinationPort)")
            for s in p.steps { lines.append("    [\(s.node ?? "-")] \(s.hook.map { "\($0)" } ?? "") \(s.table ?? "") \(s.chain ?? "") \(s.rule.map(String.init) ?? "") \(s.action)") }
            if let r = p.reply {
                lines.append("    reply: \(r.path.verdict.rawValue) reachedClient=\(r.reachedClient) final \(r.path.finalPacket.source):\(r.path.finalPacket.sourcePort) → \(r.path.finalPacket.destination)"
                             + (r.path.why.map { " (\($0))" } ?? ""))
                for s in r.path.steps { lines.append("      [\(s.node ?? "-")] \(s.hook.map { "\($0)" } ?? "") \(s.table ?? "") \(s.chain ?? "") \(s.rule.map(String.init) ?? "") \(s.action)") }
            }
        }
        for n in trace.notes { lines.append("  note: \(n)") }
        return lines.joined(separator: "\n")
    }
}
