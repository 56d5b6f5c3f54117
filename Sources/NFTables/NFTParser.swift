import Wire

extension NFTRuleset {
    /// Parses `nft list ruleset` output (block syntax, with or without `-a` handles) or an
    /// `nft -f` file (block syntax and `add table/chain/rule/set/map/element` commands, as
    /// knftables writes them), or both mixed. Constructs kdp does not model are an error naming
    /// file:line:column and the construct; with `lenient`, a rule using one never matches and
    /// `notes` says so.
    public static func parse(_ text: String, file: String = "<nft>", lenient: Bool = false) throws(NFTParseError) -> NFTRuleset {
        var p = NFTParser(tokens: try NFTTokenizer.tokenize(text, file: file), file: file, lenient: lenient)
        try p.parseTop()
        try p.link()
        for i in p.rs.sets.indices { p.rs.sets[i].prepare() }
        return p.rs
    }
}

/// A chain or set named before it is linked: resolved by `link()` once the whole text is read.
struct NFTPendingRef {
    var table: Int
    var name: String
    var line: Int
    var column: Int
}

/// A chain's or set's name within its table: the key of the parser's indexes.
struct NFTObjectName: Hashable {
    var table: Int
    var name: String
}

struct NFTParser {
    var tokens: [NFTToken]
    var pos = 0
    let file: String
    let lenient: Bool
    var rs = NFTRuleset()
    var pendingChains: [NFTPendingRef] = []
    /// Named chains and sets by (table, name), kept beside `rs` as objects are added and
    /// deleted: finding one is a hash, not a scan (a node's table has tens of thousands).
    var chainAt: [NFTObjectName: Int] = [:]
    var setAt: [NFTObjectName: Int] = [:]

    init(tokens: [NFTToken], file: String, lenient: Bool) {
        self.tokens = tokens
        self.file = file
        self.lenient = lenient
    }

    // MARK: tokens

    var peek: NFTToken { tokens[min(pos, tokens.count - 1)] }
    var atEnd: Bool { pos >= tokens.count }

    mutating func next() -> NFTToken {
        let t = peek
        pos += 1
        return t
    }

    func error(_ t: NFTToken, _ message: String) -> NFTParseError {
        NFTParseError(file: file, line: t.line, column: t.column, message: message)
    }

    func describe(_ t: NFTToken) -> String {
        switch t.kind {
        case .word(let w): "'\(Excerpt.quote(w))'"
        case .string(let s): "\"\(Excerpt.quote(s))\""
        case .lbrace: "'{'"
        case .rbrace: "'}'"
        case .semicolon: "';'"
        case .comma: "','"
        case .newline: "end of line"
        case .handle: "'# handle'"
        }
    }

    mutating func word(_ what: String) throws(NFTParseError) -> (Substring, NFTToken) {
        let t = next()
        guard case .word(let w) = t.kind else { throw error(t, "expected \(what), found \(describe(t))") }
        return (w, t)
    }

    mutating func name(_ what: String) throws(NFTParseError) -> (String, NFTToken) {
        let t = next()
        switch t.kind {
        case .word(let w): return (String(w), t)
        case .string(let s): return (String(s), t)
        default: throw error(t, "expected \(what), found \(describe(t))")
        }
    }

    mutating func expect(_ kind: NFTToken.Kind, _ what: String) throws(NFTParseError) {
        let t = next()
        guard t.kind == kind else { throw error(t, "expected \(what), found \(describe(t))") }
    }

    mutating func skipNewlines() {
        while !atEnd { if case .newline = peek.kind { pos += 1 } else if case .handle = peek.kind { pos += 1 } else { break } }
    }

    mutating func skipSeparators() {
        while !atEnd {
            switch peek.kind {
            case .newline, .semicolon, .handle: pos += 1
            default: return
            }
        }
    }

    mutating func takeHandle() -> Int? {
        if case .handle(let h) = peek.kind { pos += 1; return h }
        return nil
    }

