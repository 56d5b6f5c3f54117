import Wire

/// One thing that happened to the packet: a rule that matched (or, verbose, was tried), a
/// policy, a conntrack or routing decision. `packet` is the packet after the step.
public struct TraceStep: Hashable, Sendable {
    public var node: String?
    public var hook: Hook?
    /// What the step is about: a rule (table, chain, number), a policy, conntrack, routing, IPVS.
    public var subject: StepSubject
    /// `-A CHAIN ...` for rules, `policy ACCEPT` for policies, nil otherwise.
    public var text: String?
    /// What happened: `jump KUBE-SVC-X`, `dnat to 10.0.0.1:80`, `accept`, `drop`, `continue`,
    /// `no match` (verbose only), `return`, `policy accept`, `ct new`, `route: forward out eth0`...
    public var action: String
    /// The address rewrite the step made or set up, if any.
    public var rewrite: Rewrite?
    public var packet: Packet

    /// The table, or `conntrack` / `routing` / `ipvs` for steps that are not rules.
    public var table: String { subject.tableName }
    public var chain: String? { subject.chain }
    /// 1-based rule number in the chain, as `iptables -L --line-numbers` counts.
    public var rule: Int? { subject.ruleNumber }
}

/// How one path ended.
public enum Verdict: String, Hashable, Sendable, Codable {
    case accepted, dropped, rejected
}

/// One way the packet can go, with its probability (the product of the probabilistic branches
/// taken; 1 for a deterministic ruleset).
public struct TracePath: Sendable {
    public var probability: Double
    /// The verdict, what decided it, and why.
    public var end: PathEnd
    public var verdict: Verdict { end.verdict }
    /// The rule that decided the verdict, or the policy, routing, conntrack, IPVS.
    public var decidedBy: Decider { end.decidedBy }
    /// Why, for drops and rejects (the rule's comment, a routing problem...).
    public var reason: String? { end.reason }
    /// Why the rule that decided the verdict exists, when kdp compiled it; nil for rules parsed
    /// from text and for verdicts no rule gave.
    public var origin: RuleOrigin? { end.origin }
    /// The translated destination, when DNAT applied.
    public var dnat: SocketAddress?
    /// True when the packet was marked for masquerade or MASQUERADE/SNAT applied.
    public var masquerade: Bool
    /// The translated source, when SNAT/MASQUERADE applied.
    public var snat: SocketAddress?
    /// Delivered to this host, or sent on through an interface; nil when not accepted.
    public var deliveredTo: Delivery?
    public var steps: [TraceStep]
    /// The packet as it leaves the last hook.
    public var finalPacket: Packet
    /// The host after this path: conntrack confirmed, recent lists and counters updated. Feed
    /// it to the next `trace` to follow a connection (a reply is un-NATed from it).
    public var host: Host
    /// How many rules were evaluated on this path.
    public var rulesTried: Int
    /// Whether the path consulted state a later packet could find changed (`statistic`,
    /// `recent`, IPVS): such a path is not reused by replay's flow cache.
    public var consultedState = false
    /// Whether a rule read the packet's TCP flags: a packet with other flags may take another
    /// path, so replay's flow cache reuses this one only for the same flags.
    public var consultedTCPFlags = false
    /// Whether the packet reached the INPUT hook (delivered to this host, or taken there by
    /// IPVS), whether or not steps were recorded.
    public var reachedInput = false
    /// The header constants the path's tests compared with (`TraceOptions.recordConstants`).
    public var constants: HeaderConstants?
}

/// The answer to "where does this packet go and why": every path (one, unless all paths were
/// asked for).
public struct Trace: Sendable {
    public var packet: Packet
    public var paths: [TracePath]
    /// Things the reader must know, such as rules lenient parsing made never-matching.
    public var notes: [String] = []
}
