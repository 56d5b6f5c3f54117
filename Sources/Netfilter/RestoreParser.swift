/// Reads iptables-save / iptables-restore text line by line, the way iptables-restore.c's
/// command loop does: each line is a comment, a `*table`, a `:CHAIN` declaration, `COMMIT`,
/// or a command (`-A`, `-I`, `-D`, `-N`, `-X`, `-F`, `-P`), and each kind has its own method.
///
/// It works on the text's bytes: lines and words are found by byte scanning and only the words
/// a rule keeps become Strings. The speed tricks (each a named helper with its reason) are
/// `countLines`, `plainAppend`, `chainIndex(of:)`'s cache, the jumps handed to HookCheck at
/// COMMIT (`jumpsComplete`) and `resolveJumps`' memo.
struct RestoreParser {
    let bytes: UnsafeBufferPointer<UInt8>
    /// The same text as `bytes`, for the rare line that needs String semantics.
    let text: String
    let file: String
    let lenient: Bool
    let noflush: Bool

    var rs = Ruleset()
    var parser = RuleParser()
    let scratch = Tokenizer.Scratch()
    /// The table between `*table` and `COMMIT`, and its index in rs.tables (only ever appended).
    var current: TableName?
    var currentIndex = 0
    /// Jumps to user chains seen in the current table, resolved at COMMIT.
    var pendingJumps: [(chain: String, line: Int, from: Int)] = []
    /// Whether the current table's rules are exactly this section's `-A` rules, so that
    /// pendingJumps are all its jumps and HookCheck can take them instead of finding them.
    var jumpsComplete = true
    /// While jumpsComplete: the chains with a rule HookCheck may refuse (the others it skips).
    var checkChains: [Int] = []
    var lineNo = 0
    var chainCache = ChainCache()
    /// `iptables -S` input: the sections (first line and table) found by `ListingScan`; each
    /// starts its table as a `*table` line would and the next one (or the end) commits it.
    var listing: [ListingSection]?
    /// The line where the next listing section starts (Int.max: none), one compare per line.
    var nextSectionLine = Int.max
    var nextSection = 0
    /// Text applied on top of a node's rules (`Ruleset.parse(text:onto:)`): each rule it makes
    /// gets `RuleOrigin(.extraRule(file:line:))`, its line counted from `firstLine` of `file`.
    var extraRulesAt: (file: String, firstLine: Int)?

    init(bytes: UnsafeBufferPointer<UInt8>, text: String, file: String, lenient: Bool, noflush: Bool, base: Ruleset = Ruleset()) {
        self.bytes = bytes
        self.text = text
        self.file = file
        self.lenient = lenient
        self.noflush = noflush
        rs = base
    }

    /// The whole text, line by line.
    mutating func parse() throws(RulesetParseError) -> Ruleset {
        rs.lines.reserveCapacity(countLines() + 1)
        let n = bytes.count
        var lineStart = 0
        if let listing, !listing.isEmpty { nextSectionLine = listing[0].firstLine }
        while lineStart < n {
            lineNo += 1
            let lineEnd = lineEnd(from: lineStart)
            let next = lineEnd < n ? lineEnd + 1 : lineEnd
            if lineNo == nextSectionLine { try startSection(at: lineStart) }
            try line(lineStart, lineEnd, next: next)
            lineStart = next
        }
        if listing != nil && current != nil { try finishTable() }
        if let c = current {
            throw RulesetParseError(file: file, line: lineNo, word: "*" + c.rawValue, reason: "table is not finished with COMMIT")
        }
        rs.endsWithNewline = text.isEmpty || text.hasSuffix("\n")  // Character-wise: "\r\n" is not "\n"
        return rs
    }

