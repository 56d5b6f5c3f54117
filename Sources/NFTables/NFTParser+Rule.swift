import Wire

/// A construct kdp does not model: strict parsing fails naming it; lenient parsing makes the
/// rule never match.
struct NFTUnsupported: Error {
    var token: NFTToken
    var construct: String
}

enum NFTRuleError: Error {
    case syntax(NFTParseError)
    case unsupported(NFTUnsupported)
}

extension NFTParser {
    /// One rule: its tokens up to the end of the line (or `;`, or the chain's `}`), braces
    /// spanning lines.
    mutating func parseRule(table: Int) throws(NFTParseError) -> NFTRule {
        let start = pos
        var end = pos
        var depth = 0
        scan: while end < tokens.count {
            switch tokens[end].kind {
            case .lbrace: depth += 1
            case .rbrace: if depth == 0 { break scan }; depth -= 1
            case .newline, .semicolon, .handle: if depth == 0 { break scan }
            default: break
            }
            end += 1
        }
        let first = tokens[start]
        var exprs: [NFTExpr] = []
        var comment: String?
        var unsupported: String?
        var textTokens: [NFTToken] = []
        do throws(NFTRuleError) {
            while pos < end {
                let before = pos
                try statement(&exprs, comment: &comment, table: table, end: end)
                if case .word("comment") = tokens[before].kind {} else { textTokens += tokens[before..<pos] }
            }
        } catch {
            switch error {
            case .syntax(let e): throw e
            case .unsupported(let u):
                let at = "\(file):\(u.token.line):\(u.token.column)"
                guard lenient else {
                    throw NFTParseError(file: file, line: u.token.line, column: u.token.column, message: "\(u.construct) is not something kdp models (--lenient takes the rule as never matching)")
                }
                unsupported = u.construct
                rs.notes.append("\(at): \(u.construct) is not something kdp models: the rule never matches (--lenient)")
                exprs = [.unsupported]
                textTokens = Array(tokens[start..<end])
                pos = end
            }
        }
        pos = end
        var handle = 0
        if pos < tokens.count, case .handle(let h) = tokens[pos].kind { handle = h; pos += 1 }
        if exprs.isEmpty { throw NFTParseError(file: file, line: first.line, column: first.column, message: "empty rule") }
        return NFTRule(exprs: exprs, handle: handle, comment: comment, text: Self.render(textTokens), line: first.line, unsupported: unsupported)
    }

    static func render(_ tokens: [NFTToken]) -> String {
        var out = ""
        for t in tokens {
            let piece: String
            switch t.kind {
            case .word(let w): piece = String(w)
            case .string(let s): piece = "\"" + s + "\""
            case .lbrace: piece = "{"
            case .rbrace: piece = "}"
            case .comma: out += ","; continue
            default: continue
            }
            if !out.isEmpty { out += " " }
            out += piece
        }
        return out
    }

    func syntax(_ t: NFTToken, _ message: String) -> NFTRuleError { .syntax(error(t, message)) }

    mutating func ruleWord(_ what: String, end: Int) throws(NFTRuleError) -> (Substring, NFTToken) {
        guard pos < end else { throw syntax(tokens[max(pos - 1, 0)], "expected \(what) at the end of the rule") }
        let t = tokens[pos]
        pos += 1
        guard case .word(let w) = t.kind else { throw syntax(t, "expected \(what), found \(describe(t))") }
        return (w, t)
    }

    func peekWord(_ end: Int) -> Substring? {
        guard pos < end, case .word(let w) = tokens[pos].kind else { return nil }
        return w
    }

