import Wire

/// One nftables table as kube-proxy's nftables mode builds it through knftables: the table,
/// its chains (base chains with type, hook and priority), its sets and verdict maps (types,
/// flags, timeouts, elements) and each chain's rules. Rule bodies are nft rule text, as
/// knftables holds them (`knftables.Rule.Rule` plus its comment): upstream's own model, which
/// its tests compare. Objects keep the order kube-proxy added them in; the printers sort as
/// knftables' `Fake.Dump()` and `nft list table` do.
public struct NFTablesRuleset: Sendable, Equatable {
    /// `ip` or `ip6` (knftables `IPv4Family`/`IPv6Family`).
    public enum Family: String, Sendable {
        case ip
        case ip6
    }

    /// A base chain's hook (`knftables.BaseChainHook`).
    public enum Hook: String, Sendable {
        case prerouting, input, forward, output, postrouting
    }

    /// A base chain's type (`knftables.BaseChainType`).
    public enum ChainType: String, Sendable {
        case filter, nat, route
    }

    /// What makes a chain a base chain: its type, hook and numeric priority (knftables prints
    /// the number, as `ParsePriority` resolves `dstnat - 10` and friends).
    public struct BaseChain: Sendable, Equatable {
        public var type: ChainType
        public var hook: Hook
        public var priority: Int

        public init(type: ChainType, hook: Hook, priority: Int) {
            self.type = type
            self.hook = hook
            self.priority = priority
        }
    }

    /// One rule: its nft text and knftables' separate comment (printed ` comment "…"` after it).
    public struct Rule: Sendable, Equatable {
        public var text: String
        public var comment: String?

        public init(_ text: String, comment: String? = nil) {
            self.text = text
            self.comment = comment
        }
    }

    public struct Chain: Sendable, Equatable {
        public var name: String
        public var base: BaseChain?
        public var comment: String?
        public var rules: [Rule] = []

        public init(name: String, base: BaseChain? = nil, comment: String? = nil) {
            self.name = name
            self.base = base
            self.comment = comment
        }
    }

    /// A set's or map's element: its key (and a map's value) as words joined with ` . `, and
    /// the comment knftables writes between key and value.
    public struct Element: Sendable, Equatable {
        public var key: [String]
        public var value: [String]
        public var comment: String?

        public init(key: [String], value: [String] = [], comment: String? = nil) {
            self.key = key
            self.value = value
            self.comment = comment
        }
    }

    /// A set or a (verdict) map: knftables' `Set` and `Map` share every property kube-proxy
    /// uses. `type` is the whole type text (`ipv4_addr . inet_proto . inet_service : verdict`
    /// for a map).
    public struct Container: Sendable, Equatable {
        public enum Kind: String, Sendable { case set, map }
        public var kind: Kind
        public var name: String
        public var type: String
        public var flags: [String] = []
        public var timeoutSeconds: Int?
        public var comment: String?
        public var elements: [Element] = []
        /// Where each key's element is in `elements`: adding stays O(1) as Services grow.
        var elementIndex: [[String]: Int] = [:]

        public init(_ kind: Kind, name: String, type: String, flags: [String] = [], timeoutSeconds: Int? = nil, comment: String? = nil) {
            self.kind = kind
            self.name = name
            self.type = type
            self.flags = flags
            self.timeoutSeconds = timeoutSeconds
            self.comment = comment
        }
    }

    public var family: Family
    public var tableName: String
    public var tableComment: String?
    /// Chains in the order they were added.
    public private(set) var chains: [Chain] = []
    /// Sets and maps in the order they were added.
    public private(set) var containers: [Container] = []
    private var chainIndex: [String: Int] = [:]
    private var containerIndex: [String: Int] = [:]

    public init(family: Family, tableName: String = "kube-proxy", tableComment: String? = nil) {
        self.family = family
        self.tableName = tableName
        self.tableComment = tableComment
    }