    /// One line, bytes[ls..<le]; `next` is where the following line starts.
    private mutating func line(_ ls: Int, _ le: Int, next: Int) throws(RulesetParseError) {
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
            rs.lines.append(.verbatim(string(ls, le)))  // a comment or a blank line
            return
        }
        if firstByte == UInt8(ascii: "*") && startsWithByte(ls + blankPrefix, le) {
            if listing != nil { throw fail(sub(ls, le), "a *table line in iptables -S input (iptables-save and -S output mixed?)") }
            return try tableLine(ls, le, blankPrefix: blankPrefix, next: next)
        }
        if le - ls == 6 && bytes[ls] == UInt8(ascii: "C") && string(ls, le) == "COMMIT" {
            if listing != nil { throw fail("COMMIT", "a COMMIT line in iptables -S input (iptables-save and -S output mixed?)") }
            return try commitLine(ls, le)
        }
        guard let table = current else {
            throw fail(sub(ls, le).dropFirst(blankPrefix).prefix { $0 != " " }, "rule outside a table (no *table line before it)")
        }
        if bytes[ls] == UInt8(ascii: ":") && startsWithByte(ls, le) {
            if listing != nil { throw fail(sub(ls, le), "a :CHAIN line in iptables -S input (iptables-save and -S output mixed?)") }
            return try chainLine(ls, le, table)
        }
        try commandLine(ls, le, table)
    }

    /// `*table`: starts the table empty (or, with `noflush`, continues it).
    private mutating func tableLine(_ ls: Int, _ le: Int, blankPrefix: Int, next: Int) throws(RulesetParseError) {
        if let c = current { throw fail(sub(ls, le), "table \(c.rawValue) is not finished with COMMIT") }
        guard blankPrefix == 0, let t = TableName(rawValue: string(ls + 1, le)) else {
            throw fail(sub(ls, le), "unknown table")
        }
        try beginTable(t, next: next)
    }

    /// Starts table `t` as a `*table` line does; `next` is where the following line starts.
    private mutating func beginTable(_ t: TableName, next: Int) throws(RulesetParseError) {
        current = t
        let flush = !noflush
        rs.withTable(t) { table in if flush { table = Table(name: t) } }
        currentIndex = rs.tables.firstIndex { $0.name == t }!
        chainCache.reset()
        jumpsComplete = rs.tables[currentIndex].chains.allSatisfy { $0.rules.isEmpty }
        checkChains.removeAll()
        let chainLines = countChainLines(from: next)
        if chainLines > 0 { rs.tables[currentIndex].reserveChains(chainLines) }
        rs.lines.append(.table(t))
    }

    /// `COMMIT`: every jump must reach a chain of the table, and every target must be valid in
    /// the hooks that reach it (HookCheck).
    private mutating func commitLine(_ ls: Int, _ le: Int) throws(RulesetParseError) {
        guard current != nil else { throw fail(sub(ls, le), "COMMIT outside a table") }
        try finishTable()
    }

    /// `iptables -S` input: the section starting at this line commits the previous one and
    /// starts its own table, as if `COMMIT` and `*table` lines stood here.
    private mutating func startSection(at lineStart: Int) throws(RulesetParseError) {
        let section = listing![nextSection]
        nextSection += 1
        nextSectionLine = nextSection < listing!.count ? listing![nextSection].firstLine : Int.max
        if current != nil { try finishTable() }
        // A listing has no :CHAIN lines to count: beginTable finds none at a -P line.
        try beginTable(section.table, next: lineStart)
    }

    /// What `COMMIT` does for the current table.
    private mutating func finishTable() throws(RulesetParseError) {
        guard let t = current else { return }
        let table = rs.tables[currentIndex]
        let jumps = try resolveJumps(in: table, named: t)
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
    }

    /// The pending jumps as (from chain, to chain) indexes, kept only while `jumpsComplete`.
    /// The last two names looked up are remembered: KUBE-MARK-MASQ alternates with unique names.
    private mutating func resolveJumps(in table: Table, named t: TableName) throws(RulesetParseError) -> [(from: Int, to: Int)] {
        var jumps: [(from: Int, to: Int)] = []
        if jumpsComplete { jumps.reserveCapacity(pendingJumps.count) }
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
        return jumps
    }

    /// `:NAME POLICY [p:b]`, fields split on spaces only (a tab stays in its field and makes
    /// the name invalid). An existing user chain is emptied; a built-in one gets the policy.
    private mutating func chainLine(_ ls: Int, _ le: Int, _ table: TableName) throws(RulesetParseError) {
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
        try checkChainName(name)
        var counters: Counters?
        if fields.count == 3 {
            guard let c = Ruleset.parseCounters(sub(fields[2].0, fields[2].1)) else {
                throw fail(sub(fields[2].0, fields[2].1), "bad counters")
            }
            counters = c
        }
        let isBuiltin = table.hasBuiltinChain(name)
        var policy: Policy?
        let policyRange = fields[1]
        if policyRange.1 - policyRange.0 == 1 && bytes[policyRange.0] == 45 {
            // `:INPUT - [0:0]`: iptables-restore sets a policy only when it is not "-", so a
            // built-in chain keeps the one it has (ACCEPT in a fresh table).
        } else {
            let word = string(policyRange.0, policyRange.1)
            guard isBuiltin else { throw fail(word, "a user chain has no policy (write '-')") }
            guard let p = Policy(rawValue: word) else { throw fail(word, "policy is ACCEPT or DROP") }
            policy = p
        }
        let i = rs.tables[currentIndex].ensureChain(name)
        if !isBuiltin && !rs.tables[currentIndex].chains[i].rules.isEmpty {
            rs.tables[currentIndex].chains[i].rules.removeAll()
            jumpsComplete = false
        }
        if let policy { rs.tables[currentIndex].chains[i].policy = policy }
        rs.tables[currentIndex].chains[i].counters = counters
        rs.lines.append(.chain(name: name, policy: policy, counters: counters))
    }

    func fail(_ word: some StringProtocol, _ reason: String) -> RulesetParseError {
        RulesetParseError(file: file, line: lineNo, word: String(word), reason: reason)
    }
}