    // MARK: commands

    mutating func parseTop() throws(NFTParseError) {
        while true {
            skipSeparators()
            if atEnd { return }
            let (w, t) = try word("a command or 'table'")
            switch w {
            case "table": try blockTable()
            case "add", "create", "insert":
                let (what, wt) = try word("table, chain, rule, set, map or element")
                switch what {
                case "table": _ = try tableRef(create: true, props: true)
                case "chain":
                    let table = try tableRef(create: false, props: false)
                    let (n, nt) = try name("a chain name")
                    let c = ensureChain(table, n)
                    if case .lbrace = peek.kind { pos += 1; try chainBody(c, header: true, at: nt) }
                case "rule":
                    let table = try tableRef(create: false, props: false)
                    let (n, nt) = try name("a chain name")
                    guard let c = chainIndex(table, n) else { throw error(nt, "no chain '\(Excerpt.quote(n))' in table \(rs.tables[table].name)") }
                    if case .word(let k) = peek.kind, k == "position" || k == "handle" || k == "index" { pos += 2 }
                    let rule = try parseRule(table: table)
                    if w == "insert" { rs.chains[c].rules.insert(rule, at: 0) } else { rs.chains[c].rules.append(rule) }
                case "set", "map":
                    let table = try tableRef(create: false, props: false)
                    let (n, nt) = try name("a set name")
                    try expect(.lbrace, "'{'")
                    try setBody(table: table, name: n, isMap: what == "map", at: nt)
                case "element":
                    let table = try tableRef(create: false, props: false)
                    let (n, nt) = try name("a set name")
                    guard let s = setIndex(table, n) else { throw error(nt, "no set or map '\(Excerpt.quote(n))' in table \(rs.tables[table].name)") }
                    try expect(.lbrace, "'{'")
                    try elements(into: s)
                default: throw error(wt, "'\(w) \(Excerpt.quote(what))' is not an nft command kdp reads")
                }
            case "flush":
                let (what, wt) = try word("ruleset, table, chain, set or map")
                switch what {
                case "ruleset": rs = NFTRuleset()
                case "table":
                    let table = try tableRef(create: false, props: false)
                    for i in rs.chains.indices where rs.chains[i].table == table { rs.chains[i].rules = [] }
                case "chain":
                    let table = try tableRef(create: false, props: false)
                    let (n, nt) = try name("a chain name")
                    guard let c = chainIndex(table, n) else { throw error(nt, "no chain '\(Excerpt.quote(n))'") }
                    rs.chains[c].rules = []
                case "set", "map":
                    let table = try tableRef(create: false, props: false)
                    let (n, nt) = try name("a set name")
                    guard let s = setIndex(table, n) else { throw error(nt, "no set or map '\(Excerpt.quote(n))'") }
                    rs.sets[s].elements = []
                default: throw error(wt, "'flush \(Excerpt.quote(what))' is not an nft command kdp reads")
                }
            case "delete", "destroy":
                let (what, wt) = try word("table, chain, set, map or element")
                let table = try tableRef(create: false, props: false, missingOK: w == "destroy")
                switch what {
                case "table":
                    guard let table else { continue }
                    // Keep indices stable: the table's objects are renamed away.
                    rs.tables[table].name = "\u{0}deleted"
                    for i in rs.chains.indices where rs.chains[i].table == table { rs.chains[i].base = nil; rs.chains[i].name = "\u{0}deleted" }
                    for i in rs.sets.indices where rs.sets[i].table == table { rs.sets[i].anonymous = true }
                    chainAt = chainAt.filter { $0.key.table != table }
                    setAt = setAt.filter { $0.key.table != table }
                case "chain":
                    let (n, nt) = try name("a chain name")
                    guard let table, let c = chainIndex(table, n) else { if w == "destroy" { continue }; throw error(nt, "no chain '\(Excerpt.quote(n))'") }
                    rs.chains[c].base = nil
                    rs.chains[c].name = "\u{0}deleted"
                    chainAt[NFTObjectName(table: table, name: n)] = nil
                case "set", "map":
                    let (n, nt) = try name("a set name")
                    guard let table, let s = setIndex(table, n) else { if w == "destroy" { continue }; throw error(nt, "no set or map '\(Excerpt.quote(n))'") }
                    rs.sets[s].anonymous = true
                    setAt[NFTObjectName(table: table, name: n)] = nil
                case "element":
                    let (n, nt) = try name("a set name")
                    guard let table, let s = setIndex(table, n) else { throw error(nt, "no set or map '\(Excerpt.quote(n))'") }
                    try expect(.lbrace, "'{'")
                    let before = rs.sets[s].elements.count
                    try elements(into: s)
                    let removed = Array(rs.sets[s].elements[before...])
                    rs.sets[s].elements.removeLast(removed.count)
                    rs.sets[s].elements.removeAll { e in removed.contains { $0.low == e.low && $0.high == e.high } }
                default: throw error(wt, "'delete \(Excerpt.quote(what))' is not an nft command kdp reads")
                }
            default:
                throw error(t, "'\(Excerpt.quote(w))' is not an nft command kdp reads (table, add, create, insert, flush, delete)")
            }
        }
    }