    /// Adds the chain unless it exists (knftables `tx.Add` of an existing chain is a no-op).
    public mutating func addChain(_ chain: Chain) {
        guard chainIndex[chain.name] == nil else { return }
        chainIndex[chain.name] = chains.count
        chains.append(chain)
    }

    /// Appends a rule to `chain`, creating the chain as a regular one if it is missing.
    public mutating func addRule(_ chain: String, _ rule: Rule) {
        chains[chainPosition(chain)].rules.append(rule)
    }

    /// Where chain `name` is in `chains`, added as a regular chain if it is missing. One hash
    /// lookup: a writer that keeps the position appends rules with `addRule(at:_:)`, with none.
    mutating func chainPosition(_ name: String) -> Int {
        if let i = chainIndex[name] { return i }
        chainIndex[name] = chains.count
        chains.append(Chain(name: name))
        return chains.count - 1
    }

    /// Appends a rule to the chain at `position` (from `chainPosition`).
    mutating func addRule(at position: Int, _ rule: Rule) {
        chains[position].rules.append(rule)
    }

    public mutating func addContainer(_ container: Container) {
        guard containerIndex[container.name] == nil else { return }
        containerIndex[container.name] = containers.count
        containers.append(container)
    }

    /// Adds an element; an element with the same key replaces the old one in place (knftables'
    /// fake does so, as the kernel keeps one element per key).
    public mutating func addElement(_ container: String, _ element: Element) {
        guard let i = containerIndex[container] else { return }
        addElement(at: i, element)
    }

    /// Where set or map `name` is in `containers`, for `addElement(at:_:)`.
    func containerPosition(_ name: String) -> Int? { containerIndex[name] }

    /// `addElement` into the container at `i` (from `containerPosition`).
    /// One hash of the key when it is new (the usual case); a repeated key costs a second.
    mutating func addElement(at i: Int, _ element: Element) {
        let n = containers[i].elements.count
        if let j = containers[i].elementIndex.updateValue(n, forKey: element.key) {
            containers[i].elementIndex[element.key] = j
            containers[i].elements[j] = element
        } else {
            containers[i].elements.append(element)
        }
    }

    public func chain(named name: String) -> Chain? { chainIndex[name].map { chains[$0] } }
    public func container(named name: String) -> Container? { containerIndex[name].map { containers[$0] } }

    /// The positions of `items` sorted by name as Go's `sort.Strings` sorts: byte by byte.
    /// Each name's first 16 bytes are read once into two big-endian words (zero-padded, as a
    /// shorter name sorts first), so most comparisons are two integer compares; equal prefixes
    /// fall back to the whole names' bytes. kube-proxy's names differ within their first 16
    /// bytes (`service-` or `endpoint-` and the hash), so the fallback is rare.
    /// Cost: O(n log n) integer compares; positions are sorted, not the objects (which would
    /// copy each chain's rules at every move).
    struct NameSortKey {
        var high: UInt64, low: UInt64, index: Int
    }

    static func sortedOrder<T>(_ items: [T], where include: (T) -> Bool = { _ in true }, _ name: (T) -> String) -> [Int] {
        var keys: [NameSortKey] = []
        keys.reserveCapacity(items.count)
        for i in items.indices where include(items[i]) {
            var high: UInt64 = 0, low: UInt64 = 0, k = 0
            for b in name(items[i]).utf8.prefix(16) {
                if k < 8 { high |= UInt64(b) << (56 - 8 * k) } else { low |= UInt64(b) << (56 - 8 * (k - 8)) }
                k += 1
            }
            keys.append(NameSortKey(high: high, low: low, index: i))
        }
        keys.sort { a, b in
            if a.high != b.high { return a.high < b.high }
            if a.low != b.low { return a.low < b.low }
            return name(items[a.index]).utf8.lexicographicallyPrecedes(name(items[b.index]).utf8)
        }
        return keys.map(\.index)
    }

