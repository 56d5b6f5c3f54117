import Synchronization

extension Ruleset {
    /// One chain's consecutive rules from one `Piece`, parsed once and shared (copy-on-write)
    /// by every ruleset assembled with it. A class: assembly passes runs around by the
    /// thousand, one reference each.
    public final class SharedRun: Sendable {
        /// Unique within its `SharedChains`: equal ids mean the same table, chain and rules.
        public let id: Int
        let table: TableName
        let chain: String
        let rules: [Rule]
        /// The distinct chains its rules jump or go to, in first-use order.
        let jumpTargets: [String]
        /// Whether some rule could be refused by a hook (`HookCheck.mayBeRefused`).
        let mayBeRefused: Bool
        /// The first rule that did not parse: its index in the run, the word and why.
        let failure: (index: Int, word: String, reason: String)?
        /// The hook masks (`HookCheck.reachingHooks`' bits, as `1 << mask`) under which the
        /// kernel's load-time checks already passed these rules in this chain: a ruleset that
        /// reaches the run from the same hooks need not check its rules again.
        let checkedMasks = Atomic<UInt32>(0)

        init(id: Int, table: TableName, chain: String, rules: [Rule], jumpTargets: [String], mayBeRefused: Bool,
             failure: (index: Int, word: String, reason: String)?) {
            self.id = id
            self.table = table
            self.chain = chain
            self.rules = rules
            self.jumpTargets = jumpTargets
            self.mayBeRefused = mayBeRefused
            self.failure = failure
        }
    }

    /// The chains that many rulesets have in common, built once: each distinct run of rules
    /// (same table, chain, words and origins) is parsed once (`run`), and each distinct
    /// concatenation of runs that a chain fed by several pieces receives (kube-proxy's
    /// KUBE-SERVICES, a hook's jumps) is joined once (`joined`). One store serves a whole
    /// cluster; its lock is held only for lookups, never while parsing.
    ///
    /// Cost: a run is looked up by a hash of its words (each word hashed once per piece built);
    /// a hit compares the words with the stored rules' before it is used.
    public final class SharedChains: Sendable {
        struct JoinKey: Hashable {
            let table: TableName
            let chain: String
            let runs: [Int]
        }

        struct State {
            var runs: [Int: [SharedRun]] = [:]
            var joined: [JoinKey: (rules: [Rule], id: Int)] = [:]
            var nextID = 1
        }

        private let state = Mutex(State())

        public init() {}

        /// How many distinct runs and joined chains the store holds (for tests and reports).
        public var counts: (runs: Int, joined: Int) {
            state.withLock { s in (s.runs.values.reduce(0) { $0 + $1.count }, s.joined.count) }
        }

        /// The run for `specs` (all of `chain` in `table`), parsed on first use.
        func run(_ table: TableName, _ chain: String, _ specs: [RuleSpec]) -> SharedRun {
            var h = Hasher()
            h.combine(table)
            h.combine(chain)
            h.combine(specs.count)
            for s in specs {
                h.combine(s.words.count)
                for w in s.words { h.combine(w) }
                h.combine(s.origin)
            }
            let hash = h.finalize()
            func same(_ r: SharedRun) -> Bool {
                guard r.table == table, r.chain == chain, r.rules.count == specs.count else { return false }
                for (rule, spec) in zip(r.rules, specs) {
                    guard rule.origin == spec.origin, rule.words.count == spec.words.count else { return false }
                    for (w, s) in zip(rule.words, spec.words) where w.text != s { return false }
                }
                return true
            }
            if let hit = state.withLock({ $0.runs[hash]?.first(where: same) }) { return hit }
            var parser = RuleParser()
            var rules: [Rule] = []
            rules.reserveCapacity(specs.count)
            var targets: [String] = []
            var refused = false
            var failure: (index: Int, word: String, reason: String)?
            for (i, r) in specs.enumerated() {
                let words = r.words.map { RuleWord($0, spelling: IPTablesQuoting.restoreSpelling($0)) }
                do {
                    let parsed = try parser.parse(words)
                    if let j = parsed.jumpChain, !targets.contains(j) { targets.append(j) }
                    if HookCheck.mayBeRefused(target: parsed.target, matches: parsed.matches) { refused = true }
                    rules.append(Rule(words: words, matches: parsed.matches, target: parsed.target, origin: r.origin))
                } catch {
                    if failure == nil { failure = (i, error.word, error.reason) }
                    rules.append(Rule(words: words, matches: [], target: nil, origin: r.origin))
                }
            }
            return state.withLock { s in
                if let hit = s.runs[hash]?.first(where: same) { return hit }  // built meanwhile
                let run = SharedRun(id: s.nextID, table: table, chain: chain, rules: rules, jumpTargets: targets,
                                    mayBeRefused: refused, failure: failure)
                s.nextID += 1
                s.runs[hash, default: []].append(run)
                return run
            }
        }

