import Dataplane
import Netfilter
import Wire

/// The Kubernetes network model's rules kdp proves, by their fixed names (JSON's `name`,
/// `--invariant`).
public enum Invariant: String, CaseIterable, Sendable, Codable {
    /// Every pod reaches every other pod's IP, on any node, port and protocol, unchanged.
    case podToPod = "pod-to-pod"
    /// Each node's own addresses reach every pod on that node without NAT.
    case nodeToPod = "node-to-pod"
    /// Host-network pods reach every pod on every node without NAT.
    case hostNetworkToPod = "hostnetwork-to-pod"
    /// Every Service port reaches exactly its intended endpoints from every entry point.
    case serviceEndpoints = "service-endpoints"
    /// The reply to every Service connection comes back from the address the client used.
    case serviceReply = "service-reply"
    /// Pod-to-Service traffic keeps the pod's source, except where upstream masquerades.
    case sourcePreserved = "source-preserved"
    /// Node pod CIDRs are routed to their nodes, disjoint, inside the cluster CIDR.
    case routing

    /// One line on what must hold.
    public var summary: String {
        switch self {
        case .podToPod: "every pod reaches every other pod, on any node, port and protocol, with source and destination unchanged"
        case .nodeToPod: "each node's own addresses reach every pod on that node without NAT"
        case .hostNetworkToPod: "host-network pods reach every pod on every node without NAT"
        case .serviceEndpoints: "every Service port reaches exactly its intended endpoints, on the right target port, from every entry point"
        case .serviceReply: "the reply to every Service connection reaches the client from the address and port it connected to"
        case .sourcePreserved: "pod-to-Service traffic keeps the pod's source IP, except where upstream masquerades on purpose"
        case .routing: "every node routes every other node's pod CIDR to it; pod CIDRs disjoint, inside the cluster CIDR, clear of node IPs and Service CIDRs"
        }
    }
}

/// One violated class: which packets, one concrete packet with its full trace, and why.
public struct Violation: Sendable {
    /// The class, in words (`tcp 3 pods on worker-1 → 2 pods on worker-2, dport 1-65535`), or
    /// what is inconsistent, for `routing`.
    public var packetClass: String
    /// The concrete packet traced (nil for `routing`'s static findings).
    public var example: Packet?
    /// Why, in words: which rule masqueraded, which route is missing.
    public var why: String
    /// The example's trace, as `kdp trace` shows it (nil for `routing`'s static findings).
    public var trace: DataplaneTrace?
}

/// Whether one invariant holds, over how many classes, and the violations found.
public struct InvariantResult: Sendable {
    public var invariant: Invariant
    /// Classes traced (for `routing`: facts checked).
    public var classes: Int
    /// Classes (or facts) that break the invariant.
    public var violationCount: Int
    /// The first violations, with their examples (`--max-examples`).
    public var violations: [Violation]
    /// What was assumed or left out.
    public var notes: [String]
    /// Every class, when asked for (`--explain`).
    public var classList: [PacketClass]

    public var holds: Bool { violationCount == 0 }
}

/// Everything `kdp verify` found.
public struct VerificationReport: Sendable {
    public var results: [InvariantResult]
    public var notes: [String]
    public var holds: Bool { results.allSatisfy(\.holds) }
}
