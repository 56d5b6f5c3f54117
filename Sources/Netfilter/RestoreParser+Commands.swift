/// The command lines of iptables-restore input: `-A`, `-I`, `-D` with a rule, and `-N`, `-X`,
/// `-F`, `-P` on chains.
extension RestoreParser {
    /// One command line of the current table.
    mutating func commandLine(_ ls: Int, _ le: Int, _ table: TableName) throws(RulesetParseError) {
        if let plain = plainAppend(ls, le) {
            // Only the words after the chain are tokenized, into an array of their size.
            let words = try tokenize(plain.rest, le, line: (ls, le))
            return try ruleCommand(plain.command, plain.command, chain: string(plain.chain.0, plain.chain.1),
                                   words: words, body: 0, counters: nil, line: (ls, le))
        }
        let words = try tokenize(ls, le, line: (ls, le))
        var k = 0
        var counters: Counters?
        if let first = words.first, first.text.utf8.first == UInt8(ascii: "["),
           first.text.utf8.count == 1 || first.text.utf8.dropFirst().first! < 0x80 || first.text.hasPrefix("[") {
            guard let c = Ruleset.parseCounters(Substring(first.text)) else { throw fail(first.text, "bad counters") }
            counters = c
            k = 1
        }
        guard k < words.count else { throw fail(sub(ls, le), "empty rule") }
        let command = words[k].text
        let argument = k + 1 < words.count ? words[k + 1].text : nil
        switch command {
        case "-A", "--append", "-I", "--insert", "-D", "--delete":
            guard let chain = argument else { throw fail(command, "needs a chain name") }
            try ruleCommand(command, words[k].printed, chain: chain, words: words, body: k + 2, counters: counters, line: (ls, le))
            return
        case "-N", "--new-chain":
            guard let chain = argument else { throw fail(command, "needs a chain name") }
            try newChain(chain)
        case "-X", "--delete-chain":
            try deleteChain(argument)
        case "-F", "--flush":
            try flush(argument)
        case "-P", "--policy":
            guard let chain = argument else { throw fail(command, "needs a chain name") }
            guard k + 2 < words.count, let p = Policy(rawValue: words[k + 2].text) else {
                throw fail(k + 2 < words.count ? words[k + 2].text : command, "policy is ACCEPT or DROP")
            }
            try setPolicy(chain, p)
        default:
            throw fail(command, "unknown command (expected -A, -I, -D, -N, -X, -F, -P, a chain line or COMMIT)")
        }
        rs.lines.append(.verbatim(string(ls, le)))
    }

    private func tokenize(_ from: Int, _ le: Int, line: (Int, Int)) throws(RulesetParseError) -> [RuleWord] {
        do { return try Tokenizer.words(UnsafeBufferPointer(rebasing: bytes[from..<le]), scratch) } catch {
            throw fail(sub(line.0, line.1), "unterminated quote")
        }
    }

    /// `-N CHAIN`.
    private mutating func newChain(_ chain: String) throws(RulesetParseError) {
        try checkChainName(chain)
        if rs.tables[currentIndex].chainIndex(chain) != nil { throw fail(chain, "chain already exists") }
        _ = rs.tables[currentIndex].ensureChain(chain)
    }

    /// `-X [CHAIN]`: one user chain, or all of them.
    private mutating func deleteChain(_ chain: String?) throws(RulesetParseError) {
        chainCache.reset()
        jumpsComplete = false
        let names = chain.map { [$0] } ?? rs.tables[currentIndex].chains.filter { !$0.isBuiltin }.map(\.name)
        for n in names {
            guard let c = rs.tables[currentIndex].chain(n) else { throw fail(n, "no such chain") }
            if c.isBuiltin { throw fail(n, "cannot delete a built-in chain") }
            rs.tables[currentIndex].deleteChain(n)
        }
    }

    /// `-F [CHAIN]`: one chain's rules, or every chain's.
    private mutating func flush(_ chain: String?) throws(RulesetParseError) {
        jumpsComplete = false
        if let chain {
            guard let i = rs.tables[currentIndex].chainIndex(chain) else { throw fail(chain, "no such chain") }
            rs.tables[currentIndex].chains[i].rules.removeAll()
        } else {
            for i in rs.tables[currentIndex].chains.indices { rs.tables[currentIndex].chains[i].rules.removeAll() }
        }
    }