        /// The rules of `runs` one after the other, and their id, joined on first use.
        func joined(_ table: TableName, _ chain: String, _ runs: [SharedRun]) -> (rules: [Rule], id: Int) {
            let key = JoinKey(table: table, chain: chain, runs: runs.map(\.id))
            if let hit = state.withLock({ $0.joined[key] }) { return hit }
            var rules: [Rule] = []
            rules.reserveCapacity(runs.reduce(0) { $0 + $1.rules.count })
            for r in runs { rules += r.rules }
            return state.withLock { s in
                if let hit = s.joined[key] { return hit }
                let value = (rules: rules, id: s.nextID)
                s.nextID += 1
                s.joined[key] = value
                return value
            }
        }
    }

    /// A part of a ruleset written in one go (kube-proxy's lines for a run of Service ports, a
    /// jump list, flanneld's rules): per table, the chains it declares and its rules grouped
    /// into one `SharedRun` per chain, with its lines for printing. Built once from words
    /// (`init`) and assembled into any number of rulesets (`assemble`), which then share its
    /// parsed rules and lines.
    public struct Piece: Sendable {
        /// A class: assembly walks every piece's parts for each table, one reference each.
        final class Part: Sendable {
            let table: TableName
            let declared: [String]
            let runs: [SharedRun]
            /// By run: the index in `declared` of its chain, -1 when another piece declares it
            /// (or a built-in chain): assembly then need not look the name up.
            let runDeclaration: [Int]
            /// By run: its rule count, and whether a rule may be refused by a hook.
            let runRuleCount: [Int]
            let runMayBeRefused: [Bool]
            let hasFailure: Bool
            /// Each run's jump targets declared here: (run, index in `declared`).
            let localJumps: [(run: Int, declaration: Int)]
            /// Each run's other jump targets: (run, chain name).
            let foreignJumps: [(run: Int, chain: String)]
            let declarationLines: [Line]
            let ruleLines: [Line]

            init(table: TableName, declared: [String], runs: [SharedRun], runDeclaration: [Int], runRuleCount: [Int],
                 runMayBeRefused: [Bool], hasFailure: Bool, localJumps: [(run: Int, declaration: Int)],
                 foreignJumps: [(run: Int, chain: String)], declarationLines: [Line], ruleLines: [Line]) {
                self.table = table
                self.declared = declared
                self.runs = runs
                self.runDeclaration = runDeclaration
                self.runRuleCount = runRuleCount
                self.runMayBeRefused = runMayBeRefused
                self.hasFailure = hasFailure
                self.localJumps = localJumps
                self.foreignJumps = foreignJumps
                self.declarationLines = declarationLines
                self.ruleLines = ruleLines
            }
        }

        let parts: [Part]

        /// Groups each table's rules by chain (order kept within a chain) and takes each group's
        /// run from `store`. Parse errors surface when the piece is assembled.
        public init(_ tables: [TableRules], store: SharedChains) {
            parts = tables.map { t in
                var groupIndex: [String: Int] = [:]
                var groups: [(chain: String, specs: [RuleSpec])] = []
                var place: [(group: Int, index: Int)] = []
                place.reserveCapacity(t.rules.count)
                for r in t.rules {
                    let g = groupIndex[r.chain] ?? {
                        groups.append((r.chain, []))
                        groupIndex[r.chain] = groups.count - 1
                        return groups.count - 1
                    }()
                    place.append((g, groups[g].specs.count))
                    groups[g].specs.append(r)
                }
                let runs = groups.map { store.run(t.name, $0.chain, $0.specs) }
                let ruleLines = place.map { p in
                    Line.rule(chain: runs[p.group].chain, words: runs[p.group].rules[p.index].words, counters: nil, command: "-A", position: nil)
                }
                var declaration: [String: Int] = [:]
                for (i, c) in t.chains.enumerated() where declaration[c] == nil { declaration[c] = i }
                var local: [(run: Int, declaration: Int)] = [], foreign: [(run: Int, chain: String)] = []
                for (i, r) in runs.enumerated() {
                    for target in r.jumpTargets {
                        if let d = declaration[target] { local.append((i, d)) } else { foreign.append((i, target)) }
                    }
                }
                return Part(table: t.name, declared: t.chains, runs: runs, runDeclaration: runs.map { declaration[$0.chain] ?? -1 },
                            runRuleCount: runs.map(\.rules.count), runMayBeRefused: runs.map(\.mayBeRefused),
                            hasFailure: runs.contains { $0.failure != nil },
                            localJumps: local, foreignJumps: foreign,
                            declarationLines: t.chains.map { .chain(name: $0, policy: nil, counters: nil) }, ruleLines: ruleLines)
            }
        }
    }

