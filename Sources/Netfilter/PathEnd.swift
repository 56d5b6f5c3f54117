/// Where an accepted packet went, as one host sees it.
public enum Delivery: Hashable, Sendable, CustomStringConvertible {
    /// Delivered to this host's own stack (INPUT).
    case local
    /// Sent on through `interface` (after POSTROUTING).
    case out(interface: String)

    /// `local` or `out eth0`, as JSON's `delivered_to` prints it.
    public var description: String {
        switch self {
        case .local: "local"
        case .out(let interface): "out " + interface
        }
    }
}

/// What decided a path's verdict.
public enum Decider: Hashable, Sendable, CustomStringConvertible {
    /// A rule: for drops and rejects the rule that dropped or rejected (or whose jump failed);
    /// for accepted paths the last rule that accepted in a filter-type table.
    case rule(RuleReference)
    /// A chain policy (or, on an accepted path, no filter rule at all).
    case policy
    /// Routing: a martian, no route, forwarding off.
    case routing
    /// Connection tracking (a clash on confirm).
    case conntrack
    /// IPVS (no real server, or its connection's server was deleted).
    case ipvs
    /// Rule evaluation that does not end.
    case loop
    /// An nft rule (a host with an nft ruleset: `NFTChainsHook`).
    case nftRule(NFTRuleReference)

    /// The rule's text, or `policy`, `routing`, `conntrack`, `ipvs`, `loop`: JSON's `decided_by`.
    public var description: String {
        switch self {
        case .rule(let r): r.text
        case .policy: "policy"
        case .routing: "routing"
        case .conntrack: "conntrack"
        case .ipvs: "ipvs"
        case .loop: "loop"
        case .nftRule(let r): r.text
        }
    }
}

/// How a path ended: the verdict, what decided it, and why (for drops and rejects).
public struct PathEnd: Hashable, Sendable {
    public var verdict: Verdict
    public var decidedBy: Decider
    /// Why, for drops and rejects (the rule's comment, a routing problem...).
    public var reason: String?
    /// Why the deciding rule exists, when kdp compiled it (`RuleOrigin`); nil for rules parsed
    /// from a dump and for ends no rule decided.
    public var origin: RuleOrigin?

    public init(_ verdict: Verdict, decidedBy: Decider, reason: String? = nil, origin: RuleOrigin? = nil) {
        self.verdict = verdict
        self.decidedBy = decidedBy
        self.reason = reason
        self.origin = origin
    }
}