    /// `FAMILY NAME` (family optional: ip), creating the table for `add table`.
    mutating func tableRef(create: Bool, props: Bool, missingOK: Bool = false) throws(NFTParseError) -> Int? {
        var (w, t) = try name("a table family or name")
        var family = NFTFamily.ip
        if let f = NFTFamily(rawValue: w), case .word = peek.kind { family = f; (w, t) = try name("a table name") }
        var index = rs.table(family, w)
        if index == nil {
            if create {
                rs.tables.append(NFTTable(family: family, name: w))
                index = rs.tables.count - 1
            } else if missingOK {
                return nil
            } else {
                throw error(t, "no table \(family.rawValue) \(Excerpt.quote(w)) (add it first)")
            }
        }
        if props, case .lbrace = peek.kind {
            pos += 1
            try tableBody(index!)
        }
        return index
    }

    mutating func tableRef(create: Bool, props: Bool) throws(NFTParseError) -> Int {
        try tableRef(create: create, props: props, missingOK: false)!
    }

    mutating func blockTable() throws(NFTParseError) {
        let t = try tableRef(create: true, props: false)
        try expect(.lbrace, "'{'")
        if let h = takeHandle() { rs.tables[t].handle = h }
        try tableBody(t)
    }

    mutating func tableBody(_ table: Int) throws(NFTParseError) {
        while true {
            skipSeparators()
            let t = next()
            switch t.kind {
            case .rbrace: return
            case .word(let w):
                switch w {
                case "comment": rs.tables[table].comment = try name("a comment").0
                case "flags": _ = try word("table flags")
                case "chain":
                    let (n, nt) = try name("a chain name")
                    let c = ensureChain(table, n)
                    try expect(.lbrace, "'{'")
                    if let h = takeHandle() { rs.chains[c].handle = h }
                    try chainBody(c, header: false, at: nt)
                case "set", "map":
                    let (n, nt) = try name("a set name")
                    try expect(.lbrace, "'{'")
                    try setBody(table: table, name: n, isMap: w == "map", at: nt)
                default:
                    throw error(t, "'\(Excerpt.quote(w))' in a table is not something kdp reads (chain, set, map, comment)")
                }
            default: throw error(t, "expected chain, set or map, found \(describe(t))")
            }
        }
    }

    mutating func ensureChain(_ table: Int, _ name: String) -> Int {
        if let c = chainAt[NFTObjectName(table: table, name: name)] { return c }
        rs.chains.append(NFTChain(name: name, table: table))
        chainAt[NFTObjectName(table: table, name: name)] = rs.chains.count - 1
        return rs.chains.count - 1
    }

