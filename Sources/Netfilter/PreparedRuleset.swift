import Wire

/// A rule ready for evaluation: jumps resolved to chain indices, its text built once. A class,
/// so that the walk holds one reference instead of copying four.
final class PreparedRule: Sendable {
    let matches: [Match]
    let target: Target?
    /// Index of the jump/goto chain in the table.
    let jumpIndex: Int
    /// `-A CHAIN words`, for traces.
    let text: String
    /// The comment, for telling a story about a drop.
    let comment: String?
    /// Why the rule exists, when kdp compiled it (read only when the rule ends a path).
    let origin: RuleOrigin?

    init(matches: [Match], target: Target?, jumpIndex: Int, text: String, comment: String?, origin: RuleOrigin? = nil) {
        self.matches = matches
        self.target = target
        self.jumpIndex = jumpIndex
        self.text = text
        self.comment = comment
        self.origin = origin
    }
}

final class PreparedChain: Sendable {
    let name: String
    let policy: Policy?
    let rules: [PreparedRule]
    /// The rules as flat records (`QuickRule`), parallel to `rules`: what an IPv4 walk reads.
    let quick: [QuickRule]
    /// Every rule's matches that its record does not cover, rule after rule.
    let residual: [QuickRule.Residual]
    /// The compiled fast path's index, when the chain was compiled.
    let dispatch: DispatchIndex?

    init(name: String, policy: Policy?, rules: [PreparedRule], compiled: Bool) {
        self.name = name
        self.policy = policy
        self.rules = rules
        var residual: [QuickRule.Residual] = []
        self.quick = rules.map { QuickRule($0, residual: &residual) }
        self.residual = residual
        self.dispatch = compiled && rules.count >= DispatchIndex.minimumRules ? DispatchIndex(rules) : nil
    }

    /// The first rule at or after `from` that may match (`from` itself for a chain without an
    /// index). A method, so the walk borrows the index instead of copying it (and its arrays'
    /// references) for every rule it skips.
    @inline(__always)
    func candidate(from: Int, packet: Packet) -> Int {
        dispatch?.next(from: from, packet: packet) ?? from
    }
}

/// Tables by name in a fixed array: a walk looks one up per hook and table, so no hashing.
struct TableSlots: Sendable {
    private var slots: [PreparedTable?] = Array(repeating: nil, count: TableName.allCases.count)

    static func index(_ t: TableName) -> Int {
        switch t {
        case .raw: 0
        case .mangle: 1
        case .nat: 2
        case .filter: 3
        case .security: 4
        }
    }

    subscript(_ t: TableName) -> PreparedTable? {
        get { slots[Self.index(t)] }
        set { slots[Self.index(t)] = newValue }
    }
}

/// Built-in chain indices by hook, in a fixed array.
struct HookSlots: Sendable {
    private var slots = [Int](repeating: -1, count: Hook.allCases.count)

    static func index(_ h: Hook) -> Int {
        switch h {
        case .prerouting: 0
        case .input: 1
        case .forward: 2
        case .output: 3
        case .postrouting: 4
        }
    }

    subscript(_ h: Hook) -> Int? {
        get { let i = slots[Self.index(h)]; return i < 0 ? nil : i }
        set { slots[Self.index(h)] = newValue ?? -1 }
    }
}

final class PreparedTable: Sendable {
    let name: TableName
    let chains: [PreparedChain]
    let builtin: HookSlots

    init(name: TableName, chains: [PreparedChain], builtin: HookSlots) {
        self.name = name
        self.chains = chains
        self.builtin = builtin
    }
}

/// The ruleset in the shape evaluation needs.
struct PreparedRuleset: Sendable {
    var tables = TableSlots()

    init(_ rs: Ruleset, compiled: Bool = false) {
        for t in rs.tables {
            var chains: [PreparedChain] = []
            var builtin = HookSlots()
            for (ci, c) in t.chains.enumerated() {
                if let h = Hook(rawValue: c.name), t.name.builtinChains.contains(h) { builtin[h] = ci }
                let rules = c.rules.map { r -> PreparedRule in
                    var jump = -1
                    switch r.target {
                    case .jump(let n), .goto(let n): jump = t.chainIndex(n) ?? -1
                    default: break
                    }
                    var comment: String?
                    for m in r.matches { if case .comment(let s) = m { comment = s } }
                    return PreparedRule(matches: r.matches, target: r.target, jumpIndex: jump,
                                        text: "-A \(c.name)" + (r.words.isEmpty ? "" : " " + r.text), comment: comment,
                                        origin: r.origin)
                }
                chains.append(PreparedChain(name: c.name, policy: c.policy, rules: rules, compiled: compiled))
            }
            tables[t.name] = PreparedTable(name: t.name, chains: chains, builtin: builtin)
        }
    }
}
