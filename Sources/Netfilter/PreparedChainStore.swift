import Synchronization

/// Prepared chains shared between the rulesets of one cluster's nodes, copy-on-write in the
/// sense that a node only prepares what no other node has: the prepared form of a chain (its
/// rule objects with their text, its flat records, its dispatch index) is made once per
/// distinct content (`Chain.contentID`, set by `Ruleset.assemble`) and the same object goes into
/// every node's table.
///
/// For that, chains are numbered cluster-wide, per table name: a chain's index (what jumps and
/// walk frames hold) is the same on every node, so a shared chain's resolved jumps are right
/// for every node that has all of its targets. A node's table is an array over those numbers,
/// with an empty placeholder where it lacks a chain; a chain whose targets a node lacks is
/// prepared for that node alone (its jumps to missing chains resolve to -1, as without a store).
///
/// Thread-safe: `Dataplane.loadAllRulesInParallel` prepares nodes on every core. Cost per node:
/// one interning lookup per chain and one cache lookup per shared chain.
public final class PreparedChainStore: Sendable {
    private struct Key: Hashable {
        var table: TableName
        var contentID: Int
        var compiled: Bool
    }

    private struct State: ~Copyable {
        var numbers: [TableName: [String: Int32]] = [:]
        var chains: [Key: SharedChain] = [:]
    }

    /// Unchecked: a prepared chain is immutable once made.
    private struct SharedChain: @unchecked Sendable {
        let chain: PreparedChain
    }

    private let state = Mutex(State())

    public init() {}

    /// How many chains the store has prepared for sharing (for tests and reports).
    public var sharedChainCount: Int { state.withLock { $0.chains.count } }

    func prepare(_ t: Table, compiled: Bool) -> PreparedTable {
        let table = t.name
        let numbers: [Int32] = state.withLock { s in
            var known = s.numbers[table, default: [:]]
            defer { s.numbers[table] = known }
            return t.chains.map { c in
                if let n = known[c.name] { return n }
                let n = Int32(known.count)
                known[c.name] = n
                return n
            }
        }
        var byName: [String: Int] = [:]
        for (ci, c) in t.chains.enumerated() { byName[c.name] = Int(numbers[ci]) }
        let size = Int(numbers.max() ?? -1) + 1
        let hole = PreparedChain.make(name: "", policy: nil, rules: [], compiled: false)
        var chains = [PreparedChain](repeating: hole, count: size)
        var builtin = HookSlots()
        for (ci, c) in t.chains.enumerated() {
            let number = Int(numbers[ci])
            if let h = Hook(rawValue: c.name), table.builtinChains.contains(h) { builtin[h] = number }
            let targetsExist = c.rules.allSatisfy { r in
                switch r.target {
                case .jump(let n)?, .goto(let n)?: byName[n] != nil
                default: true
                }
            }
            let key = c.contentID.map { Key(table: table, contentID: $0, compiled: compiled) }
            if targetsExist, let key, let hit = state.withLock({ $0.chains[key] }) {
                chains[number] = hit.chain
                continue
            }
            let prepared = PreparedRuleset.prepare(c, compiled: compiled) { byName[$0] ?? -1 }
            if targetsExist, let key {
                let shared = SharedChain(chain: prepared)
                chains[number] = state.withLock { s in
                    if let first = s.chains[key] { return first.chain }
                    s.chains[key] = shared
                    return shared.chain
                }
            } else {
                chains[number] = prepared
            }
        }
        return PreparedTable(name: table, chains: chains, builtin: builtin)
    }
}
