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

    public var kind: Kind
    /// The node (or pod) where the step happened.
    public var node: String?
    public var hook: String?
    public var table: String?
    public var chain: String?
    public var rule: Int?
    public var text: String?
    public var action: String
    /// The packet after the step.
    public var packet: Packet
    /// For tunnel steps: the outer header.
    public var outer: String?
}

/// One way the packet can go, end to end.
public struct DataplanePath: Sendable {
    public var probability: Double
    public var verdict: PathVerdict
    /// Why, in words, for anything not delivered.
    public var why: String?
    /// The rule text that decided, or "policy" / "routing".
    public var decidedBy: String
    public var dnat: String?
    public var masquerade: Bool
    public var snat: String?
    /// `pod/NS/NAME`, `node/NAME`, `external/IP`, or nil.
    public var deliveredTo: String?
    public var steps: [DataplaneStep]
    /// The packet as it arrived (or was last seen).
    public var finalPacket: Packet
    /// The reply and its way back, when asked for and the request was delivered.
    public var reply: ReplyPath?
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
