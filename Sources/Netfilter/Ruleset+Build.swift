import Wire

extension Ruleset {
    /// One table's chains and rules, each rule as its arguments (one word each, unquoted), as a
    /// program that writes iptables-restore input holds them before printing.
    public struct TableRules: Sendable {
        public var name: TableName
        /// User chains, in the order they are declared.
        public var chains: [String]
        public var rules: [RuleSpec]

        public init(name: TableName, chains: [String], rules: [RuleSpec]) {
            self.name = name
            self.chains = chains
            self.rules = rules
        }
    }

    /// One rule to build: its chain, its arguments, and why its writer wrote it.
    public struct RuleSpec: Sendable {
        public var chain: String
        public var words: [String]
        public var origin: RuleOrigin?

        public init(chain: String, words: [String], origin: RuleOrigin? = nil) {
            self.chain = chain
            self.words = words
            self.origin = origin
        }
    }

    /// Builds a ruleset from rules given as words, with the same checks as parsing their text
    /// (every word understood, jumps to existing chains, targets valid in the hooks that reach
    /// them) but without printing and re-reading text. Errors name `source` and the rule's
    /// number in its table. Words keep iptables' quoting as their spelling, so traces print
    /// rules as they would be written.
    public static func build(_ tables: [TableRules], source: String) throws(RulesetParseError) -> Ruleset {
        var rs = Ruleset()
        var parser = RuleParser()
        for spec in tables {
            var table = Table(name: spec.name)
            rs.lines.append(.table(spec.name))
            for hook in spec.name.builtinChains { rs.lines.append(.chain(name: hook.rawValue, policy: .accept, counters: nil)) }
            for c in spec.chains {
                table.ensureChain(c)
                rs.lines.append(.chain(name: c, policy: nil, counters: nil))
            }
            var jumps: [(chain: String, line: Int)] = []
            for (i, r) in spec.rules.enumerated() {
                func fail(_ word: String, _ reason: String) -> RulesetParseError {
                    RulesetParseError(file: source, line: i + 1, word: word, reason: reason)
                }
                guard let ci = table.chainIndex(r.chain) else { throw fail(r.chain, "no such chain in table \(spec.name.rawValue)") }
                let words = r.words.map { RuleWord($0, spelling: IPTablesQuoting.restoreSpelling($0)) }
                let parsed: (matches: [Match], target: Target?, jumpChain: String?)
                do { parsed = try parser.parse(words) } catch { throw fail(error.word, error.reason) }
                if let j = parsed.jumpChain { jumps.append((j, i + 1)) }
                table.chains[ci].rules.append(Rule(words: words, matches: parsed.matches, target: parsed.target, line: i + 1,
                                                    origin: r.origin))
                rs.lines.append(.rule(chain: r.chain, words: words, counters: nil, command: "-A", position: nil))
            }
            for j in jumps where table.chainIndex(j.chain) == nil {
                throw RulesetParseError(file: source, line: j.line, word: j.chain, reason: "jump to a chain that does not exist in table \(spec.name.rawValue)")
            }
            if let problem = HookCheck.firstProblem(in: table) {
                throw RulesetParseError(file: source, line: problem.line, word: problem.word, reason: problem.reason)
            }
            rs.tables.append(table)
            rs.lines.append(.commit)
        }
        return rs
    }
}