    /// The chain named `name` in `table` (what `rs.chain` finds, by hash).
    func chainIndex(_ table: Int, _ name: String) -> Int? { chainAt[NFTObjectName(table: table, name: name)] }

    /// The named set or map `name` in `table` (what `rs.set` finds, by hash).
    func setIndex(_ table: Int, _ name: String) -> Int? { setAt[NFTObjectName(table: table, name: name)] }

    /// A chain's body: `type T hook H priority P; policy P;`, `comment`, and (block syntax)
    /// rules, one per line. `header`: the `add chain … { … }` form, with no rules.
    mutating func chainBody(_ c: Int, header: Bool, at: NFTToken) throws(NFTParseError) {
        let table = rs.chains[c].table
        while true {
            skipSeparators()
            if case .rbrace = peek.kind { pos += 1; return }
            guard case .word(let w) = peek.kind else {
                if case .string = peek.kind, !header {
                    rs.chains[c].rules.append(try parseRule(table: table)); continue
                }
                throw error(peek, "expected a rule or '}', found \(describe(peek))")
            }
            switch w {
            case "type":
                pos += 1
                let (ty, tt) = try word("filter, nat or route")
                guard let type = NFTChainType(rawValue: String(ty)) else { throw error(tt, "chain type '\(Excerpt.quote(ty))' is not filter, nat or route") }
                var hook = NFTHook.input
                var device: String?
                var priority = 0
                while case .word(let k) = peek.kind {
                    if k == "hook" {
                        pos += 1
                        let (h, ht) = try word("a hook")
                        guard let hh = NFTHook(rawValue: String(h)) else { throw error(ht, "hook '\(Excerpt.quote(h))' is not ingress, prerouting, input, forward, output, postrouting or egress") }
                        hook = hh
                    } else if k == "device" {
                        pos += 1
                        device = try name("a device").0
                    } else if k == "priority" {
                        pos += 1
                        priority = try parsePriority(family: rs.tables[table].family, hook: hook)
                    } else { break }
                }
                rs.chains[c].base = NFTBaseChain(type: type, hook: hook, priority: priority, policyDrop: rs.chains[c].base?.policyDrop ?? false, device: device)
            case "policy":
                pos += 1
                let (p, pt) = try word("accept or drop")
                guard p == "accept" || p == "drop" else { throw error(pt, "policy '\(Excerpt.quote(p))' is not accept or drop") }
                rs.chains[c].base?.policyDrop = p == "drop"
            case "comment" where header || isChainComment():
                pos += 1
                rs.chains[c].comment = try name("a comment").0
            case "devices":
                throw error(peek, "'devices' (netdev chains on several devices) is not something kdp models")
            default:
                guard !header else { throw error(peek, "'\(Excerpt.quote(w))' in a chain declaration is not type, hook, priority, policy or comment") }
                rs.chains[c].rules.append(try parseRule(table: table))
            }
        }
    }

    /// `comment "…"` alone on its line in a chain block is the chain's comment, not a rule.
    func isChainComment() -> Bool {
        guard pos + 2 < tokens.count, case .string = tokens[pos + 1].kind else { return false }
        switch tokens[pos + 2].kind {
        case .newline, .semicolon, .rbrace: return true
        default: return false
        }
    }

