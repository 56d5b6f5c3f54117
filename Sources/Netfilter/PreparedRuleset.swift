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

/// A chain ready for evaluation: its flat `QuickRule` records stored in the object itself,
/// right after a small header, so entering a chain the packet has not touched costs one cache
/// miss (object and first records together) instead of one for the object and one for a
/// separate array. Immutable once made; shared by every path and thread that walks the table.
final class PreparedChain: ManagedBuffer<PreparedChain.Header, QuickRule> {
    /// The chain's fields, count first: the walk reads it with the first records.
    struct Header {
        let count: Int
        /// The compiled fast path's index, when the chain was compiled.
        let dispatch: DispatchIndex?
        /// `dispatch`, unretained: the walk asks it for the next rule without touching its
        /// reference count (the header keeps it alive).
        let dispatchRef: Unmanaged<DispatchIndex>?
        /// Every rule's matches that its record does not cover, rule after rule, in storage the
        /// chain owns (`residualCount` of them, freed in `deinit`): the walk reads them through
        /// the pointer, where an array read from the header was a retain and a release per rule
        /// evaluated.
        let residual: UnsafeMutablePointer<QuickRule.Residual>
        let residualCount: Int
        let rules: [PreparedRule]
        let name: String
        let policy: Policy?
    }

    /// Prepares `rules`; with `compiled`, a chain of at least `DispatchIndex.minimumRules` rules
    /// with keyed rules gets an index.
    static func make(name: String, policy: Policy?, rules: [PreparedRule], compiled: Bool) -> PreparedChain {
        var residual: [QuickRule.Residual] = []
        let quick = rules.map { QuickRule($0, residual: &residual) }
        let dispatch = compiled && rules.count >= DispatchIndex.minimumRules ? DispatchIndex(rules) : nil
        let residualStorage = UnsafeMutablePointer<QuickRule.Residual>.allocate(capacity: max(1, residual.count))
        residualStorage.initialize(from: residual, count: residual.count)
        let made = create(minimumCapacity: quick.count) { _ in
            Header(count: quick.count, dispatch: dispatch, dispatchRef: dispatch.map { Unmanaged.passUnretained($0) }, residual: residualStorage, residualCount: residual.count, rules: rules, name: name, policy: policy)
        }
        let chain = unsafeDowncast(made, to: PreparedChain.self)
        chain.withUnsafeMutablePointerToElements { elements in
            for (i, q) in quick.enumerated() { (elements + i).initialize(to: q) }
        }
        return chain
    }

    deinit {
        _ = withUnsafeMutablePointers { h, e in
            e.deinitialize(count: h.pointee.count)
            h.pointee.residual.deinitialize(count: h.pointee.residualCount)
            h.pointee.residual.deallocate()
        }
    }

    // The header is read through its pointer: `header` is a class `var` of ManagedBuffer, and
    // each access to it would pay a dynamic exclusivity check (the header never changes).
    @inline(__always)
    private func read<T>(_ field: (borrowing Header) -> T) -> T { withUnsafeMutablePointerToHeader { field($0.pointee) } }

    var count: Int { read { $0.count } }
    var name: String { read { $0.name } }
    var policy: Policy? { read { $0.policy } }
    var rules: [PreparedRule] { read { $0.rules } }
    /// The residual matches (a `QuickRule`'s `residualStart ..< residualStart + residualCount`),
    /// borrowed from the chain's storage: no copy of a match, no retain of its payload. Valid
    /// while the chain lives.
    @inline(__always)
    var residual: UnsafePointer<QuickRule.Residual> { read { UnsafePointer($0.residual) } }
    var dispatch: DispatchIndex? { read { $0.dispatch } }
    @inline(__always)
    var dispatchRef: Unmanaged<DispatchIndex>? { read { $0.dispatchRef } }

    /// The flat record of rule `i` (`0 ..< count`, which the walk checks before asking).
    @inline(__always)
    func quick(_ i: Int) -> QuickRule {
        withUnsafeMutablePointerToElements { $0[i] }
    }
}

/// Tables by name in a fixed array: a walk looks one up per hook and table, so no hashing.
struct TableSlots: Sendable {
    private var slots: [PreparedTable?] = Array(repeating: nil, count: TableName.allCases.count)
    /// The same tables unretained, for the walk (`withBuiltin`): `slots` keeps them alive.
    private var unretained: [Unmanaged<PreparedTable>?] = Array(repeating: nil, count: TableName.allCases.count)

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
        set {
            slots[Self.index(t)] = newValue
            unretained[Self.index(t)] = newValue.map { Unmanaged.passUnretained($0) }
        }
    }

    /// Calls `body` with table `t` and its built-in chain for `hook`, when the table has that
    /// chain, and says whether it did. The table is lent unretained: reading it out of `slots`
    /// was a retain and a release per hook and table of every packet.
    @inline(__always)
    func withBuiltin(_ t: TableName, _ hook: Hook, _ body: (PreparedTable, Int) -> Void) -> Bool {
        guard let table = unretained[Self.index(t)] else { return false }
        return table._withUnsafeGuaranteedRef { table in
            guard let chain = table.builtin[hook] else { return false }
            body(table, chain)
            return true
        }
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

/// Unchecked: its chains are `ManagedBuffer`s, which the standard library marks non-Sendable;
/// they are immutable after `PreparedChain.make`, so sharing them between threads is safe.
final class PreparedTable: @unchecked Sendable {
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

    /// Prepares every table of `rs`. With a `store`, chains are numbered cluster-wide and every
    /// chain whose content another ruleset of the store already prepared is that same object
    /// (`PreparedChainStore`); without one, chains are numbered in their table's order.
    init(_ rs: Ruleset, compiled: Bool = false, store: PreparedChainStore? = nil) {
        for t in rs.tables {
            if let store {
                tables[t.name] = store.prepare(t, compiled: compiled)
                continue
            }
            var chains: [PreparedChain] = []
            var builtin = HookSlots()
            for (ci, c) in t.chains.enumerated() {
                if let h = Hook(rawValue: c.name), t.name.builtinChains.contains(h) { builtin[h] = ci }
                chains.append(Self.prepare(c, compiled: compiled) { t.chainIndex($0) ?? -1 })
            }
            tables[t.name] = PreparedTable(name: t.name, chains: chains, builtin: builtin)
        }
    }

    /// One chain, its jumps resolved by `chainIndex` (-1 for a chain the table lacks).
    static func prepare(_ c: Chain, compiled: Bool, chainIndex: (String) -> Int) -> PreparedChain {
        let rules = c.rules.map { r -> PreparedRule in
            var jump = -1
            switch r.target {
            case .jump(let n), .goto(let n): jump = chainIndex(n)
            default: break
            }
            var comment: String?
            for m in r.matches { if case .comment(let s) = m { comment = s } }
            return PreparedRule(matches: r.matches, target: r.target, jumpIndex: jump,
                                text: "-A \(c.name)" + (r.words.isEmpty ? "" : " " + r.text), comment: comment,
                                origin: r.origin)
        }
        return PreparedChain.make(name: c.name, policy: c.policy, rules: rules, compiled: compiled)
    }
}