    /// The ruleset `build` would make from the pieces' tables laid end to end (each table's
    /// declarations, then its rules, in piece order), with the same checks, sharing the
    /// pieces' parsed rules: a chain whose rules all come from one piece holds that run's
    /// array; a chain fed by several (a dispatch chain, a hook) holds the store's joined copy.
    /// Rules carry line 0 (built in code); `lines` are kept as the pieces' runs.
    ///
    /// Errors are `build`'s, but their line is the first rule of the run at fault (0 for a
    /// hook check): build the tables whole (`build`) for the exact line.
    ///
    /// Cost: per table, one name hashed per declared chain (declaring it) and per run or
    /// jump target that another piece declares (the rest resolved within their piece), and
    /// the hook check over chain indexes; nothing per rule but the joined chains' first
    /// assembly.
    public static func assemble(_ pieces: [Piece], source: String, store: SharedChains) throws(RulesetParseError) -> Ruleset {
        var rs = Ruleset()
        var tableOrder: [TableName] = []
        for p in pieces { for part in p.parts where !tableOrder.contains(part.table) { tableOrder.append(part.table) } }
        var lineRuns: [[Line]] = []
        for name in tableOrder {
            var table = Table(name: name)
            lineRuns.append([.table(name)] + name.builtinChains.map { .chain(name: $0.rawValue, policy: .accept, counters: nil) })
            var parts: [Piece.Part] = []
            for p in pieces { for part in p.parts where part.table == name { parts.append(part) } }
            table.reserveChains(parts.reduce(0) { $0 + $1.declared.count })
            // Each part's declarations by their index in the table.
            var declarationIndex: [[Int]] = []
            declarationIndex.reserveCapacity(parts.count)
            for part in parts {
                if !part.declarationLines.isEmpty { lineRuns.append(part.declarationLines) }
                declarationIndex.append(part.declared.map { table.ensureChain($0) })
            }
            // Every run with its chain's index, in piece order (as two arrays: the loops below
            // read indexes, not the runs).
            var runChain: [Int] = [], runRef: [SharedRun] = []
            var firstRun: [Int] = []  // by part: the index in `runs` of its first run
            var line = 1
            for (k, part) in parts.enumerated() {
                if !part.ruleLines.isEmpty { lineRuns.append(part.ruleLines) }
                firstRun.append(runChain.count)
                runRef += part.runs
                for i in part.runDeclaration.indices {
                    if part.hasFailure, let f = part.runs[i].failure {
                        throw RulesetParseError(file: source, line: line + f.index, word: f.word, reason: f.reason)
                    }
                    let d = part.runDeclaration[i]
                    guard let ci = d >= 0 ? declarationIndex[k][d] : table.chainIndex(part.runs[i].chain) else {
                        throw RulesetParseError(file: source, line: line, word: part.runs[i].chain, reason: "no such chain in table \(name.rawValue)")
                    }
                    runChain.append(ci)
                    line += part.runRuleCount[i]
                }
            }
            // Each chain's runs in piece order: the first in `first`, any more in `more`.
            var first = [Int](repeating: -1, count: table.chains.count)
            var more: [Int: [Int]] = [:]
            for (i, ci) in runChain.enumerated() {
                if first[ci] < 0 { first[ci] = i } else { more[ci, default: []].append(i) }
            }
            for ci in first.indices where first[ci] >= 0 {
                let head = runRef[first[ci]]
                if let rest = more[ci] {
                    let joined = store.joined(name, head.chain, [head] + rest.map { runRef[$0] })
                    table.chains[ci].rules = joined.rules
                    table.chains[ci].contentID = joined.id
                } else {
                    table.chains[ci].rules = head.rules
                    table.chains[ci].contentID = head.id
                }
            }
            var jumps: [(from: Int, to: Int)] = []
            var lastName = "", lastIndex = -1
            for (k, part) in parts.enumerated() {
                for j in part.localJumps { jumps.append((runChain[firstRun[k] + j.run], declarationIndex[k][j.declaration])) }
                for j in part.foreignJumps {
                    if j.chain != lastName {
                        guard let ti = table.chainIndex(j.chain) else {
                            throw RulesetParseError(file: source, line: 0, word: j.chain,
                                                    reason: "jump to a chain that does not exist in table \(name.rawValue)")
                        }
                        lastName = j.chain
                        lastIndex = ti
                    }
                    jumps.append((runChain[firstRun[k] + j.run], lastIndex))
                }
            }
            // The kernel's load-time checks, on the chains holding a run not yet checked under
            // the hooks that reach it here; passed, each such run remembers the mask.
            let reach = HookCheck.reachingHooks(table, jumps: jumps)
            var candidates = [Bool](repeating: false, count: table.chains.count)
            var checking: [Int] = []
            for (k, part) in parts.enumerated() {
                for i in part.runMayBeRefused.indices where part.runMayBeRefused[i] {
                    let r = firstRun[k] + i, m = reach[runChain[r]]
                    if m != 0 && runRef[r].checkedMasks.load(ordering: .relaxed) & (1 << UInt32(m)) == 0 {
                        candidates[runChain[r]] = true
                        checking.append(r)
                    }
                }
            }
            if !checking.isEmpty {
                if let problem = HookCheck.firstProblem(in: table, jumps: jumps, candidates: candidates) {
                    throw RulesetParseError(file: source, line: problem.line, word: problem.word, reason: problem.reason)
                }
                for r in checking { runRef[r].checkedMasks.bitwiseOr(1 << UInt32(reach[runChain[r]]), ordering: .relaxed) }
            }
            rs.tables.append(table)
            lineRuns.append([.commit])
        }
        if !lineRuns.isEmpty { rs.lineRuns = lineRuns }
        return rs
    }
}
