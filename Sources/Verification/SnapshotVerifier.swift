import Cluster
import Dataplane
import Netfilter
import Netlink
import NodeSnapshot
import Wire

/// `kdp verify --snapshot DIR …`: what can be checked from real nodes' snapshots, with the
/// invariants of `kdp verify` where they apply. Each snapshot is one node: its pod CIDR is the
/// subnet of its `cni0` bridge address, its node address the primary address of the interface
/// its default route leaves by. Checks, for every ordered pair of nodes A, B:
/// - `routing`: A routes B's pod CIDR to B: via B's node address (host-gw), or out of a VXLAN
///   device whose next hop has a neighbour entry and an FDB entry pointing at B's node address
///   (flannel's vxlan);
/// - `pod-to-pod`: a pod of A (in on cni0) to a pod of B is forwarded with source and
///   destination unchanged, by A's real rules and routes;
/// and for each node, `masquerade`: a pod's packet to an address outside every pod CIDR and
/// node subnet leaves masqueraded to an address of the node. Each trace is one `kdp trace-rules
/// --snapshot` of A (the first pod address, TCP port 80). Nodes without cni0 are noted and
/// left out. Cost: 2·n² + n traces of one node each.
public struct SnapshotVerification: Sendable {
    public struct Node: Sendable {
        public var directory: String
        public var snapshot: NodeSnapshot
        public var name: String
        public var podCIDR: Prefix
        public var address: IPAddress
    }

    public struct Violation: Sendable {
        public var node: String
        public var peer: String?
        public var text: String
    }

    public struct Check: Sendable {
        /// `routing`, `pod-to-pod` (the invariants of `kdp verify`) or `masquerade`.
        public var name: String
        public var description: String
        public var checked = 0
        public var violations: [Violation] = []
        public var holds: Bool { violations.isEmpty }
    }

    public var nodes: [Node] = []
    public var checks: [Check] = []
    public var notes: [String] = []
    public var holds: Bool { checks.allSatisfy(\.holds) }

    /// An address no cluster range holds, for the masquerade check (TEST-NET-3).
    static let outside = IPAddress.v4(IPv4Address(203, 0, 113, 10))

    public init(snapshots: [(directory: String, snapshot: NodeSnapshot)]) {
        for (dir, snap) in snapshots {
            let model = snap.hostModel()
            guard let bridge = snap.links.first(where: { $0.name == "cni0" }),
                  let cni = snap.addresses.first(where: { $0.interfaceIndex == bridge.index && $0.address.family == .ipv4 }) else {
                notes.append("\(dir): no cni0 bridge with an IPv4 address: its pod CIDR is unknown, node left out")
                continue
            }
            let cidr = Prefix(containing: cni.address, length: cni.prefixLength)
            let host = Host(interfaces: model.interfaces, routes: model.routes)
            guard let out = host.route(to: Self.outside), let address = host.sourceAddress(device: out.device, nextHop: out.nextHop) else {
                notes.append("\(dir): no default route: the node's address is unknown, node left out")
                continue
            }
            let name = snap.meta.netns ?? snap.meta.hostname
            nodes.append(Node(directory: dir, snapshot: snap, name: name, podCIDR: cidr, address: address))
        }
        var routing = Check(name: Invariant.routing.rawValue, description: "every node routes every other node's pod CIDR to that node")
        var podToPod = Check(name: Invariant.podToPod.rawValue, description: "a pod's packet to a pod on another node is forwarded with source and destination unchanged")
        var masquerade = Check(name: "masquerade", description: "a pod's packet to an address outside the cluster leaves masqueraded to the node's address")
        for a in nodes {
            let host = Host(interfaces: a.snapshot.hostModel().interfaces, routes: a.snapshot.hostModel().routes)
            let pod = a.podCIDR.address(at: 2) ?? a.podCIDR.network
            for b in nodes where b.directory != a.directory {
                let target = b.podCIDR.address(at: 2) ?? b.podCIDR.network
                routing.checked += 1
                if let why = Self.routeProblem(from: a, host: host, to: b, target: target) {
                    routing.violations.append(Violation(node: a.name, peer: b.name, text: why))
                }
                podToPod.checked += 1
                switch Self.trace(a, from: pod, to: target) {
                case .failure(let e): podToPod.violations.append(Violation(node: a.name, peer: b.name, text: e.text))
                case .success(let trace):
                    for p in trace.paths {
                        if p.verdict != .accepted || p.deliveredTo == .local || p.deliveredTo == nil {
                            podToPod.violations.append(Violation(node: a.name, peer: b.name, text: "\(pod) → \(target): \(p.verdict.rawValue)\(p.reason.map { ": \($0)" } ?? "")"))
                        } else if p.finalPacket.source != pod || p.finalPacket.destination != target {
                            podToPod.violations.append(Violation(node: a.name, peer: b.name, text: "\(pod) → \(target) leaves as \(p.finalPacket.source) → \(p.finalPacket.destination)\(Self.decider(p))"))
                        }
                    }
                }
            }
            masquerade.checked += 1
            switch Self.trace(a, from: pod, to: Self.outside) {
            case .failure(let e): masquerade.violations.append(Violation(node: a.name, peer: nil, text: e.text))
            case .success(let trace):
                for p in trace.paths {
                    let source = p.finalPacket.source
                    if p.verdict != .accepted {
                        masquerade.violations.append(Violation(node: a.name, peer: nil, text: "\(pod) → \(Self.outside): \(p.verdict.rawValue)\(p.reason.map { ": \($0)" } ?? "")"))
                    } else if source == pod || !host.isLocal(source) {
                        masquerade.violations.append(Violation(node: a.name, peer: nil, text: "\(pod) → \(Self.outside) leaves from \(source), not masqueraded to an address of the node"))
                    }
                }
            }
        }
        checks = [routing, podToPod, masquerade]
        if nodes.count < 2 { notes.append("fewer than two nodes: routing and pod-to-pod have no pair to check") }
    }

