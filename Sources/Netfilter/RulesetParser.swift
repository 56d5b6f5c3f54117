#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
        var text = text
        text.makeContiguousUTF8()  // a no-op for native strings; bridged ones are copied once
        let source = text
        let result = source.utf8.withContiguousStorageIfAvailable { bytes in
            Result { () throws(RulesetParseError) -> Ruleset in
                try parse(bytes: bytes, text: source, file: file, lenient: lenient, noflush: noflush)
            }
        }
        guard let result else { preconditionFailure("contiguous UTF-8 string without contiguous storage") }
        return try result.get()
    }

    /// The parser proper, on the text's bytes: lines and words are found by byte scanning and
    /// only the words a rule keeps become Strings.
    private static func parse(bytes: UnsafeBufferPointer<UInt8>, text: String, file: String, lenient: Bool,
                              noflush: Bool) throws(RulesetParseError) -> Ruleset {
        var rs = Ruleset()
        var parser = RuleParser()
        let scratch = Tokenizer.Scratch()
        var current: TableName?
        var currentIndex = 0  // of `current` in rs.tables (tables are only ever appended)
        var pendingJumps: [(chain: String, line: Int, from: Int)] = []
        // Whether the current table's rules are exactly this section's `-A` rules, so that
        // pendingJumps are all its jumps and HookCheck can take them instead of finding them.
        var jumpsComplete = true
        // While jumpsComplete: the chains with a rule HookCheck may refuse (the others it skips).
        var checkChains: [Int] = []
        var lineNo = 0
        // The chain of the previous rule: iptables-save writes each chain's rules together and
        // the chains in order, so most rules find theirs here or at the next index without
        // hashing the name. Reset when chain indexes may move (-X, *table).
        var cachedTable = -1, cachedChain = "", cachedIndex = 0

        func fail(_ word: some StringProtocol, _ reason: String) -> RulesetParseError {
            RulesetParseError(file: file, line: lineNo, word: String(word), reason: reason)
        }
        // The text of bytes[a..<b]; a and b are at line or word boundaries (ASCII), so they are
        // also scalar boundaries of `text`.
        func sub(_ a: Int, _ b: Int) -> Substring {
            let u = text.utf8
            return Substring(u[u.index(u.startIndex, offsetBy: a)..<u.index(u.startIndex, offsetBy: b)])
        }
        func string(_ a: Int, _ b: Int) -> String {
            String(decoding: UnsafeBufferPointer(rebasing: bytes[a..<b]), as: UTF8.self)
        }
        // Whether the line's text from byte i (< end) starts with the Character bytes[i], as
        // String.hasPrefix compares: an ASCII byte followed by an ASCII byte (or nothing) is a
        // whole Character; otherwise ask String.
        func startsWithByte(_ i: Int, _ end: Int) -> Bool {
            i + 1 >= end || bytes[i + 1] < 0x80 || sub(i, end).hasPrefix(String(UnicodeScalar(bytes[i])))
        }

        // `-A CHAIN ...` (or `--append`) whose first two words hold no quote, as iptables-save
        // and kube-proxy write every rule: the command, the chain's bytes, and where the rest
        // starts. Tokenizing from there gives the words the whole line would give after these.
        func plainAppend(_ ls: Int, _ le: Int) -> (command: String, chain: (Int, Int), rest: Int)? {
            var p = ls
            while p < le && Tokenizer.isBlank(bytes[p]) { p += 1 }
            let a0 = p
            while p < le && !Tokenizer.isBlank(bytes[p]) && bytes[p] != 34 { p += 1 }
            let command: String
            if p - a0 == 2 && bytes[a0] == 45 && bytes[a0 + 1] == UInt8(ascii: "A") {
                command = "-A"
            } else if p - a0 == 8 && string(a0, p) == "--append" {
                command = "--append"
            } else {
                return nil
            }
            guard p < le, bytes[p] != 34 else { return nil }
            while p < le && Tokenizer.isBlank(bytes[p]) { p += 1 }
            let a1 = p
            while p < le && !Tokenizer.isBlank(bytes[p]) && bytes[p] != 34 { p += 1 }
            guard p > a1, p == le || bytes[p] != 34 else { return nil }
            return (command, (a1, p), p)
        }

        let n = bytes.count
        // The index of the next newline at or after `from`, or n.
        func lineEnd(_ from: Int) -> Int {
            guard let base = bytes.baseAddress, from < n,
                  let hit = memchr(base + from, 10, n - from) else { return n }  // vectorized in libc
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
        // One Line per line: counting them first (memchr) spares the array's growth copies,
        // which for 200,000 rules are tens of megabytes.
        var newlines = 0
        var at = lineEnd(0)
        while at < n { newlines += 1; at = lineEnd(at + 1) }
        rs.lines.reserveCapacity(newlines + 1)
        var lineStart = 0
        while lineStart < n {
            lineNo += 1
            let nl = lineEnd(lineStart)
            let ls = lineStart, le = nl
            lineStart = nl < n ? nl + 1 : nl
            var firstByte: UInt8 = 0
            var blankPrefix = 0
            var p = ls
            while p < le {
                let b = bytes[p]
                if b == 32 || b == 9 { blankPrefix += 1; p += 1; continue }
                firstByte = b
                break
            }
            if firstByte == 0 || firstByte == UInt8(ascii: "#") {
                rs.lines.append(.verbatim(string(ls, le)))
                continue
            }
            if firstByte == UInt8(ascii: "*") && startsWithByte(ls + blankPrefix, le) {
                if let c = current { throw fail(sub(ls, le), "table \(c.rawValue) is not finished with COMMIT") }
                guard blankPrefix == 0, let t = TableName(rawValue: string(ls + 1, le)) else {
                    throw fail(sub(ls, le), "unknown table")
                }
                current = t
                rs.withTable(t) { table in if !noflush { table = Table(name: t) } }
                currentIndex = rs.tables.firstIndex { $0.name == t }!
                cachedTable = -1
                jumpsComplete = rs.tables[currentIndex].chains.allSatisfy { $0.rules.isEmpty }
                checkChains.removeAll()
                // iptables-save declares every chain next: room for them all at once.
                var chainLines = 0
                var q = lineStart
                while q < n && bytes[q] == UInt8(ascii: ":") {
                    chainLines += 1
                    q = lineEnd(q) + 1
                }
                if chainLines > 0 { rs.tables[currentIndex].reserveChains(chainLines) }
                rs.lines.append(.table(t))
                continue
            }
            if le - ls == 6 && bytes[ls] == UInt8(ascii: "C") && string(ls, le) == "COMMIT" {
                guard let t = current else { throw fail(sub(ls, le), "COMMIT outside a table") }
                let table = rs.tables[currentIndex]
                var jumps: [(from: Int, to: Int)] = []
                if jumpsComplete { jumps.reserveCapacity(pendingJumps.count) }
                // The last two names looked up: KUBE-MARK-MASQ alternates with unique names.
                var memo: [(name: String, index: Int)] = [("", -1), ("", -1)]
                for j in pendingJumps {
                    let found: Int?
                    if j.chain == memo[0].name { found = memo[0].index } else if j.chain == memo[1].name {
                        found = memo[1].index
                        memo.swapAt(0, 1)
                    } else {
                        found = table.chainIndex(j.chain)
                        if let found { memo[1] = memo[0]; memo[0] = (j.chain, found) }
                    }
                    guard let to = found else {
                        lineNo = j.line
                        throw fail(j.chain, "jump to a chain that does not exist in table \(t.rawValue)")
                    }
                    if jumpsComplete { jumps.append((j.from, to)) }
                }
                pendingJumps.removeAll()
                var candidates: [Bool]?
                if jumpsComplete {
                    candidates = [Bool](repeating: false, count: table.chains.count)
                    for c in checkChains { candidates![c] = true }
                }
                checkChains.removeAll()
                if let problem = HookCheck.firstProblem(in: table, jumps: jumpsComplete ? jumps : nil, candidates: candidates) {
                    throw RulesetParseError(file: file, line: problem.line, word: problem.word, reason: problem.reason)
                }
                rs.lines.append(.commit)
                current = nil
                continue
            }
            guard let table = current else {
                throw fail(sub(ls, le).dropFirst(blankPrefix).prefix { $0 != " " }, "rule outside a table (no *table line before it)")
            }

            if bytes[ls] == UInt8(ascii: ":") && startsWithByte(ls, le) {
                // `:NAME POLICY [p:b]`, fields split on spaces only (as before: a tab stays in
                // its field and makes the name invalid).
                var fields: [(Int, Int)] = []
                fields.reserveCapacity(4)
                var q = ls + 1
                while q < le && fields.count < 4 {
                    while q < le && bytes[q] == 32 { q += 1 }
                    if q >= le { break }
                    let fs = q
                    while q < le && bytes[q] != 32 { q += 1 }
                    fields.append((fs, q))
                }
                guard fields.count == 2 || fields.count == 3 else { throw fail(sub(ls, le), "chain line is ':NAME POLICY [packets:bytes]'") }
                let name = string(fields[0].0, fields[0].1)
                try checkChainName(name, fail)
                var counters: Counters?
                if fields.count == 3 {
                    guard let c = parseCounters(sub(fields[2].0, fields[2].1)) else {
                        throw fail(sub(fields[2].0, fields[2].1), "bad counters")
                    }
                    counters = c
                }
                let isBuiltin = table.hasBuiltinChain(name)
                var policy: Policy?
                let policyRange = fields[1]
                if policyRange.1 - policyRange.0 == 1 && bytes[policyRange.0] == 45 {
                    if isBuiltin { throw fail("-", "a built-in chain needs a policy") }
                } else {
                    let word = string(policyRange.0, policyRange.1)
                    guard isBuiltin else { throw fail(word, "a user chain has no policy (write '-')") }
                    guard let p = Policy(rawValue: word) else { throw fail(word, "policy is ACCEPT or DROP") }
                    policy = p
                }
                rs.withTable(table) { t in
                    let i = t.ensureChain(name)
                    if !isBuiltin && !t.chains[i].rules.isEmpty { t.chains[i].rules.removeAll(); jumpsComplete = false }
                    if let policy { t.chains[i].policy = policy }
                    t.chains[i].counters = counters
                }
                rs.lines.append(.chain(name: name, policy: policy, counters: counters))
                continue
            }

            var words: [RuleWord]
            var k = 0
            var counters: Counters?
            let command: String
            let commandWord: String
            var chain: String
            var body: Int  // words before the rule's own (counters, command, chain)
            if let plain = plainAppend(ls, le) {
                // Only the words after the chain are tokenized, into an array of their size.
                do { words = try Tokenizer.words(UnsafeBufferPointer(rebasing: bytes[plain.rest..<le]), scratch) } catch {
                    throw fail(sub(ls, le), "unterminated quote")
                }
                command = plain.command
                commandWord = plain.command
                chain = string(plain.chain.0, plain.chain.1)
                body = 0
            } else {
                do { words = try Tokenizer.words(UnsafeBufferPointer(rebasing: bytes[ls..<le]), scratch) } catch {
                    throw fail(sub(ls, le), "unterminated quote")
                }
                if let first = words.first, first.text.utf8.first == UInt8(ascii: "["),
                   first.text.utf8.count == 1 || first.text.utf8.dropFirst().first! < 0x80 || first.text.hasPrefix("[") {
                    guard let c = parseCounters(Substring(first.text)) else { throw fail(first.text, "bad counters") }
                    counters = c
                    k = 1
                }
                guard k < words.count else { throw fail(sub(ls, le), "empty rule") }
                command = words[k].text
                func chainArg() throws(RulesetParseError) -> String {
                    guard k + 1 < words.count else { throw fail(command, "needs a chain name") }
                    return words[k + 1].text
                }
                switch command {
                case "-A", "--append", "-I", "--insert", "-D", "--delete":
                    chain = try chainArg()
                    commandWord = words[k].printed
                    body = k + 2
                case "-N", "--new-chain":
                    let chain = try chainArg()
                    try checkChainName(chain, fail)
                    let exists = rs.tables[currentIndex].chainIndex(chain) != nil
                    if exists { throw fail(chain, "chain already exists") }
                    rs.withTable(table) { _ = $0.ensureChain(chain) }
                    rs.lines.append(.verbatim(string(ls, le)))
                    continue
                case "-X", "--delete-chain":
                    let chain = k + 1 < words.count ? words[k + 1].text : nil
                    cachedTable = -1
                    jumpsComplete = false
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
                    rs.lines.append(.verbatim(string(ls, le)))
                    continue
                case "-F", "--flush":
                    let chain = k + 1 < words.count ? words[k + 1].text : nil
                    jumpsComplete = false
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
                    rs.lines.append(.verbatim(string(ls, le)))
                    continue
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
                    rs.lines.append(.verbatim(string(ls, le)))
                    continue
                default:
                    throw fail(command, "unknown command (expected -A, -I, -D, -N, -X, -F, -P, a chain line or COMMIT)")
                }
            }
            // -A, -I or -D.
            let ti = currentIndex
            let ci: Int
            if cachedTable == ti && cachedChain == chain {
                ci = cachedIndex
            } else if cachedTable == ti, cachedIndex + 1 < rs.tables[ti].chains.count, rs.tables[ti].chains[cachedIndex + 1].name == chain {
                ci = cachedIndex + 1
                cachedChain = rs.tables[ti].chains[ci].name; cachedIndex = ci
            } else {
                guard let i = rs.tables[ti].chainIndex(chain) else { throw fail(chain, "no such chain in table \(table.rawValue)") }
                ci = i
                cachedTable = ti; cachedChain = rs.tables[ti].chains[ci].name; cachedIndex = i
            }
            // The chain's own String, equal to the word: the rule's Line then keeps no copy.
            chain = cachedChain
            var position: String?
            var insertAt = 1
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
            var rule: Rule
            do {
                let parsed = try parser.parse(ruleWords)
                if let j = parsed.jumpChain { pendingJumps.append((j, lineNo, ci)) }
                if jumpsComplete && HookCheck.mayBeRefused(target: parsed.target, matches: parsed.matches) { checkChains.append(ci) }
                if command == "-A" || command == "--append" {
                    // Made in the append: the rule moves into the chain without a copy.
                    rs.tables[ti].chains[ci].rules.append(
                        Rule(words: ruleWords, counters: counters, matches: parsed.matches, target: parsed.target, line: lineNo))
                    continue
                }
                rule = Rule(words: ruleWords, counters: counters, matches: parsed.matches, target: parsed.target, line: lineNo)
            } catch {
                guard lenient else { throw fail(error.word, error.reason) }
                rule = Rule(words: ruleWords, counters: counters, matches: [.never(reason: "\(error.reason): '\(error.word)'")],
                            target: nil, line: lineNo, unsupported: "\(error.reason): '\(error.word)'")
                rs.problems.append(LenientProblem(line: lineNo, table: table, chain: chain, word: error.word, reason: error.reason))
            }
            switch command {
            case "-A", "--append":
                rs.tables[ti].chains[ci].rules.append(consume rule)
            case "-I", "--insert":
                jumpsComplete = false
                guard insertAt <= rs.tables[ti].chains[ci].rules.count + 1 else { throw fail(position ?? "", "index of insertion too big") }
                rs.tables[ti].chains[ci].rules.insert(rule, at: insertAt - 1)
            default:
                jumpsComplete = false
                guard let at = rs.tables[ti].chains[ci].rules.firstIndex(where: { $0.words.map(\.text) == ruleWords.map(\.text) }) else {
                    throw fail(sub(ls, le), "no such rule to delete")
                }
                rs.tables[ti].chains[ci].rules.remove(at: at)
            }
        }
        if let c = current {
            throw RulesetParseError(file: file, line: lineNo, word: "*" + c.rawValue, reason: "table is not finished with COMMIT")
        }
        rs.endsWithNewline = text.isEmpty || text.hasSuffix("\n")  // Character-wise: "\r\n" is not "\n"
        return rs
    }

    private static func checkChainName(_ name: String, _ fail: (String, String) -> RulesetParseError) throws(RulesetParseError) {
        // XT_EXTENSION_MAXNAMELEN is 29 with the NUL; iptables rejects names starting with '-'
        // or '!' and names with blanks.
        let u = name.utf8
        // ASCII (nil when not): every byte is a Character, so byte tests are the String tests below.
        let asciiValid: Bool? = u.withContiguousStorageIfAvailable { b -> Bool? in
            var all: UInt8 = 0, blank = false
            for c in b { all |= c; blank = blank || c == 32 || c == 9 }
            guard all < 0x80 else { return nil }
            return !b.isEmpty && b.count <= 28 && b[0] != 45 && b[0] != 33 && !blank
        } ?? nil
        if let asciiValid {
            guard asciiValid else { throw fail(name, "invalid chain name") }
            return
        }
        guard !name.isEmpty, name.utf8.count <= 28, !name.hasPrefix("-"), !name.hasPrefix("!"),
              !name.contains(" "), !name.contains("\t")
        else { throw fail(name, "invalid chain name") }
    }

    static func parseCounters(_ s: Substring) -> Counters? {
        // `[digits:digits]`, read from the bytes; anything else (signs, non-ASCII) takes the
        // general path below, which decides as before.
        let fast: Counters?? = s.utf8.withContiguousStorageIfAvailable { b -> Counters? in
            guard b.count >= 5, b[0] == 91, b[b.count - 1] == 93 else { return nil }
            var values: (UInt64, UInt64) = (0, 0)
            var field = 0, digits = 0
            for i in 1..<(b.count - 1) {
                let c = b[i]
                if c == 58 {
                    guard field == 0, digits > 0 else { return nil }
                    field = 1; digits = 0; continue
                }
                guard c >= 48 && c <= 57, digits < 19 else { return nil }  // 19 digits cannot overflow
                digits += 1
                if field == 0 { values.0 = values.0 * 10 + UInt64(c - 48) } else { values.1 = values.1 * 10 + UInt64(c - 48) }
            }
            guard field == 1, digits > 0 else { return nil }
            return Counters(packets: values.0, bytes: values.1)
        }
        if let fast, let c = fast { return c }
        guard s.hasPrefix("["), s.hasSuffix("]") else { return nil }
        let inner = s.utf8.dropFirst().dropLast().split(separator: 58, omittingEmptySubsequences: false)
        guard inner.count == 2, let p = UInt64(Substring(inner[0])), let b = UInt64(Substring(inner[1])) else { return nil }
        return Counters(packets: p, bytes: b)
    }
}
