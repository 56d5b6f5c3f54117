/// The iptables tables, in the order iptables-save prints them when all are present
/// (`iptables-save` walks /proc/net/ip_tables_names; iptables-nft prints what exists).
public enum TableName: String, Hashable, Sendable, CaseIterable, Codable {
    case raw, mangle, nat, filter, security

    /// The built-in chains of the table (net/ipv4/netfilter/iptable_*.c `valid_hooks`).
    public var builtinChains: [Hook] {
        switch self {
        case .raw: [.prerouting, .output]
        case .mangle: [.prerouting, .input, .forward, .output, .postrouting]
        case .nat: [.prerouting, .input, .output, .postrouting]
        case .filter, .security: [.input, .forward, .output]
        }
    }

    /// Whether `name` is one of `builtinChains`, without building that array: parsing asks
    /// this for every chain line.
    func hasBuiltinChain(_ name: String) -> Bool {
        // The longest built-in name is POSTROUTING; ASCII names have no other spelling.
        guard name.utf8.count <= 11, let hook = Hook(rawValue: name) else { return false }
        return hasBuiltin(hook)
    }

    /// Whether the table has the hook's built-in chain (the same sets as `builtinChains`).
    func hasBuiltin(_ hook: Hook) -> Bool {
        switch self {
        case .raw: hook == .prerouting || hook == .output
        case .mangle: true
        case .nat: hook != .forward
        case .filter, .security: hook == .input || hook == .forward || hook == .output
        }
    }
}

/// A netfilter hook. The raw value is the built-in chain's name.
public enum Hook: String, Hashable, Sendable, CaseIterable, Codable {
    case prerouting = "PREROUTING"
    case input = "INPUT"
    case forward = "FORWARD"
    case output = "OUTPUT"
    case postrouting = "POSTROUTING"
}

/// Packet and byte counters, as in `[packets:bytes]`.
public struct Counters: Hashable, Sendable {
    public var packets: UInt64
    public var bytes: UInt64
    public init(packets: UInt64 = 0, bytes: UInt64 = 0) { self.packets = packets; self.bytes = bytes }
}

/// A chain's default verdict. User chains have none (printed `-`): falling off their end returns.
public enum Policy: String, Hashable, Sendable {
    case accept = "ACCEPT"
    case drop = "DROP"
}

/// A chain: its rules in order; built-in chains carry a policy.
public struct Chain: Hashable, Sendable {
    public var name: String { didSet { contentID = nil } }
    public var policy: Policy? { didSet { contentID = nil } }
    public var counters: Counters?
    public var rules: [Rule] { didSet { contentID = nil } }
    /// Set when the chain was assembled from runs that `Ruleset.SharedChains` built and shares
    /// between rulesets (`Ruleset.assemble`): two chains with the same `contentID` from the same
    /// store have the same name, policy and rules (words, matches, targets, origins), and share
    /// one rules buffer, so whatever is derived from a chain alone (its prepared form) can be
    /// derived once per `contentID`. Jump targets are names: their chain indexes are the
    /// table's. Any change to name, policy or rules clears it; equality and hashing ignore it.
    public internal(set) var contentID: Int?

    public init(name: String, policy: Policy? = nil, counters: Counters? = nil, rules: [Rule] = []) {
        self.name = name
        self.policy = policy
        self.counters = counters
        self.rules = rules
    }

    public var isBuiltin: Bool { Hook(rawValue: name) != nil }

    public static func == (a: Chain, b: Chain) -> Bool {
        a.name == b.name && a.policy == b.policy && a.counters == b.counters && a.rules == b.rules
    }

    public func hash(into h: inout Hasher) {
        h.combine(name)
        h.combine(policy)
        h.combine(counters)
        h.combine(rules)
    }
}

/// One table: its chains by name. Built-in chains exist even when the text does not declare
/// them, as in the kernel, with policy ACCEPT.
public struct Table: Hashable, Sendable {
    public var name: TableName
    public var chains: [Chain]
    private var index: [String: Int]

    public init(name: TableName) {
        self.name = name
        self.chains = []
        self.index = [:]
        for hook in name.builtinChains { _ = ensureChain(hook.rawValue, policy: .accept) }
    }

    public func chainIndex(_ name: String) -> Int? { index[name] }
    public func chain(_ name: String) -> Chain? { index[name].map { chains[$0] } }

    /// Returns the chain's index, creating an empty chain when it does not exist yet.
    @discardableResult
    public mutating func ensureChain(_ name: String, policy: Policy? = nil) -> Int {
        // One hash for both the lookup and the insertion: the default is stored when missing.
        let next = chains.count
        let i = Self.value(&index[name, default: next])
        if i == next { chains.append(Chain(name: name, policy: policy)) }
        return i
    }

    private static func value(_ v: inout Int) -> Int { v }

    /// Room for `n` more chains: parsing counts a table's chain lines before adding them, which
    /// spares the name index its rehashing as it grows.
    mutating func reserveChains(_ n: Int) {
        chains.reserveCapacity(chains.count + n)
        index.reserveCapacity(index.count + n)
    }

    /// Removes a chain (`-X`). Indices of later chains shift.
    public mutating func deleteChain(_ name: String) {
        guard let i = index[name] else { return }
        chains.remove(at: i)
        index = [:]
        for (j, c) in chains.enumerated() { index[c.name] = j }
    }
}