    /// `priority -110`, `priority filter`, `priority dstnat - 10`: the named priorities as
    /// nft defines them for the family (bridge has its own numbers).
    mutating func parsePriority(family: NFTFamily, hook: NFTHook) throws(NFTParseError) -> Int {
        let (w, t) = try word("a priority")
        var base: Int
        if let n = Int32(w).map(Int.init) {
            base = n
        } else {
            let named: [Substring: Int] = family == .bridge
                ? ["dstnat": -300, "filter": -200, "out": 100, "srcnat": 300]
                : ["raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100]
            guard let n = named[w] else { throw error(t, "priority '\(Excerpt.quote(w))' is not a number or a name nft defines for \(family.rawValue) (\(named.keys.sorted().joined(separator: ", ")))") }
            base = n
        }
        if case .word(let op) = peek.kind, op == "+" || op == "-" {
            pos += 1
            let (n, nt) = try word("a number")
            guard let v = Int32(n).map(Int.init) else { throw error(nt, "priority offset '\(Excerpt.quote(n))' is not a number") }
            base += op == "+" ? v : -v
        }
        // The kernel's priority is a 32-bit signed number.
        guard let fits = Int32(exactly: base) else { throw error(t, "priority \(base) does not fit in 32 bits") }
        return Int(fits)
    }

    // MARK: values

    /// A typed value as a closed range: addresses (with `/len` or `a-b`), protocols, ports
    /// (`a-b`), marks and integers (decimal or 0x), interface names (`eth*` a prefix).
    static func value(_ w: Substring, type: NFTDataType) -> (UInt128, UInt128)? {
        switch type {
        case .ipv4Addr, .ipv6Addr:
            let family: IPFamily = type == .ipv4Addr ? .ipv4 : .ipv6
            if let slash = w.firstIndex(of: "/") {
                guard let len = Int(w[w.index(after: slash)...]), len >= 0, len <= family.bitWidth,
                      let a = try? IPAddress(parsing: w[..<slash]), a.family == family else { return nil }
                let p = Prefix(containing: a, length: len)
                return (p.network.bits, p.lastAddress.bits)
            }
            if family == .ipv4, let dash = w.firstIndex(of: "-") {
                guard let a = try? IPAddress(parsing: w[..<dash]), let b = try? IPAddress(parsing: w[w.index(after: dash)...]),
                      a.family == family, b.family == family, a <= b else { return nil }
                return (a.bits, b.bits)
            }
            if family == .ipv6, let dash = w.firstIndex(of: "-"), !w.contains("::") || w.split(separator: "-").count == 2 {
                let parts = w.split(separator: "-")
                if parts.count == 2, let a = try? IPAddress(parsing: parts[0]), let b = try? IPAddress(parsing: parts[1]) {
                    return (a.bits, b.bits)
                }
                _ = dash
            }
            guard let a = try? IPAddress(parsing: w), a.family == family else { return nil }
            return (a.bits, a.bits)
        case .inetProto:
            if let n = UInt8(w) { return (UInt128(n), UInt128(n)) }
            let names: [Substring: UInt8] = ["tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "esp": 50, "ah": 51, "gre": 47, "udplite": 136, "dccp": 33]
            guard let n = names[w] else { return nil }
            return (UInt128(n), UInt128(n))
        case .inetService:
            let services: [Substring: UInt16] = ["http": 80, "https": 443, "domain": 53, "ssh": 22, "ntp": 123, "bgp": 179]
            func port(_ s: Substring) -> UInt16? { UInt16(s) ?? services[s] }
            if let dash = w.firstIndex(of: "-"), let a = port(w[..<dash]), let b = port(w[w.index(after: dash)...]), a <= b {
                return (UInt128(a), UInt128(b))
            }
            guard let p = port(w) else { return nil }
            return (UInt128(p), UInt128(p))
        case .mark, .integer:
            func int(_ s: Substring) -> UInt32? { s.hasPrefix("0x") ? UInt32(s.dropFirst(2), radix: 16) : UInt32(s) }
            if let dash = w.firstIndex(of: "-"), let a = int(w[..<dash]), let b = int(w[w.index(after: dash)...]), a <= b {
                return (UInt128(a), UInt128(b))
            }
            guard let n = int(w) else { return nil }
            return (UInt128(n), UInt128(n))
        case .ifname:
            return NFTInterfaceName.range(w)
        case .nfproto:
            switch w {
            case "ipv4": return (2, 2)
            case "ipv6": return (10, 10)
            default: return nil
            }
        case .verdict:
            return nil
        }
    }
}