    static func decider(_ p: TracePath) -> String {
        guard let step = p.steps.last(where: { $0.rewrite != nil && $0.rule != nil }) else { return "" }
        return " (\(step.table) \(step.chain ?? "") rule \(step.rule!))"
    }

    /// Why A's route to `target` in B's pod CIDR does not lead to B, or nil.
    static func routeProblem(from a: Node, host: Host, to b: Node, target: IPAddress) -> String? {
        guard let r = host.route(to: target) else { return "no route to \(b.name)'s pod CIDR \(b.podCIDR)" }
        if r.nextHop == b.address { return nil }
        guard let link = a.snapshot.links.first(where: { $0.name == r.device }) else { return "route to \(b.podCIDR) out of \(r.device), not a link" }
        guard link.kind == "vxlan" else {
            return "route to \(b.podCIDR) goes \(r.nextHop == target ? "on-link" : "via \(r.nextHop)") out of \(r.device), not via \(b.name)'s address \(b.address)"
        }
        // flannel's vxlan: the next hop (B's VTEP address) has a neighbour entry, whose MAC has an
        // FDB entry sending to B's node address.
        guard let arp = a.snapshot.neighbours.first(where: { !$0.isFDB && $0.interfaceIndex == link.index && $0.destination == r.nextHop }),
              let mac = arp.linkAddress else {
            return "route to \(b.podCIDR) via \(r.nextHop) out of \(r.device): no neighbour entry for \(r.nextHop)"
        }
        guard a.snapshot.neighbours.contains(where: { $0.isFDB && $0.interfaceIndex == link.index && $0.linkAddress == mac && $0.destination == b.address }) else {
            return "route to \(b.podCIDR) out of \(r.device): no FDB entry sends \(mac) to \(b.name)'s address \(b.address)"
        }
        return nil
    }

    struct TraceFailure: Error { var text: String }

    /// One trace on node `a` with its snapshot's interfaces, routes, sysctls and dumps.
    static func trace(_ a: Node, from source: IPAddress, to destination: IPAddress) -> Result<Trace, TraceFailure> {
        guard let rules = a.snapshot.iptablesRules else { return .failure(TraceFailure(text: "\(a.directory)/iptables.rules: missing")) }
        var request = TraceRulesRequest(rulesText: rules, rulesFile: a.directory + "/iptables.rules", ipsetsText: a.snapshot.ipsets,
                                        localAddresses: [], source: source, destination: destination, inInterface: "cni0", lenient: true)
        request.ipvsText = a.snapshot.ipvs
        _ = request.use(a.snapshot, directory: a.directory)
        do { return .success(try request.run(ipsetsFile: a.directory + "/ipsets", ipvsFile: a.directory + "/ipvs")) } catch {
            return .failure(TraceFailure(text: error.description))
        }
    }
}
