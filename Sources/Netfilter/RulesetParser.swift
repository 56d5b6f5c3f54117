extension Ruleset {
    /// Parses iptables-save or iptables-restore text.
    ///
    /// Accepted lines: `*table`, `:CHAIN POLICY [p:b]`, `[p:b] -A CHAIN ...`, `-I CHAIN [n] ...`,
    /// `-N`, `-X`, `-F`, `-P`, `-D CHAIN ...`, `COMMIT`, `#` comments and blank lines.
    ///
    /// Like iptables-restore (iptables/iptables-restore.c), a `*table` line starts the table
    /// empty, so a table named twice keeps only its last section; with `noflush` (as
    /// kube-proxy's `iptables-restore --noflush`) it continues instead. Either way a `:CHAIN`
    /// line for an existing user chain empties it; a built-in chain line only sets the policy.
    ///
    /// - Parameter lenient: a rule with a word kdp does not understand is kept, never matches,
    ///   and is listed in `problems`, instead of failing the parse. Structural errors (no table,
    ///   missing COMMIT, unknown chain) still throw.
    public static func parse(text: String, file: String = "<input>", lenient: Bool = false,
                             noflush: Bool = false) throws(RulesetParseError) -> Ruleset {
        var rs = Ruleset()
        var parser = RuleParser()
        var current: TableName?
        var pendingJumps: [(chain: String, line: Int)] = []
        var lineNo = 0

        func fail(_ word: some StringProtocol, _ reason: String) -> RulesetParseError {
            RulesetParseError(file: file, line: lineNo, word: String(word), reason: reason)
        }

        let utf8 = text.utf8
        var lineStart = utf8.startIndex
        while lineStart < utf8.endIndex {
            lineNo += 1
            // Split on bytes: Character-wise scanning costs more than everything else here.
            let nl = utf8[lineStart...].firstIndex(of: 10) ?? utf8.endIndex
            let line = Substring(utf8[lineStart..<nl])
            lineStart = nl < utf8.endIndex ? utf8.index(after: nl) : nl
            var firstByte: UInt8 = 0
            var blankPrefix = 0
            for b in line.utf8 {
                if b == 32 || b == 9 { blankPrefix += 1; continue }
                firstByte = b
                break
            }
            if firstByte == 0 || firstByte == UInt8(ascii: "#") {
                rs.lines.append(.verbatim(String(line)))
                continue
            }
            let trimmed = blankPrefix == 0 ? line : line.dropFirst(blankPrefix)
            if trimmed.hasPrefix("*") {
                if let c = current { throw fail(line, "table \(c.rawValue) is not finished with COMMIT") }
                guard trimmed == line, let t = TableName(rawValue: String(trimmed.dropFirst())) else {
                    throw fail(line, "unknown table")
                }
                current = t
                rs.withTable(t) { table in if !noflush { table = Table(name: t) } }
                rs.lines.append(.table(t))
                continue
            }
            if line == "COMMIT" {
                guard let t = current else { throw fail(line, "COMMIT outside a table") }
                for j in pendingJumps where rs.table(t)?.chainIndex(j.chain) == nil {
                    lineNo = j.line
                    throw fail(j.chain, "jump to a chain that does not exist in table \(t.rawValue)")
                }
                pendingJumps.removeAll()
                if let table = rs.table(t), let problem = HookCheck.firstProblem(in: table) {
                    throw RulesetParseError(file: file, line: problem.line, word: problem.word, reason: problem.reason)
                }
                rs.lines.append(.commit)
                current = nil
                continue
            }
            guard let table = current else { throw fail(trimmed.prefix { $0 != " " }, "rule outside a table (no *table line before it)") }

            if line.hasPrefix(":") {
                let parts = line.utf8.dropFirst().split(separator: 32, omittingEmptySubsequences: true).map { Substring($0) }
                guard parts.count == 2 || parts.count == 3 else { throw fail(line, "chain line is ':NAME POLICY [packets:bytes]'") }
                let name = String(parts[0])
                try checkChainName(name, fail)
                var counters: Counters?
                if parts.count == 3 {
                    guard let c = parseCounters(parts[2]) else { throw fail(parts[2], "bad counters") }
                    counters = c
                }
                let isBuiltin = table.builtinChains.contains { $0.rawValue == name }
                var policy: Policy?
                if parts[1] == "-" {
                    if isBuiltin { throw fail(parts[1], "a built-in chain needs a policy") }
                } else {
                    guard isBuiltin else { throw fail(parts[1], "a user chain has no policy (write '-')") }
                    guard let p = Policy(rawValue: String(parts[1])) else { throw fail(parts[1], "policy is ACCEPT or DROP") }
                    policy = p
                }
                rs.withTable(table) { t in
                    let i = t.ensureChain(name)
                    if !isBuiltin { t.chains[i].rules.removeAll() }
                    if let policy { t.chains[i].policy = policy }
                    t.chains[i].counters = counters
                }
                rs.lines.append(.chain(name: name, policy: policy, counters: counters))
                continue
            }

            var words: [RuleWord]
            switch Tokenizer.words(line) {
            case .success(let w): words = w
            case .failure: throw fail(line, "unterminated quote")
            }
            var k = 0
            var counters: Counters?
            if let first = words.first, first.text.hasPrefix("[") {
                guard let c = parseCounters(Substring(first.text)) else { throw fail(first.text, "bad counters") }
                counters = c
                k = 1
            }
            guard k < words.count else { throw fail(line, "empty rule") }
            let command = words[k].text
            func chainArg() throws(RulesetParseError) -> String {
                guard k + 1 < words.count else { throw fail(command, "needs a chain name") }
                return words[k + 1].text
            }
            switch command {
            case "-A", "--append", "-I", "--insert", "-D", "--delete":
                let chain = try chainArg()
                let ti = rs.tables.firstIndex { $0.name == table }!
                guard let ci = rs.tables[ti].chainIndex(chain) else { throw fail(chain, "no such chain in table \(table.rawValue)") }
                var body = k + 2
                var position: String?
                var insertAt = 1
                if command == "-I" || command == "--insert", body < words.count, let n = Int(words[body].text) {
                    guard n >= 1 else { throw fail(words[body].text, "rule number starts at 1") }
                    position = words[body].text
                    insertAt = n
                    body += 1
                }
                let commandWord = words[k].printed
                var ruleWords = words
                ruleWords.removeFirst(body)
                var rule: Rule
                do {
                    let parsed = try parser.parse(ruleWords)
                    rule = Rule(words: ruleWords, counters: counters, matches: parsed.matches, target: parsed.target, line: lineNo)
                    if let j = parsed.jumpChain { pendingJumps.append((j, lineNo)) }
                } catch {
                    guard lenient else { throw fail(error.word, error.reason) }
                    rule = Rule(words: ruleWords, counters: counters, matches: [.never(reason: "\(error.reason): '\(error.word)'")],
                                target: nil, line: lineNo, unsupported: "\(error.reason): '\(error.word)'")
                    rs.problems.append(LenientProblem(line: lineNo, table: table, chain: chain, word: error.word, reason: error.reason))
                }
                switch command {
                case "-A", "--append":
                    rs.tables[ti].chains[ci].rules.append(rule)
                case "-I", "--insert":
                    guard insertAt <= rs.tables[ti].chains[ci].rules.count + 1 else { throw fail(position ?? "", "index of insertion too big") }
                    rs.tables[ti].chains[ci].rules.insert(rule, at: insertAt - 1)
                default:
                    guard let at = rs.tables[ti].chains[ci].rules.firstIndex(where: { $0.words.map(\.text) == ruleWords.map(\.text) }) else {
                        throw fail(line, "no such rule to delete")
                    }
                    rs.tables[ti].chains[ci].rules.remove(at: at)
                }
                rs.lines.append(.rule(chain: chain, words: rule.words, counters: rule.counters, command: commandWord, position: position))
            case "-N", "--new-chain":
                let chain = try chainArg()
                try checkChainName(chain, fail)
                let exists = rs.table(table)?.chainIndex(chain) != nil
                if exists { throw fail(chain, "chain already exists") }
                rs.withTable(table) { _ = $0.ensureChain(chain) }
                rs.lines.append(.verbatim(String(line)))
            case "-X", "--delete-chain":
                let chain = k + 1 < words.count ? words[k + 1].text : nil
                let failure: RulesetParseError? = rs.withTable(table) { t in
                    let names = chain.map { [$0] } ?? t.chains.filter { !$0.isBuiltin }.map(\.name)
                    for n in names {
                        guard let c = t.chain(n) else { return fail(n, "no such chain") }
                        if c.isBuiltin { return fail(n, "cannot delete a built-in chain") }
                        t.deleteChain(n)
                    }
                    return nil
                }
                if let failure { throw failure }
                rs.lines.append(.verbatim(String(line)))
            case "-F", "--flush":
                let chain = k + 1 < words.count ? words[k + 1].text : nil
                let failure: RulesetParseError? = rs.withTable(table) { t in
                    if let chain {
                        guard let i = t.chainIndex(chain) else { return fail(chain, "no such chain") }
                        t.chains[i].rules.removeAll()
                    } else {
                        for i in t.chains.indices { t.chains[i].rules.removeAll() }
                    }
                    return nil
                }
                if let failure { throw failure }
                rs.lines.append(.verbatim(String(line)))
            case "-P", "--policy":
                let chain = try chainArg()
                guard k + 2 < words.count, let p = Policy(rawValue: words[k + 2].text) else {
                    throw fail(k + 2 < words.count ? words[k + 2].text : command, "policy is ACCEPT or DROP")
                }
                let failure: RulesetParseError? = rs.withTable(table) { t in
                    guard let i = t.chainIndex(chain), t.chains[i].isBuiltin else { return fail(chain, "not a built-in chain") }
                    t.chains[i].policy = p
                    return nil
                }
                if let failure { throw failure }
                rs.lines.append(.verbatim(String(line)))
            default:
                throw fail(command, "unknown command (expected -A, -I, -D, -N, -X, -F, -P, a chain line or COMMIT)")
            }
        }
        if let c = current {
            throw RulesetParseError(file: file, line: lineNo, word: "*" + c.rawValue, reason: "table is not finished with COMMIT")
        }
        rs.endsWithNewline = text.isEmpty || text.hasSuffix("\n")
        return rs
    }

    private static func checkChainName(_ name: String, _ fail: (String, String) -> RulesetParseError) throws(RulesetParseError) {
        // XT_EXTENSION_MAXNAMELEN is 29 with the NUL; iptables rejects names starting with '-'
        // or '!' and names with blanks.
        guard !name.isEmpty, name.utf8.count <= 28, !name.hasPrefix("-"), !name.hasPrefix("!"),
              !name.contains(" "), !name.contains("\t")
        else { throw fail(name, "invalid chain name") }
    }

    private static func parseCounters(_ s: Substring) -> Counters? {
        guard s.hasPrefix("["), s.hasSuffix("]") else { return nil }
        let inner = s.utf8.dropFirst().dropLast().split(separator: 58, omittingEmptySubsequences: false)
        guard inner.count == 2, let p = UInt64(Substring(inner[0])), let b = UInt64(Substring(inner[1])) else { return nil }
        return Counters(packets: p, bytes: b)
    }
}
