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

    // Storage. A 10,000-Service node has tens of thousands of chains, rules and elements;
    // each rule's and element's text lives as bytes in one arena (`text`), with a small
    // record of where, instead of a `String` (and a `[String]` key) per object: the writer
    // appends bytes, the dump copies them, and freeing the ruleset frees a few arrays.
    // `chains` and `containers` rebuild the object view on demand (tests, `listText`).

    /// Where a rule's or element's piece of text is in `text`; `start < 0` when absent.
    struct Span: Sendable, Equatable {
        var start: Int32
        var end: Int32
        static let none = Span(start: -1, end: -1)
        var isNone: Bool { start < 0 }
    }

    struct RuleRecord: Sendable, Equatable {
        var chain: Int32
        var text: Span
        var comment: Span
    }

    struct ElementRecord: Sendable, Equatable {
        var container: Int32
        /// The key's words joined with ` . `, and a map's value likewise.
        var key: Span
        var value: Span
        var comment: Span
    }

    /// Chains and containers in the order they were added, without their rules or elements.
    private var chainHeaders: [Chain] = []
    private var containerHeaders: [Container] = []
    /// Chain names to their positions (`chainHeaders`), by `TextBuffer.hash` of the name.
    private var chainIndex = NFTablesHashIndex()
    private var containerIndex: [String: Int] = [:]
    private var ruleRecords: [RuleRecord] = []
    private var elementRecords: [ElementRecord] = []
    /// Each element's (container, key) to its record: one hash of the key's bytes per add.
    private var elementIndex = NFTablesHashIndex()
    private var text = TextBuffer(capacity: 0)

    public init(family: Family, tableName: String = "kube-proxy", tableComment: String? = nil) {
        self.family = family
        self.tableName = tableName
        self.tableComment = tableComment
    }

    /// Chains in the order they were added, with their rules. Cost: O(rules) to build.
    public var chains: [Chain] {
        var out = chainHeaders
        for r in ruleRecords { out[Int(r.chain)].rules.append(Rule(string(r.text)!, comment: string(r.comment))) }
        return out
    }

    /// Sets and maps in the order they were added, with their elements. Cost: O(elements).
    public var containers: [Container] {
        var out = containerHeaders
        for e in elementRecords { out[Int(e.container)].elements.append(element(e)) }
        return out
    }

    func string(_ span: Span) -> String? {
        span.isNone ? nil : text.string(Int(span.start)..<Int(span.end))
    }

    func element(_ e: ElementRecord) -> Element {
        func words(_ span: Span) -> [String] {
            guard let s = string(span) else { return [] }
            return s.components(separatedBy: " . ")
        }
        return Element(key: words(e.key), value: words(e.value), comment: string(e.comment))
    }

    /// Adds the chain unless it exists (knftables `tx.Add` of an existing chain is a no-op).
    public mutating func addChain(_ chain: Chain) {
        let hash = TextBuffer.hash(chain.name, seed: 0)
        guard chainPosition(chain.name, hash: hash) == nil else { return }
        chainIndex.insert(hash: hash)
        var header = chain
        header.rules = []
        chainHeaders.append(header)
        for r in chain.rules { addRule(at: chainHeaders.count - 1, r) }
    }

    /// Appends a rule to `chain`, creating the chain as a regular one if it is missing.
    public mutating func addRule(_ chain: String, _ rule: Rule) {
        addRule(at: chainPosition(chain), rule)
    }

    /// Where chain `name` is in `chains`, added as a regular chain if it is missing. One hash
    /// lookup: a writer that keeps the position appends rules with `addRule(at:_:)`, with none.
    mutating func chainPosition(_ name: String) -> Int {
        let hash = TextBuffer.hash(name, seed: 0)
        if let i = chainPosition(name, hash: hash) { return i }
        chainIndex.insert(hash: hash)
        chainHeaders.append(Chain(name: name))
        return chainHeaders.count - 1
    }

    /// The position of chain `name`, whose hash is `hash`, if it exists.
    private func chainPosition(_ name: String, hash: UInt64) -> Int? {
        chainIndex.find(hash: hash) { chainHeaders[$0].name == name }
    }

    /// Appends a rule to the chain at `position` (from `chainPosition`).
    mutating func addRule(at position: Int, _ rule: Rule) {
        addRule(at: position, comment: rule.comment) { $0.add(rule.text) }
    }

    /// Appends a rule to the chain at `position` whose text `write` appends to the arena, as
    /// bytes: no `String` per rule.
    mutating func addRule(at position: Int, comment: String? = nil, _ write: (inout TextBuffer) -> Void) {
        let body = span { write(&$0) }
        ruleRecords.append(RuleRecord(chain: Int32(position), text: body, comment: comment.map { c in span { $0.add(c) } } ?? .none))
    }

    /// Appends what `write` writes to the arena, and says where.
    private mutating func span(_ write: (inout TextBuffer) -> Void) -> Span {
        let start = text.count
        write(&text)
        return Span(start: Int32(start), end: Int32(text.count))
    }

    public mutating func addContainer(_ container: Container) {
        guard containerIndex[container.name] == nil else { return }
        containerIndex[container.name] = containerHeaders.count
        var header = container
        header.elements = []
        containerHeaders.append(header)
        for e in container.elements { addElement(at: containerHeaders.count - 1, e) }
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
    mutating func addElement(at i: Int, _ element: Element) {
        addElement(at: i, value: element.value.isEmpty ? nil : element.value.joined(separator: " . "), comment: element.comment) { t in
            for (k, w) in element.key.enumerated() {
                if k > 0 { t.add(" . ") }
                t.add(w)
            }
        }
    }

    /// Adds an element to the container at `i` whose key (words joined with ` . `) `key`
    /// appends to the arena. One hash of the key's bytes when it is new (the usual case); a
    /// repeated key takes the old element's place, with the new value and comment.
    mutating func addElement(at i: Int, value: String?, comment: String?, key: (inout TextBuffer) -> Void) {
        let keySpan = span { key(&$0) }
        let hash = text.hash(Int(keySpan.start)..<Int(keySpan.end), seed: UInt64(i))
        let valueSpan = value.map { v in span { $0.add(v) } } ?? .none
        let commentSpan = comment.map { c in span { $0.add(c) } } ?? .none
        let found = elementIndex.find(hash: hash) { r in
            let old = elementRecords[r]
            return old.container == Int32(i) && text.equal(Int(old.key.start)..<Int(old.key.end), Int(keySpan.start)..<Int(keySpan.end))
        }
        if let r = found {
            elementRecords[r].value = valueSpan
            elementRecords[r].comment = commentSpan
        } else {
            elementIndex.insert(hash: hash)
            elementRecords.append(ElementRecord(container: Int32(i), key: keySpan, value: valueSpan, comment: commentSpan))
        }
    }

    /// The chain named `name`, with its rules. Cost: O(rules).
    public func chain(named name: String) -> Chain? {
        guard let i = chainPosition(name, hash: TextBuffer.hash(name, seed: 0)) else { return nil }
        var c = chainHeaders[i]
        for r in ruleRecords where r.chain == Int32(i) { c.rules.append(Rule(string(r.text)!, comment: string(r.comment))) }
        return c
    }

    /// The set or map named `name`, with its elements. Cost: O(elements).
    public func container(named name: String) -> Container? {
        guard let i = containerIndex[name] else { return nil }
        var c = containerHeaders[i]
        for e in elementRecords where e.container == Int32(i) { c.elements.append(element(e)) }
        return c
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.family == b.family && a.tableName == b.tableName && a.tableComment == b.tableComment
            && a.chains == b.chains && a.containers == b.containers
    }

    /// The positions of `items` sorted by name as Go's `sort.Strings` sorts: byte by byte
    /// (`NFTablesPackedNames.sortedOrder`).
    static func sortedOrder<T>(_ items: [T], where include: (T) -> Bool = { _ in true }, _ name: (T) -> String) -> [Int] {
        NFTablesPackedNames(items, name).sortedOrder { include(items[$0]) }
    }

    /// `chains` positions in name order.
    var sortedChainOrder: [Int] { Self.sortedOrder(chainHeaders, \.name) }
    /// `containers` positions of the sets, then of the maps, each in name order.
    var sortedContainerOrder: [Int] {
        Self.sortedOrder(containerHeaders, where: { $0.kind == .set }, \.name) + Self.sortedOrder(containerHeaders, where: { $0.kind == .map }, \.name)
    }
}