    /// `chains` positions in name order.
    var sortedChainOrder: [Int] { Self.sortedOrder(chains, \.name) }
    /// `containers` positions of the sets, then of the maps, each in name order.
    var sortedContainerOrder: [Int] {
        Self.sortedOrder(containers, where: { $0.kind == .set }, \.name) + Self.sortedOrder(containers, where: { $0.kind == .map }, \.name)
    }
}

// MARK: - knftables' Fake.Dump()

extension NFTablesRuleset {
    /// What knftables' `Fake.Dump()` prints for the table (sigs.k8s.io/knftables fake.go
    /// `dumpTable`): the table, then every chain, set and map sorted by name, then each chain's
    /// rules (chains in that order), then each set's and map's elements in the order they were
    /// added. This is the text upstream's tests compare, and `nft -f` loads it as it stands.
    public func transactionText() -> String {
        var out = ""
        let f = family.rawValue, t = tableName
        out += "add table \(f) \(t)"
        if let tableComment { out += " { comment \(Self.goQuote(tableComment)) ; }" }
        out += "\n"
        let chainOrder = sortedChainOrder, containerOrder = sortedContainerOrder
        for i in chainOrder {
            let c = chains[i]
            out += "add chain \(f) \(t) \(c.name)"
            if c.base != nil || c.comment != nil {
                out += " {"
                if let b = c.base { out += " type \(b.type.rawValue) hook \(b.hook.rawValue) priority \(b.priority) ;" }
                if let comment = c.comment { out += " comment \(Self.goQuote(comment)) ;" }
                out += " }"
            }
            out += "\n"
        }
        for i in containerOrder {
            let s = containers[i]
            out += "add \(s.kind.rawValue) \(f) \(t) \(s.name) { type \(s.type) ;"
            if !s.flags.isEmpty { out += " flags \(s.flags.joined(separator: ",")) ;" }
            if let timeout = s.timeoutSeconds { out += " timeout \(timeout)s ;" }
            if let comment = s.comment { out += " comment \(Self.goQuote(comment)) ;" }
            out += " }\n"
        }
        // Rules and elements are most of the text: copied piece by piece into one byte
        // buffer sized up front, with no per-line interpolation.
        let ruleCount = chains.reduce(0) { $0 + $1.rules.count }
        let elementCount = containers.reduce(0) { $0 + $1.elements.count }
        var buffer = TextBuffer(capacity: out.utf8.count + ruleCount * 120 + elementCount * 110)
        buffer.add(out)
        let rulePrefix = "add rule \(f) \(t) ", elementPrefix = "add element \(f) \(t) "
        for i in chainOrder {
            let name = chains[i].name
            for r in chains[i].rules {
                buffer.add(rulePrefix)
                buffer.add(name)
                buffer.add(byte: UInt8(ascii: " "))
                buffer.add(r.text)
                if let comment = r.comment {
                    buffer.add(" comment ")
                    buffer.addGoQuoted(comment)
                }
                buffer.add(byte: UInt8(ascii: "\n"))
            }
        }
        for i in containerOrder {
            let name = containers[i].name
            for e in containers[i].elements {
                buffer.add(elementPrefix)
                buffer.add(name)
                buffer.add(" { ")
                buffer.addJoined(e.key)
                if let comment = e.comment {
                    buffer.add(" comment ")
                    buffer.addGoQuoted(comment)
                }
                if !e.value.isEmpty {
                    buffer.add(" : ")
                    buffer.addJoined(e.value)
                }
                buffer.add(" }\n")
            }
        }
        return buffer.text
    }

    /// Go's `%q` for the printable ASCII text kube-proxy's comments hold: double quotes, with
    /// `"` and `\` escaped (other bytes escaped as Go does, for safety).
    static func goQuote(_ s: String) -> String {
        var out = "\""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20..<0x7f: out.unicodeScalars.append(Unicode.Scalar(b))
            case 0x0a: out += "\\n"
            case 0x09: out += "\\t"
            default: out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }
        }
        return out + "\""
    }
}