    mutating func statement(_ exprs: inout [NFTExpr], comment: inout String?, table: Int, end: Int) throws(NFTRuleError) {
        let t = tokens[pos]
        let w: Substring
        switch t.kind {
        case .word(let x): w = x
        default: throw syntax(t, "expected a statement, found \(describe(t))")
        }
        if (w == "mark" || w == "meta") && isMarkSet(end) {
            pos += w == "meta" ? 3 : 2
            exprs.append(.markSet(try markValue(end: end)))
            return
        }
        let isUpdate = (w == "update" || w == "add") && pos + 1 < end && tokens[pos + 1].word?.hasPrefix("@") == true
        switch isUpdate ? "update" : w {
        case "counter":
            pos += 1
            while let k = peekWord(end), k == "packets" || k == "bytes" { pos += 2 }
            exprs.append(.counter)
        case "comment":
            pos += 1
            guard pos < end, case .string(let s) = tokens[pos].kind else { throw syntax(t, "comment needs a quoted text") }
            pos += 1
            comment = String(s)
        case "accept", "drop", "continue", "return", "jump", "goto":
            do { exprs.append(.verdict(try verdictWord(table: table))) } catch { throw .syntax(error) }
        case "reject":
            pos += 1
            if peekWord(end) == "with" {
                pos += 1
                let (kind, _) = try ruleWord("icmp, icmpv6, icmpx or tcp", end: end)
                if kind == "tcp" { _ = try ruleWord("reset", end: end) } else {
                    if peekWord(end) == "type" { pos += 1 }
                    _ = try ruleWord("a reject type", end: end)
                }
            }
            exprs.append(.reject)
        case "masquerade":
            pos += 1
            var fully = false
            while let k = peekWord(end), ["fully-random", "random", "persistent"].contains(k) {
                pos += 1
                if k == "fully-random" { fully = true }
                if pos < end, case .comma = tokens[pos].kind { pos += 1 }
            }
            if peekWord(end) == "to" { throw .unsupported(NFTUnsupported(token: tokens[pos], construct: "masquerade to a port range")) }
            exprs.append(.masquerade(fullyRandom: fully))
        case "dnat", "snat":
            pos += 1
            var family: IPFamily? = rs.tables[table].family == .ip ? .ipv4 : rs.tables[table].family == .ip6 ? .ipv6 : nil
            if let k = peekWord(end), k == "ip" || k == "ip6", pos + 1 < end, case .word("to") = tokens[pos + 1].kind {
                family = k == "ip" ? .ipv4 : .ipv6
                pos += 1
            }
            let (to, tt) = try ruleWord("'to'", end: end)
            guard to == "to" else { throw syntax(tt, "expected 'to' after \(w), found '\(Excerpt.quote(to))'") }
            let target = try natTarget(family: family, table: table, end: end, at: t)
            while let k = peekWord(end), ["fully-random", "random", "persistent"].contains(k) {
                pos += 1
                if pos < end, case .comma = tokens[pos].kind { pos += 1 }
            }
            exprs.append(.nat(dnat: w == "dnat", target))
        case "ct":
            pos += 1
            let (k, kt) = try ruleWord("state or status", end: end)
            guard k == "state" || k == "status" else { throw .unsupported(NFTUnsupported(token: kt, construct: "'ct \(Excerpt.quote(k))'")) }
            var negate = false
            if let op = peekWord(end), op == "!=" || op == "==" { negate = op == "!="; pos += 1 }
            let names: [Substring: UInt32] = k == "state"
                ? ["invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64]
                : ["expected": 1, "seen-reply": 2, "assured": 4, "confirmed": 8, "snat": 16, "dnat": 32, "dying": 512]
            var bits: UInt32 = 0
            var braced = false
            if pos < end, case .lbrace = tokens[pos].kind { braced = true; pos += 1 }
            repeat {
                let (v, vt) = try ruleWord("a ct \(k)", end: end)
                guard let b = names[v] else { throw syntax(vt, "'\(Excerpt.quote(v))' is not a ct \(k) (\(names.keys.sorted().joined(separator: ", ")))") }
                bits |= b
                if pos < end, case .comma = tokens[pos].kind { pos += 1 } else { break }
            } while true
            if braced { guard pos < end, case .rbrace = tokens[pos].kind else { throw syntax(tokens[pos], "expected '}'") }; pos += 1 }
            exprs.append(k == "state" ? .ctState(bits, negate: negate) : .ctStatus(bits, negate: negate))
        case "fib":
            pos += 1
            let (which, wt) = try ruleWord("saddr or daddr", end: end)
            guard which == "saddr" || which == "daddr" else { throw .unsupported(NFTUnsupported(token: wt, construct: "'fib \(Excerpt.quote(which))'")) }
            if peekWord(end) == "." { throw .unsupported(NFTUnsupported(token: tokens[pos], construct: "'fib \(which) . iif/oif'")) }
            let (ty, tyt) = try ruleWord("type", end: end)
            guard ty == "type" else { throw .unsupported(NFTUnsupported(token: tyt, construct: "'fib \(which) \(Excerpt.quote(ty))'")) }
            var negate = false
            if let op = peekWord(end), op == "!=" || op == "==" { negate = op == "!="; pos += 1 }
            let (v, vt) = try ruleWord("local", end: end)
            guard v == "local" else { throw .unsupported(NFTUnsupported(token: vt, construct: "'fib \(which) type \(Excerpt.quote(v))'")) }
            exprs.append(.fibLocal(daddr: which == "daddr", negate: negate))
        case "update":
            pos += 1
            let (ref, rt) = try ruleWord("@set", end: end)
            guard let s = setIndex(table, String(ref.dropFirst())) else { throw syntax(rt, "no set '\(Excerpt.quote(ref.dropFirst()))' in table \(rs.tables[table].name)") }
            guard pos < end, case .lbrace = tokens[pos].kind else { throw syntax(tokens[pos], "expected '{' after the set") }
            pos += 1
            var deps: [NFTExpr] = []
            let fields = try fieldList(&deps, end: end)
            var timeout: UInt64?
            if peekWord(end) == "timeout" {
                pos += 1
                let (d, dt) = try ruleWord("a duration", end: end)
                guard let secs = Self.seconds(d) else { throw syntax(dt, "'\(Excerpt.quote(d))' is not a duration") }
                timeout = secs
            }
            guard pos < end, case .rbrace = tokens[pos].kind else { throw syntax(tokens[min(pos, end)], "expected '}'") }
            pos += 1
            exprs += deps
            exprs.append(.update(set: Int32(s), fields: fields, timeout: timeout))
        case "ip", "ip6", "th", "tcp", "udp", "sctp", "udplite", "meta", "mark", "iifname", "oifname", "l4proto", "nfproto", "numgen":
            try matchExpression(&exprs, table: table, end: end)
        default:
            throw .unsupported(NFTUnsupported(token: t, construct: "'\(Excerpt.quote(w))'"))
        }
    }

    func isMarkSet(_ end: Int) -> Bool {
        guard case .word(let w) = tokens[pos].kind else { return false }
        let setAt = w == "meta" ? pos + 2 : pos + 1
        if w == "meta", pos + 1 < end, tokens[pos + 1].word != "mark" { return false }
        return setAt < end && tokens[setAt].word == "set"
    }

    mutating func markValue(end: Int) throws(NFTRuleError) -> NFTMarkSet {
        let (w, t) = try ruleWord("a mark", end: end)
        if let v = Self.number(w) { return .value(v) }
        if w == "meta" { _ = try ruleWord("mark", end: end) } else if w != "mark" { throw .unsupported(NFTUnsupported(token: t, construct: "'mark set \(Excerpt.quote(w))'")) }
        let (op, ot) = try ruleWord("or, and or xor", end: end)
        let (n, nt) = try ruleWord("a number", end: end)
        guard let v = Self.number(n) else { throw syntax(nt, "'\(Excerpt.quote(n))' is not a mark") }
        switch op {
        case "or", "|": return .or(v)
        case "and", "&": return .and(v)
        case "xor", "^": return .xor(v)
        default: throw .unsupported(NFTUnsupported(token: ot, construct: "'mark set mark \(Excerpt.quote(op))'"))
        }
    }

    static func number(_ w: Substring) -> UInt32? { w.hasPrefix("0x") ? UInt32(w.dropFirst(2), radix: 16) : UInt32(w) }

    /// One field (`ip daddr`, `tcp dport`, `meta l4proto`, `numgen random mod N`); `deps` gets
    /// the protocol test a transport field implies (`tcp dport` is `meta l4proto tcp` first).
    mutating func field(_ deps: inout [NFTExpr], end: Int) throws(NFTRuleError) -> NFTField {
        let (w, t) = try ruleWord("a field", end: end)
        func sub() throws(NFTRuleError) -> (Substring, NFTToken) { try ruleWord("a field of \(w)", end: end) }
        switch w {
        case "ip", "ip6":
            let (k, kt) = try sub()
            switch k {
            case "saddr": return w == "ip" ? .ipSaddr : .ip6Saddr
            case "daddr": return w == "ip" ? .ipDaddr : .ip6Daddr
            case "protocol" where w == "ip": return .ipProtocol
            case "nexthdr" where w == "ip6": return .l4proto
            default: throw .unsupported(NFTUnsupported(token: kt, construct: "'\(w) \(Excerpt.quote(k))'"))
            }
        case "th", "tcp", "udp", "sctp", "udplite":
            let (k, kt) = try sub()
            guard k == "dport" || k == "sport" else { throw .unsupported(NFTUnsupported(token: kt, construct: "'\(w) \(Excerpt.quote(k))'")) }
            if w != "th" {
                let p = UInt128(Self.value(w, type: .inetProto)!.0)
                deps.append(.compare(.l4proto, .eq, low: p, high: p, mask: 0xFF))
            }
            return k == "dport" ? .thDport : .thSport
        case "meta":
            let (k, kt) = try sub()
            switch k {
            case "l4proto": return .l4proto
            case "mark": return .mark
            case "iifname": return .iifname
            case "oifname": return .oifname
            case "nfproto": return .nfproto
            default: throw .unsupported(NFTUnsupported(token: kt, construct: "'meta \(Excerpt.quote(k))'"))
            }
        case "mark": return .mark
        case "iifname": return .iifname
        case "oifname": return .oifname
        case "l4proto": return .l4proto
        case "nfproto": return .nfproto
        case "numgen":
            let (k, kt) = try sub()
            guard k == "random" else { throw .unsupported(NFTUnsupported(token: kt, construct: "'numgen \(Excerpt.quote(k))'")) }
            let (m, mt) = try sub()
            guard m == "mod" else { throw syntax(mt, "expected 'mod' after numgen random") }
            let (n, nt) = try sub()
            guard let mod = Self.number(n), mod > 0 else { throw syntax(nt, "'\(Excerpt.quote(n))' is not a modulus") }
            var offset: UInt32 = 0
            if peekWord(end) == "offset" {
                pos += 1
                let (o, ot) = try sub()
                guard let v = Self.number(o) else { throw syntax(ot, "'\(Excerpt.quote(o))' is not an offset") }
                offset = v
            }
            return .numgen(mod: mod, offset: offset)
        default:
            throw .unsupported(NFTUnsupported(token: t, construct: "'\(Excerpt.quote(w))'"))
        }
    }

    mutating func fieldList(_ deps: inout [NFTExpr], end: Int) throws(NFTRuleError) -> [NFTField] {
        var fields = [try field(&deps, end: end)]
        while peekWord(end) == "." {
            pos += 1
            fields.append(try field(&deps, end: end))
        }
        return fields
    }

    /// `FIELDS vmap …`, `FIELDS [!=] @set | { … } | VALUE`, `FIELD & MASK ==|!= VALUE`.
    mutating func matchExpression(_ exprs: inout [NFTExpr], table: Int, end: Int) throws(NFTRuleError) {
        var deps: [NFTExpr] = []
        let start = tokens[pos]
        let fields = try fieldList(&deps, end: end)
        exprs += deps
        if fields.count > 1, fields.contains(where: { if case .numgen = $0 { true } else { false } }) {
            throw .unsupported(NFTUnsupported(token: start, construct: "numgen inside a concatenation"))
        }
        let types = fields.map(\.typeName)
        guard pos < end else { throw syntax(start, "expected a value, a set or vmap after the field") }
        var negate = false
        var op = NFTCompare.eq
        if let w = peekWord(end) {
            switch w {
            case "vmap":
                pos += 1
                let s = try setOperand(types: types, values: [.verdict], table: table, end: end)
                guard rs.sets[Int(s)].valueTypes == [.verdict] else { throw syntax(tokens[pos - 1], "vmap needs a verdict map; \(rs.sets[Int(s)].name) is not one") }
                exprs.append(.vmap(fields, set: s))
                return
            case "map":
                throw .unsupported(NFTUnsupported(token: tokens[pos], construct: "a map lookup outside dnat/snat"))
            case "!=": negate = true; op = .ne; pos += 1
            case "==": pos += 1
            case "<": op = .lt; pos += 1
            case ">": op = .gt; pos += 1
            case "<=": op = .le; pos += 1
            case ">=": op = .ge; pos += 1
            case "&", "and":
                guard fields.count == 1 else { throw .unsupported(NFTUnsupported(token: tokens[pos], construct: "a mask on a concatenation")) }
                if case .numgen = fields[0] { throw .unsupported(NFTUnsupported(token: tokens[pos], construct: "a mask on numgen")) }
                pos += 1
                let (m, mt) = try ruleWord("a mask", end: end)
                guard let mask = Self.value(m, type: types[0]) else { throw syntax(mt, "'\(Excerpt.quote(m))' is not a \(types[0].rawValue)") }
                var mop = NFTCompare.eq
                if let o = peekWord(end), o == "==" || o == "!=" { mop = o == "!=" ? .ne : .eq; pos += 1 }
                let (v, vt) = try ruleWord("a value", end: end)
                guard let value = Self.value(v, type: types[0]) else { throw syntax(vt, "'\(Excerpt.quote(v))' is not a \(types[0].rawValue)") }
                exprs.append(.compare(fields[0], mop, low: value.0, high: value.1, mask: mask.0))
                return
            case "|", "or", "^", "xor", "<<", ">>":
                throw .unsupported(NFTUnsupported(token: tokens[pos], construct: "'\(w)' in a match"))
            default: break
            }
        }
        guard pos < end else { throw syntax(tokens[pos - 1], "expected a value after the operator") }
        if case .lbrace = tokens[pos].kind {
            let s = try setOperand(types: types, values: nil, table: table, end: end)
            exprs.append(.lookup(fields, set: s, negate: negate))
            return
        }
        if let w = peekWord(end), w.hasPrefix("@") {
            let s = try setOperand(types: types, values: nil, table: table, end: end)
            exprs.append(.lookup(fields, set: s, negate: negate))
            return
        }
        if fields.count > 1 || (op == .eq || op == .ne) && { if case .numgen = fields[0] { true } else { false } }() {
            // A concatenated literal, or a numgen compared with a value: a one-element
            // anonymous set (numgen's draws are classes of a set's elements).
            let s = try anonymousSet(types: types, values: nil, table: table, braced: false, end: end)
            exprs.append(.lookup(fields, set: s, negate: negate))
            return
        }
        // One value, or a comma list (`ct state`-style lists are handled above).
        let vt = tokens[pos]
        let (v, _) = try valueWord(end: end)
        guard let value = Self.value(v, type: types[0]) else { throw syntax(vt, "'\(Excerpt.quote(v))' is not a \(types[0].rawValue)") }
        if pos < end, case .comma = tokens[pos].kind {
            throw .unsupported(NFTUnsupported(token: tokens[pos], construct: "a comma list outside braces"))
        }
        if case .numgen = fields[0] { throw .unsupported(NFTUnsupported(token: vt, construct: "numgen compared with <, >, <= or >=")) }
        let mask: UInt128 = fields[0].bits >= 128 ? .max : (1 << UInt128(fields[0].bits)) - 1
        exprs.append(.compare(fields[0], op, low: value.0, high: value.1, mask: mask))
    }

    mutating func valueWord(end: Int) throws(NFTRuleError) -> (Substring, NFTToken) {
        guard pos < end else { throw syntax(tokens[pos - 1], "expected a value") }
        let t = tokens[pos]
        pos += 1
        switch t.kind {
        case .word(let w): return (w, t)
        case .string(let s): return (s, t)
        default: throw syntax(t, "expected a value, found \(describe(t))")
        }
    }

    /// `@name` (checked against the key's types) or an anonymous `{ … }`.
    mutating func setOperand(types: [NFTDataType], values: [NFTDataType]?, table: Int, end: Int) throws(NFTRuleError) -> Int32 {
        let t = tokens[pos]
        if let w = peekWord(end), w.hasPrefix("@") {
            pos += 1
            guard let s = setIndex(table, String(w.dropFirst())) else { throw syntax(t, "no set or map '\(Excerpt.quote(w.dropFirst()))' in table \(rs.tables[table].name)") }
            guard rs.sets[s].keyTypes.count == types.count, zip(rs.sets[s].keyTypes, types).allSatisfy({ $0 == $1 || ($0 == .integer && $1 == .mark) || ($0 == .mark && $1 == .integer) }) else {
                throw syntax(t, "\(rs.sets[s].name) has key type \(rs.sets[s].keyTypes.map(\.rawValue).joined(separator: " . ")), the expression gives \(types.map(\.rawValue).joined(separator: " . "))")
            }
            return Int32(s)
        }
        guard case .lbrace = t.kind else { throw syntax(t, "expected @set or '{', found \(describe(t))") }
        return try anonymousSet(types: types, values: values, table: table, braced: true, end: end)
    }

    mutating func anonymousSet(types: [NFTDataType], values: [NFTDataType]?, table: Int, braced: Bool, end: Int) throws(NFTRuleError) -> Int32 {
        var s = NFTSet(name: "__set\(rs.sets.count)", table: table, keyTypes: types, valueTypes: values, line: tokens[pos].line)
        s.anonymous = true
        s.flags = ["interval", "constant"]
        rs.sets.append(s)
        let index = rs.sets.count - 1
        do {
            if braced {
                pos += 1
                try elements(into: index)
            } else {
                rs.sets[index].elements.append(try elementKey(types))
            }
        } catch { throw .syntax(error) }
        return Int32(index)
    }

    /// `ADDR`, `ADDR:PORT`, `[V6]:PORT`, or `FIELDS map @m | { … }` (address, or address . port).
    mutating func natTarget(family: IPFamily?, table: Int, end: Int, at: NFTToken) throws(NFTRuleError) -> NFTNATTarget {
        guard let w = peekWord(end) else { throw syntax(at, "expected an address after 'to'") }
        if ["ip", "ip6", "th", "tcp", "udp", "sctp", "meta", "numgen", "mark"].contains(w) {
            guard let family else { throw syntax(at, "dnat through a map in an inet table needs 'dnat ip to' or 'dnat ip6 to'") }
            var deps: [NFTExpr] = []
            let fields = try fieldList(&deps, end: end)
            guard deps.isEmpty else { throw .unsupported(NFTUnsupported(token: at, construct: "a transport-protocol field as a NAT map key")) }
            if fields.count > 1, fields.contains(where: { if case .numgen = $0 { true } else { false } }) {
                throw .unsupported(NFTUnsupported(token: at, construct: "numgen inside a concatenation"))
            }
            let (m, mt) = try ruleWord("'map'", end: end)
            guard m == "map" else { throw syntax(mt, "expected 'map' after the key, found '\(Excerpt.quote(m))'") }
            let addr: NFTDataType = family == .ipv4 ? .ipv4Addr : .ipv6Addr
            // The value is an address, or an address and a port: look at the first element.
            var values: [NFTDataType] = [addr]
            if pos < end, case .lbrace = tokens[pos].kind {
                var i = pos + 1
                while i < end, tokens[i].word != ":" { i += 1 }
                if i + 2 < end, tokens[i + 2].word == "." { values = [addr, .inetService] }
            } else if let ref = peekWord(end), let s = setIndex(table, String(ref.dropFirst())) {
                values = rs.sets[s].valueTypes ?? values
            }
            let s = try setOperand(types: fields.map(\.typeName), values: values, table: table, end: end)
            guard let vt = rs.sets[Int(s)].valueTypes, vt.first == addr else { throw syntax(mt, "\(rs.sets[Int(s)].name) does not map to \(addr.rawValue)") }
            return .map(fields: fields, set: s)
        }
        pos += 1
        let t = tokens[pos - 1]
        // `:80` alone: the port only.
        if w.hasPrefix(":"), let p = UInt16(w.dropFirst()) { return .address(nil, port: p) }
        if let a = try? IPAddress(parsing: w) { return .address(a, port: nil) }
        if let sa = try? SocketAddress(parsing: w) { return .address(sa.address, port: sa.port) }
        if let colon = w.lastIndex(of: ":"), let a = try? IPAddress(parsing: w[..<colon]), a.family == .ipv4 {
            let portText = w[w.index(after: colon)...]
            if portText.contains("-") { throw .unsupported(NFTUnsupported(token: t, construct: "a NAT port range")) }
        }
        if w.contains("-") { throw .unsupported(NFTUnsupported(token: t, construct: "a NAT address range")) }
        throw syntax(t, "'\(Excerpt.quote(w))' is not an address or address:port")
    }

    /// Resolves jump/goto names (rules and verdict maps) to chain indices.
    mutating func link() throws(NFTParseError) {
        var resolved: [Int32] = []
        for r in pendingChains {
            guard let c = chainIndex(r.table, r.name) else {
                throw NFTParseError(file: file, line: r.line, column: r.column, message: "no chain '\(Excerpt.quote(r.name))' in table \(rs.tables[r.table].name) to jump to")
            }
            resolved.append(Int32(c))
        }
        func fix(_ v: NFTVerdict) -> NFTVerdict {
            switch v {
            case .jump(let x) where x < 0: .jump(resolved[Int(-x) - 1])
            case .goto(let x) where x < 0: .goto(resolved[Int(-x) - 1])
            default: v
            }
        }
        for c in rs.chains.indices {
            for r in rs.chains[c].rules.indices {
                for e in rs.chains[c].rules[r].exprs.indices {
                    if case .verdict(let v) = rs.chains[c].rules[r].exprs[e] { rs.chains[c].rules[r].exprs[e] = .verdict(fix(v)) }
                }
            }
        }
        for s in rs.sets.indices {
            for e in rs.sets[s].elements.indices {
                if case .verdict(let v)? = rs.sets[s].elements[e].value { rs.sets[s].elements[e].value = .verdict(fix(v)) }
            }
        }
    }
}