// MARK: - knftables' Fake.Dump()

extension NFTablesRuleset {
    /// What knftables' `Fake.Dump()` prints for the table (sigs.k8s.io/knftables fake.go
    /// `dumpTable`): the table, then every chain, set and map sorted by name, then each chain's
    /// rules (chains in that order), then each set's and map's elements in the order they were
    /// added. This is the text upstream's tests compare, and `nft -f` loads it as it stands.
    public func transactionText() -> String {
        let f = family.rawValue, t = tableName
        let rulePrefix = "add rule \(f) \(t) ", elementPrefix = "add element \(f) \(t) ", chainPrefix = "add chain \(f) \(t) "
        var buffer = TextBuffer(capacity: 4096 + text.count + chainHeaders.count * (chainPrefix.utf8.count + 60)
                                    + ruleRecords.count * (rulePrefix.utf8.count + 60) + elementRecords.count * (elementPrefix.utf8.count + 40))
        buffer.add("add table \(f) \(t)")
        if let tableComment { buffer.add(" { comment \(Self.goQuote(tableComment)) ; }") }
        buffer.add(byte: UInt8(ascii: "\n"))
        // The chain names packed into one buffer: sorted and copied per rule without touching
        // (retaining) the tens of thousands of name strings.
        let chainNames = NFTablesPackedNames(chainHeaders, \.name)
        let chainOrder = chainNames.sortedOrder(), containerOrder = sortedContainerOrder
        for i in chainOrder {
            buffer.add(chainPrefix)
            buffer.add(from: chainNames.bytes, chainNames.spans[i])
            if chainHeaders[i].base != nil || chainHeaders[i].comment != nil {
                buffer.add(" {")
                if let b = chainHeaders[i].base { buffer.add(" type \(b.type.rawValue) hook \(b.hook.rawValue) priority \(b.priority) ;") }
                if let comment = chainHeaders[i].comment { buffer.add(" comment \(Self.goQuote(comment)) ;") }
                buffer.add(" }")
            }
            buffer.add(byte: UInt8(ascii: "\n"))
        }
        for i in containerOrder {
            let s = containerHeaders[i]
            var out = "add \(s.kind.rawValue) \(f) \(t) \(s.name) { type \(s.type) ;"
            if !s.flags.isEmpty { out += " flags \(s.flags.joined(separator: ",")) ;" }
            if let timeout = s.timeoutSeconds { out += " timeout \(timeout)s ;" }
            if let comment = s.comment { out += " comment \(Self.goQuote(comment)) ;" }
            buffer.add(out)
            buffer.add(" }\n")
        }
        // Rules by chain in name order, each chain's in the order added; elements by set and
        // map in that order, each one's in the order added: a counting sort of the records
        // (O(n)), then their bytes copied from the arena into one buffer sized up front.
        for r in Self.grouped(ruleRecords, groups: chainOrder, \.chain) {
            let record = ruleRecords[r]
            buffer.add(rulePrefix)
            buffer.add(from: chainNames.bytes, chainNames.spans[Int(record.chain)])
            buffer.add(byte: UInt8(ascii: " "))
            buffer.add(from: text, Int(record.text.start)..<Int(record.text.end))
            if !record.comment.isNone {
                buffer.add(" comment ")
                buffer.addGoQuoted(from: text, Int(record.comment.start)..<Int(record.comment.end))
            }
            buffer.add(byte: UInt8(ascii: "\n"))
        }
        for e in Self.grouped(elementRecords, groups: containerOrder, \.container) {
            let record = elementRecords[e]
            buffer.add(elementPrefix)
            buffer.add(containerHeaders[Int(record.container)].name)
            buffer.add(" { ")
            buffer.add(from: text, Int(record.key.start)..<Int(record.key.end))
            if !record.comment.isNone {
                buffer.add(" comment ")
                buffer.addGoQuoted(from: text, Int(record.comment.start)..<Int(record.comment.end))
            }
            if !record.value.isNone {
                buffer.add(" : ")
                buffer.add(from: text, Int(record.value.start)..<Int(record.value.end))
            }
            buffer.add(" }\n")
        }
        return buffer.text
    }

    /// The positions of `records`, grouped by their owner in `groups` order (owners not in
    /// `groups` left out), each owner's in their own order: a stable counting sort, O(n + g).
    static func grouped<R>(_ records: [R], groups: [Int], _ owner: (R) -> Int32) -> [Int] {
        var rank = [Int](repeating: -1, count: (groups.max() ?? -1) + 1)
        for (k, g) in groups.enumerated() { rank[g] = k }
        var start = [Int](repeating: 0, count: groups.count + 1)
        for r in records {
            let k = Int(owner(r)) < rank.count ? rank[Int(owner(r))] : -1
            if k >= 0 { start[k + 1] += 1 }
        }
        for k in 0..<groups.count { start[k + 1] += start[k] }
        var out = [Int](repeating: 0, count: start[groups.count])
        for (i, r) in records.enumerated() {
            let k = Int(owner(r)) < rank.count ? rank[Int(owner(r))] : -1
            guard k >= 0 else { continue }
            out[start[k]] = i
            start[k] += 1
        }
        return out
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