    /// `-P CHAIN POLICY`, built-in chains only.
    private mutating func setPolicy(_ chain: String, _ policy: Policy) throws(RulesetParseError) {
        guard let i = rs.tables[currentIndex].chainIndex(chain), rs.tables[currentIndex].chains[i].isBuiltin else {
            throw fail(chain, "not a built-in chain")
        }
        rs.tables[currentIndex].chains[i].policy = policy
    }

    /// `-A`, `-I` or `-D CHAIN [n] rule...`: `words[body...]` are the rule's own words.
    private mutating func ruleCommand(_ command: String, _ commandWord: String, chain: String, words: consuming [RuleWord],
                                      body: Int, counters: Counters?, line: (Int, Int)) throws(RulesetParseError) {
        let table = current!
        let ci = try chainIndex(of: chain, table)
        // The chain's own String, equal to the word: the rule's Line then keeps no copy.
        let chain = rs.tables[currentIndex].chains[ci].name
        var body = body
        var position: String?
        var insertAt = 1
        let isAppend = command == "-A" || command == "--append"
        if command == "-I" || command == "--insert", body < words.count, let n = Int(words[body].text) {
            guard n >= 1 else { throw fail(words[body].text, "rule number starts at 1") }
            position = words[body].text
            insertAt = n
            body += 1
        }
        // In place: `words` is not used after this, so no copy is made.
        if body > 0 { words.removeFirst(body) }
        let ruleWords = words
        // Printing needs only the words, counters and spelling of the command.
        rs.lines.append(.rule(chain: chain, words: ruleWords, counters: counters, command: commandWord, position: position))
        guard let rule = try rule(ruleWords, counters: counters, table: table, chain: chain, ci: ci, append: isAppend) else { return }
        if isAppend {
            rs.tables[currentIndex].chains[ci].rules.append(consume rule)
            return
        }
        jumpsComplete = false
        if command == "-I" || command == "--insert" {
            guard insertAt <= rs.tables[currentIndex].chains[ci].rules.count + 1 else { throw fail(position ?? "", "index of insertion too big") }
            rs.tables[currentIndex].chains[ci].rules.insert(rule, at: insertAt - 1)
        } else {
            guard let at = rs.tables[currentIndex].chains[ci].rules.firstIndex(where: { $0.words.map(\.text) == ruleWords.map(\.text) }) else {
                throw fail(sub(line.0, line.1), "no such rule to delete")
            }
            rs.tables[currentIndex].chains[ci].rules.remove(at: at)
        }
    }

    /// The rule these words make (never-matching when lenient and not understood). An
    /// understood `-A` rule goes straight into its chain, made in the append so that it moves
    /// there without a copy, and nil is returned.
    @inline(__always)  // once per rule: keep it in the command loop
    private mutating func rule(_ words: [RuleWord], counters: Counters?, table: TableName, chain: String, ci: Int,
                               append: Bool) throws(RulesetParseError) -> Rule? {
        do {
            let parsed = try parser.parse(words)
            if let j = parsed.jumpChain { pendingJumps.append((j, lineNo, ci)) }
            if jumpsComplete && HookCheck.mayBeRefused(target: parsed.target, matches: parsed.matches) { checkChains.append(ci) }
            let origin = extraRulesAt.map { RuleOrigin(.extraRule(file: $0.file, line: $0.firstLine + lineNo - 1)) }
            if append {
                rs.tables[currentIndex].chains[ci].rules.append(
                    Rule(words: words, counters: counters, matches: parsed.matches, target: parsed.target, line: lineNo, origin: origin))
                return nil
            }
            return Rule(words: words, counters: counters, matches: parsed.matches, target: parsed.target, line: lineNo, origin: origin)
        } catch {
            guard lenient else { throw fail(error.word, error.reason) }
            rs.problems.append(LenientProblem(line: lineNo, table: table, chain: chain, word: error.word, reason: error.reason))
            return Rule(words: words, counters: counters, matches: [.never(reason: "\(error.reason): '\(error.word)'")],
                        target: nil, line: lineNo, unsupported: "\(error.reason): '\(error.word)'")
        }
    }
}
