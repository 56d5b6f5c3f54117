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

/// A rule's IPv4 header conditions (`-s`, `-d`, `-p`) as integers, in one flat array per chain,
/// so a walk can reject most rules by comparing three numbers. These are exactly the checks
/// ip_packet_match does before any match module, so skipping a rule on them has no side
/// effect to miss; the full match list is still evaluated for rules that pass.
struct QuickHeader: Sendable {
    var source: UInt32 = 0, sourceMask: UInt32 = 0, sourceNegated = false
    var destination: UInt32 = 0, destinationMask: UInt32 = 0, destinationNegated = false
    var proto: UInt8 = 0, checksProto = false, protoNegated = false

    init(_ matches: [Match]) {
        for m in matches {
            switch m {
            case .source(let ps, let neg) where ps.count == 1:
                if case .v4(let a) = ps[0].network {
                    source = a.value; sourceMask = UInt32(truncatingIfNeeded: ps[0].mask); sourceNegated = neg
                }
            case .destination(let ps, let neg) where ps.count == 1:
                if case .v4(let a) = ps[0].network {
                    destination = a.value; destinationMask = UInt32(truncatingIfNeeded: ps[0].mask); destinationNegated = neg
                }
            case .proto(let p?, let neg):
                proto = p.rawValue; checksProto = true; protoNegated = neg
            default:
                break
            }
        }
    }

    @inline(__always)
    func admits(source s: UInt32, destination d: UInt32, proto p: UInt8) -> Bool {
        ((s & sourceMask) == source) != sourceNegated
            && ((d & destinationMask) == destination) != destinationNegated
            && (!checksProto || ((p == proto) != protoNegated))
    }
}

struct PreparedChain: Sendable {
    var name: String
    var policy: Policy?
    var rules: [PreparedRule]
    var quick: [QuickHeader]
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
                chains.append(PreparedChain(name: c.name, policy: c.policy, rules: rules, quick: rules.map { QuickHeader($0.matches) }))
            }
            tables[t.name] = PreparedTable(name: t.name, chains: chains, builtin: builtin)
        }
    }
}
