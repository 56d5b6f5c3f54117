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
        /// The chain numbers its rules jump or go to: a node uses the shared chain only when
        /// it has every one of them.
        let targets: [Int32]
    }

    private let state = Mutex(State())

    public init() {}

    func prepare(_ t: Table, compiled: Bool) -> PreparedTable {
        let table = t.name
        // One lock for the lookups: the chains' cluster-wide numbers and what is prepared already.
        var hits = [SharedChain?](repeating: nil, count: t.chains.count)
        let numbers: [Int32] = state.withLock { s in
            var out: [Int32] = []
            out.reserveCapacity(t.chains.count)
            for (ci, c) in t.chains.enumerated() {
                if let n = s.numbers[table]?[c.name] {
                    out.append(n)
                } else {
                    let n = Int32(s.numbers[table]?.count ?? 0)
                    s.numbers[table, default: [:]][c.name] = n
                    out.append(n)
                }
                if let id = c.contentID { hits[ci] = s.chains[Key(table: table, contentID: id, compiled: compiled)] }
            }
            return out
        }
        let size = Int(numbers.max() ?? -1) + 1
        var present = [Bool](repeating: false, count: size)
        for n in numbers { present[Int(n)] = true }
        func has(_ targets: [Int32]) -> Bool { targets.allSatisfy { Int($0) < size && present[Int($0)] } }
        let hole = PreparedChain.make(name: "", policy: nil, rules: [], compiled: false)
        var chains = [PreparedChain](repeating: hole, count: size)
        var builtin = HookSlots()
        var fresh: [(number: Int, key: Key, shared: SharedChain)] = []
        for (ci, c) in t.chains.enumerated() {
            let number = Int(numbers[ci])
            if let h = Hook(rawValue: c.name), table.builtinChains.contains(h) { builtin[h] = number }
            if let hit = hits[ci], has(hit.targets) {
                chains[number] = hit.chain
                continue
            }
            let prepared = PreparedRuleset.prepare(c, compiled: compiled) { t.chainIndex($0).map { Int(numbers[$0]) } ?? -1 }
            chains[number] = prepared
            if hits[ci] == nil, let id = c.contentID, let targets = Self.targets(of: prepared) {
                fresh.append((number, Key(table: table, contentID: id, compiled: compiled), SharedChain(chain: prepared, targets: targets)))
            }
        }
        if !fresh.isEmpty {
            // A node prepared at the same time may have stored the same content first: use its
            // chain, so that every node holds one object.
            let first: [SharedChain?] = state.withLock { s in
                fresh.map { f in
                    if let other = s.chains[f.key] { return other }
                    s.chains[f.key] = f.shared
                    return nil
                }
            }
            for (f, other) in zip(fresh, first) { if let other { chains[f.number] = other.chain } }
        }
        return PreparedTable(name: table, chains: chains, builtin: builtin)
    }

    /// The numbers of the chains `chain` jumps or goes to; nil when one of them is missing.
    private static func targets(of chain: PreparedChain) -> [Int32]? {
        var out: [Int32] = []
        for r in chain.rules {
            switch r.target {
            case .jump?, .goto?:
                guard r.jumpIndex >= 0 else { return nil }
                out.append(Int32(r.jumpIndex))
            default:
                break
            }
        }
        return out
    }
}
