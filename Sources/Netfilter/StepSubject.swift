/// A rule as a trace names it: where it sits and how iptables-save prints it.
public struct RuleReference: Hashable, Sendable {
    public var table: TableName
    public var chain: String
    /// 1-based, as `iptables -L --line-numbers` counts.
    public var number: Int
    /// `-A CHAIN ...`, as iptables-save prints the rule.
    public var text: String

    public init(table: TableName, chain: String, number: Int, text: String) {
        self.table = table
        self.chain = chain
        self.number = number
        self.text = text
    }
}

/// What one trace step is about: a rule, a built-in chain's policy, the end of a user chain, a
/// table walk as a whole, or one of the kernel's stages that are not rules (conntrack, the nat
/// hook applying a stored binding, routing, IPVS).
///
/// Built where the step is recorded (only when steps are recorded: `PathState.step` takes it as
/// an autoclosure), so readers switch on it instead of parsing the `table` column back.
public enum StepSubject: Hashable, Sendable {
    /// A rule that matched (or, verbose, was tried).
    case rule(RuleReference)
    /// A built-in chain's policy, applied when its rules ran out.
    case policy(table: TableName, chain: String)
    /// The end of a user chain, an implicit return (verbose traces).
    case chainEnd(table: TableName, chain: String)
    /// A table's walk as a whole (rule evaluation that does not end).
    case table(TableName)
    /// The nat hook rewriting a packet from its connection's stored binding (nf_nat_packet).
    case natBinding
    /// Connection tracking: lookup, a new connection, confirmation, a clash.
    case conntrack
    /// A routing decision: local delivery, forwarding, loopback, transmit, or a routing drop.
    case routing
    /// IPVS's hooks: scheduling, masq forwarding, a reply's rewrite.
    case ipvs
    /// An nft rule (a host with an nft ruleset beside iptables: `NFTChainsHook`).
    case nftRule(NFTRuleReference)
    /// An nft base chain's policy.
    case nftPolicy(table: String, chain: String)

    /// The `table` column of text and JSON: the table's name, or `conntrack`, `routing`, `ipvs`.
    public var tableName: String {
        switch self {
        case .rule(let r): r.table.rawValue
        case .policy(let t, _), .chainEnd(let t, _), .table(let t): t.rawValue
        case .natBinding: TableName.nat.rawValue
        case .conntrack: "conntrack"
        case .routing: "routing"
        case .ipvs: "ipvs"
        case .nftRule(let r): r.table
        case .nftPolicy(let t, _): t
        }
    }

    /// The chain, for rules, policies and chain ends.
    public var chain: String? {
        switch self {
        case .rule(let r): r.chain
        case .policy(_, let c), .chainEnd(_, let c): c
        case .nftRule(let r): r.chain
        case .nftPolicy(_, let c): c
        case .table, .natBinding, .conntrack, .routing, .ipvs: nil
        }
    }

    /// The rule's 1-based number, for rules.
    public var ruleNumber: Int? {
        if case .rule(let r) = self { r.number } else if case .nftRule(let r) = self { r.handle } else { nil }
    }
}
