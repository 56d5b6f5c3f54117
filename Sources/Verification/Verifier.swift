import Cluster
import Dataplane
import Netfilter
import Wire

/// Proves the Kubernetes network model's invariants over a cluster's whole header space: every
/// source and destination address, port and protocol, split into classes that the routes and
/// rules treat alike (`ClassExplorer`), each traced once with every random branch followed.
///
/// The classes come from the path conditions of the traces themselves (`HeaderConstants`): a
/// class is the set of packets that meet every test its representative met in the same way,
/// so the representative's answer is every member's. No pod, port or protocol is sampled.
public struct Verifier: Sendable {
    public struct Options: Sendable {
        public var invariants: [Invariant] = Invariant.allCases
        /// Violations reported with an example trace, per invariant (all are counted).
        public var maxExamples = 3
        /// Keep every class (`--explain`).
        public var explain = false
        /// Told of the classes as they are traced.
        public var progress: ClassProgress?

        public init() {}
    }

    public let cluster: Cluster
    var plane: Dataplane
    /// The progress counter of the run under way.
    var progress: ClassProgress?

    /// - Throws: a node's `extraRules` that do not apply (the topology's file and line).
    public init(cluster: Cluster) throws(InputError) {
        self.cluster = cluster
        plane = Dataplane(cluster: cluster)
        try plane.checkExtraRules()
        // Every node's rules (and in IPVS mode its kube-ipvs0 addresses and ipsets) in place
        // once, so that classes read each node as its walks see it.
        try? plane.loadAllRulesInParallel()
    }

    /// Checks each invariant asked for, in the order of `Invariant.allCases`.
    public mutating func verify(_ options: Options) -> VerificationReport {
        let asked = Set(options.invariants)
        progress = options.progress
        var results: [InvariantResult] = []
        var services: ServiceChecks?
        for invariant in Invariant.allCases where asked.contains(invariant) {
            var result = ResultBuilder(invariant, options: options)
            switch invariant {
            case .podToPod: checkPodToPod(&result)
            case .nodeToPod: checkNodeToPod(&result)
            case .hostNetworkToPod: checkHostNetworkToPod(&result)
            case .serviceEndpoints, .serviceReply, .sourcePreserved:
                // One sweep of the Service classes answers all three.
                if services == nil { services = checkServices(options) }
                result = services!.result(invariant)
            case .routing: checkRouting(&result)
            }
            results.append(result.result)
        }
        var notes = ["classes cover every address of every pod, node and Service in the cluster, TCP/UDP/SCTP on ports 1-65535 and ICMP (ICMPv6) echo; each class is traced once as a new connection (no earlier state), every statistic and IPVS branch followed"]
        if cluster.settings.kubeProxy.mode == .ipvs { notes.append("kube-proxy in ipvs mode: the IPVS scheduler's every real server is followed") }
        if services != nil {
            notes.append("Service clients connect from the kernel's ephemeral ports, net.ipv4.ip_local_port_range \(Self.ephemeralPorts.lower)-\(Self.ephemeralPorts.upper) (the default; assumed); outside clients are \(Self.outsideClient(.ipv4)) (and \(Self.outsideClient(.ipv6))), plus one address inside loadBalancerSourceRanges where a Service has them")
        }
        return VerificationReport(results: results, notes: notes)
    }
}

/// Collects one invariant's classes and violations, keeping the first `maxExamples` in full.
struct ResultBuilder: Sendable {
    var result: InvariantResult
    let maxExamples: Int
    let explain: Bool

    init(_ invariant: Invariant, options: Verifier.Options) {
        result = InvariantResult(invariant: invariant, classes: 0, violationCount: 0, violations: [], notes: [], classList: [])
        maxExamples = options.maxExamples
        explain = options.explain
    }

    mutating func counted(_ c: PacketClass) {
        result.classes += 1
        if explain { result.classList.append(c) }
    }

    /// Whether another violation will be shown with its example (so it is worth tracing).
    var wantsExample: Bool { result.violations.count < maxExamples }

    mutating func violated(_ v: @autoclosure () -> Violation) {
        result.violationCount += 1
        if wantsExample { result.violations.append(v()) }
    }

    mutating func note(_ text: String) {
        if !result.notes.contains(text) { result.notes.append(text) }
    }
}

extension PacketClass {
    /// `tcp 3 pods on worker-1 (pod/default/a, …) → 2 pods (…), dport 1-65535`.
    public var summary: String {
        func list(_ xs: [String]) -> String {
            xs.count == 1 ? xs[0] : "\(xs.count) [\(xs.prefix(3).joined(separator: ", "))\(xs.count > 3 ? ", …" : "")]"
        }
        var text = "\(proto) \(list(senders)) → \(list(receivers))"
        if proto.hasPorts {
            text += " dport \(destinationPorts.lower == destinationPorts.upper ? "\(destinationPorts.lower)" : "\(destinationPorts.lower)-\(destinationPorts.upper)")"
            if sourcePorts != PortRange(1, 65535) { text += " sport \(sourcePorts.lower)-\(sourcePorts.upper)" }
        }
        return text
    }
}
