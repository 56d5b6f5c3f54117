import Netfilter
import Wire

/// How a path through the cluster ended (ARCHITECTURE.md's trace schema).
public enum PathVerdict: String, Sendable, Codable {
    /// Reached the pod, node or external client it was sent to.
    case delivered
    /// Accepted by a node that is not the destination's (for rules-only traces).
    case accepted
    case dropped
    case rejected
    case noRoute = "no-route"
    /// Routed out of the cluster (towards the node network's gateway).
    case leftCluster = "left-cluster"
}

/// One step of a path: a rule that matched on a node, a conntrack or routing decision, or a
/// hop on a wire (veth, bridge, node network, VXLAN tunnel).
public struct DataplaneStep: Sendable {
    public enum Kind: String, Sendable, Codable { case netfilter, link, tunnel, deliver }

    /// What the step is about.
    public enum Subject: Hashable, Sendable {
        /// A node's netfilter: a rule, policy, conntrack, routing or IPVS step at `hook`.
        case netfilter(hook: Hook?, StepSubject)
        /// A hop on a wire: veth, bridge, the node network, leaving the cluster.
        case link
        /// Through a VXLAN tunnel, with its outer header.
        case tunnel(VXLANHeader)
        /// The packet reached its pod, node or client.
        case deliver
    }

    public var subject: Subject
    /// The node (or pod) where the step happened.
    public var node: String?
    /// The rule's text, for netfilter rule and policy steps.
    public var text: String?
    public var action: String
    /// The address rewrite a netfilter step made or set up, if any.
    public var rewrite: Rewrite?
    /// The packet after the step.
    public var packet: Packet
    /// The interfaces the packet crossed in this step, in order (link, tunnel and deliver
    /// steps): where `tcpdump -i DEVICE` would have seen it.
    public var crossings: [InterfaceCrossing]

    init(_ subject: Subject, node: String?, text: String? = nil, action: String, rewrite: Rewrite? = nil, packet: Packet,
         crossings: [InterfaceCrossing] = []) {
        self.subject = subject
        self.node = node
        self.text = text
        self.action = action
        self.rewrite = rewrite
        self.packet = packet
        self.crossings = crossings
    }

    public var kind: Kind {
        switch subject {
        case .netfilter: .netfilter
        case .link: .link
        case .tunnel: .tunnel
        case .deliver: .deliver
        }
    }

    /// The netfilter hook, for netfilter steps.
    public var hook: Hook? {
        if case .netfilter(let hook, _) = subject { hook } else { nil }
    }

    /// The netfilter step's subject (rule, policy, conntrack, routing, IPVS).
    public var netfilter: StepSubject? {
        if case .netfilter(_, let s) = subject { s } else { nil }
    }

    /// The `table` column: the table, or `conntrack` / `routing` / `ipvs`; nil off netfilter.
    public var table: String? { netfilter?.tableName }
    public var chain: String? { netfilter?.chain }
    public var rule: Int? { netfilter?.ruleNumber }

    /// For tunnel steps: the outer header.
    public var outer: VXLANHeader? {
        if case .tunnel(let h) = subject { h } else { nil }
    }
}

/// The outer header of a VXLAN-encapsulated packet (flannel's vxlan backend: UDP 8472, VNI 1).
public struct VXLANHeader: Hashable, Sendable, CustomStringConvertible {
    public var source: IPAddress
    public var destination: IPAddress
    public var port: UInt16
    public var vni: Int

    /// `192.168.0.2 → 192.168.0.3 udp dport 8472 vxlan vni 1`.
    public var description: String { "\(source) → \(destination) udp dport \(port) vxlan vni \(vni)" }
}

/// Where a delivered path ended.
public enum DeliveryTarget: Hashable, Sendable, CustomStringConvertible {
    /// A pod (on the pod network, or a host-network pod on its node).
    case pod(namespace: String, name: String)
    /// A node's own stack.
    case node(String)
    /// The external client a reply went back to.
    case external(IPAddress)

    /// `pod/NS/NAME`, `node/NAME`, `external/IP`: JSON's `delivered_to`.
    public var description: String {
        switch self {
        case .pod(let namespace, let name): "pod/\(namespace)/\(name)"
        case .node(let name): "node/\(name)"
        case .external(let ip): "external/\(ip)"
        }
    }
}

/// What decided a path through the cluster.
public enum PathDecider: Hashable, Sendable, CustomStringConvertible {
    /// A node's netfilter or host routing: the rule, policy, conntrack, IPVS, routing.
    case node(Decider)
    /// The cluster network's routing: no node for a pod, no route, a loop, leaving the cluster.
    case network
    /// kdp itself: a node's compiled rules did not load (a kdp bug).
    case kdp

    /// The rule text, or `policy`, `routing`, `ipvs`, `kdp`...: JSON's `decided_by`.
    public var description: String {
        switch self {
        case .node(let d): d.description
        case .network: "routing"
        case .kdp: "kdp"
        }
    }
}

/// One way the packet can go, end to end.
public struct DataplanePath: Sendable {
    public var probability: Double
    public var verdict: PathVerdict
    /// Why, in words, for anything not delivered.
    public var why: String?
    /// The rule that decided, the policy, or routing.
    public var decidedBy: PathDecider
    public var dnat: SocketAddress?
    public var masquerade: Bool
    public var snat: SocketAddress?
    /// The pod, node or external client reached; nil when not delivered.
    public var deliveredTo: DeliveryTarget?
    public var steps: [DataplaneStep]
    /// The packet as it arrived (or was last seen).
    public var finalPacket: Packet
    /// The reply and its way back, when asked for and the request was delivered.
    public var reply: ReplyPath?
    /// Times a node sent the packet out of an interface on the way (each is a router hop:
    /// the TTL drops by one).
    public var nodeTransmissions = 0
    /// The nodes whose netfilter the packet walked, in order, with its conntrack tuple there.
    public var visits: [NodeVisit] = []
    /// Whether any node's walk consulted state a later packet could find changed (`statistic`,
    /// `recent`, IPVS).
    public var consultedState = false
    /// Whether any node's rules read the packet's TCP flags (replay's flow cache then reuses
    /// the path only for the same flags).
    public var consultedTCPFlags = false
    /// The header constants the path's tests compared with, request and reply, as fields of
    /// the request (`Request.recordConstants`): the path condition `kdp verify` classes from.
    public var constants: HeaderConstants?
}

/// One node's walk of a packet: which node, the packet's conntrack tuple as it arrived there,
/// and whether that node already tracked the connection.
public struct NodeVisit: Hashable, Sendable {
    public var node: Int
    public var tuple: ConntrackTuple
    public var knownBefore: Bool
}

/// The reply's path (a class: a path holds its reply, which is itself a path).
public final class ReplyPath: Sendable {
    public let path: DataplanePath
    /// True when it reached the client, coming from the address the client sent to.
    public let reachedClient: Bool

    init(path: DataplanePath, reachedClient: Bool) {
        self.path = path
        self.reachedClient = reachedClient
    }
}

/// Everything kdp found out about one packet.
public struct DataplaneTrace: Sendable {
    public var source: String
    public var destination: String
    public var packet: Packet
    public var paths: [DataplanePath]
    public var notes: [String]
}
