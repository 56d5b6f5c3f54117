import Wire

/// A rule ready for evaluation: jumps resolved to chain indices, its text built once.
struct PreparedRule: Sendable {
    var matches: [Match]
    var target: Target?
    /// Index of the jump/goto chain in the table.
    var jumpIndex: Int
    /// `-A CHAIN words`, for traces.
    var text: String
    /// The comment, for telling a story about a drop.
    var comment: String?
}

struct PreparedChain: Sendable {
    var name: String
    var policy: Policy?
    var rules: [PreparedRule]
    /// The compiled fast path's index, when the chain was compiled.
    var dispatch: DispatchIndex?
}

struct PreparedTable: Sendable {
    var name: TableName
    var chains: [PreparedChain]
    var builtin: [Hook: Int]
}

/// The ruleset in the shape evaluation needs.
struct PreparedRuleset: Sendable {
    var tables: [TableName: PreparedTable] = [:]

    init(_ rs: Ruleset) {
        for t in rs.tables {
            var chains: [PreparedChain] = []
            var builtin: [Hook: Int] = [:]
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
                                        text: "-A \(c.name)" + (r.words.isEmpty ? "" : " " + r.text), comment: comment)
                }
                chains.append(PreparedChain(name: c.name, policy: c.policy, rules: rules))
            }
            tables[t.name] = PreparedTable(name: t.name, chains: chains, builtin: builtin)
        }
    }
}
