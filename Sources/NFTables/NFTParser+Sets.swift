import Wire

/// Sets and maps: `set`/`map` bodies (type, flags, timeout, elements), element keys and
/// verdict values.
extension NFTParser {
    mutating func setBody(table: Int, name: String, isMap: Bool, at: NFTToken) throws(NFTParseError) {
        if let h = takeHandle() { _ = h }
        var keyTypes: [NFTDataType] = []
        var valueTypes: [NFTDataType]?
        var flags: Set<String> = []
        var timeout: UInt64?
        var comment: String?
        var elementsStart: Int?
        while true {
            skipSeparators()
            let t = next()
            switch t.kind {
            case .rbrace:
                guard !keyTypes.isEmpty else { throw error(t, "set \(Excerpt.quote(name)) has no type") }
                var s = setIndex(table, name).map { rs.sets[$0] } ?? NFTSet(name: name, table: table, keyTypes: keyTypes, valueTypes: valueTypes, line: at.line)
                s.keyTypes = keyTypes
                s.valueTypes = valueTypes
                s.flags = flags
                s.timeout = timeout ?? s.timeout
                s.comment = comment ?? s.comment
                let index: Int
                if let i = setIndex(table, name) { rs.sets[i] = s; index = i } else {
                    rs.sets.append(s)
                    index = rs.sets.count - 1
                    setAt[NFTObjectName(table: table, name: name)] = index
                }
                if let e = elementsStart {
                    let save = pos
                    pos = e
                    try elements(into: index)
                    pos = save
                }
                return
            case .word(let w):
                switch w {
                case "type":
                    keyTypes = try typeList(at: t)
                    if case .word(":") = peek.kind {
                        pos += 1
                        valueTypes = try typeList(at: t)
                    }
                    if isMap && valueTypes == nil { throw error(t, "map \(Excerpt.quote(name)) has no value type (type KEY : VALUE)") }
                case "typeof": throw error(t, "'typeof' set declarations are not something kdp reads (give 'type')")
                case "flags":
                    repeat {
                        let (f, ft) = try word("a set flag")
                        guard ["interval", "dynamic", "timeout", "constant"].contains(f) else { throw error(ft, "set flag '\(Excerpt.quote(f))' is not interval, dynamic, timeout or constant") }
                        flags.insert(String(f))
                        if case .comma = peek.kind { pos += 1 } else { break }
                    } while true
                case "timeout": timeout = try duration()
                case "gc-interval": _ = try duration()
                case "size": _ = try word("a size")
                case "policy": _ = try word("performance or memory")
                case "auto-merge": break
                case "counter": break
                case "comment": comment = try self.name("a comment").0
                case "elements":
                    try expect(.word("="), "'='")
                    try expect(.lbrace, "'{'")
                    // Elements need the type, which may follow: read them at the closing brace.
                    elementsStart = pos
                    var depth = 1
                    while depth > 0 {
                        let u = next()
                        if case .lbrace = u.kind { depth += 1 } else if case .rbrace = u.kind { depth -= 1 }
                        if pos >= tokens.count { throw error(u, "unterminated elements") }
                    }
                default: throw error(t, "'\(Excerpt.quote(w))' in a set is not type, flags, timeout, size, comment or elements")
                }
            default: throw error(t, "expected a set property or '}', found \(describe(t))")
            }
        }
    }

    mutating func typeList(at: NFTToken) throws(NFTParseError) -> [NFTDataType] {
        var out: [NFTDataType] = []
        repeat {
            let (w, t) = try word("a datatype")
            guard let d = NFTDataType(rawValue: String(w)) else {
                throw error(t, "datatype '\(Excerpt.quote(w))' is not one kdp models (ipv4_addr, ipv6_addr, inet_proto, inet_service, mark, ifname, verdict)")
            }
            out.append(d)
            if case .word(".") = peek.kind { pos += 1 } else { break }
        } while true
        return out
    }

    /// `3h`, `10800s`, `2h59m58s`, `1d`, `500ms`: seconds (milliseconds rounded up).
    mutating func duration() throws(NFTParseError) -> UInt64 {
        let (w, t) = try word("a duration")
        guard let d = Self.seconds(w) else { throw error(t, "'\(Excerpt.quote(w))' is not a duration (3h, 10800s, 1d2h)") }
        return d
    }

    static func seconds(_ w: Substring) -> UInt64? {
        if let n = UInt64(w) { return n }
        var total: UInt64 = 0
        var number: UInt64 = 0
        var sawDigit = false
        var i = w.startIndex
        // Checked arithmetic: a duration too long for 64 bits is refused, not a trap.
        func add(_ n: UInt64, times unit: UInt64) -> Bool {
            let (m, o1) = n.multipliedReportingOverflow(by: unit)
            let (t, o2) = total.addingReportingOverflow(m)
            total = t
            return !o1 && !o2
        }
        while i < w.endIndex {
            let c = w[i]
            if c.isASCII, let d = c.wholeNumberValue {
                let (m, o1) = number.multipliedReportingOverflow(by: 10)
                let (n, o2) = m.addingReportingOverflow(UInt64(d))
                guard !o1, !o2 else { return nil }
                number = n
                sawDigit = true
                i = w.index(after: i)
                continue
            }
            guard sawDigit else { return nil }
            if w[i...].hasPrefix("ms") {
                guard add(number / 1000 + (number % 1000 == 0 ? 0 : 1), times: 1) else { return nil }
                i = w.index(i, offsetBy: 2)
            } else {
                let unit: UInt64
                switch c {
                case "d": unit = 86400
                case "h": unit = 3600
                case "m": unit = 60
                case "s": unit = 1
                default: return nil
                }
                guard add(number, times: unit) else { return nil }
                i = w.index(after: i)
            }
            number = 0
            sawDigit = false
        }
        return sawDigit ? nil : total
    }

    /// Elements up to the closing `}`, appended to set `s`.
    mutating func elements(into s: Int) throws(NFTParseError) {
        let keyTypes = rs.sets[s].keyTypes
        let valueTypes = rs.sets[s].valueTypes
        let table = rs.sets[s].table
        while true {
            skipNewlines()
            if case .rbrace = peek.kind { pos += 1; return }
            var e = try elementKey(keyTypes)
            while case .word(let w) = peek.kind, ["timeout", "expires", "counter", "comment", "packets", "bytes"].contains(w) {
                pos += 1
                switch w {
                case "timeout": e.timeout = try duration()
                case "expires": e.expires = try duration()
                case "comment": e.comment = try name("a comment").0
                case "packets", "bytes": _ = try word("a number")
                default: break
                }
            }
            if let valueTypes {
                try expect(.word(":"), "':' and the element's value")
                if valueTypes == [.verdict] {
                    e.value = .verdict(try verdictWord(table: table))
                } else {
                    let v = try elementKey(valueTypes)
                    e.value = .data(v.low)
                }
            }
            rs.sets[s].elements.append(e)
            skipNewlines()
            if case .comma = peek.kind { pos += 1; continue }
            skipNewlines()
            guard case .rbrace = peek.kind else { throw error(peek, "expected ',' or '}' after an element, found \(describe(peek))") }
        }
    }

    mutating func elementKey(_ types: [NFTDataType]) throws(NFTParseError) -> NFTElement {
        var low: [UInt128] = []
        var high: [UInt128] = []
        for (i, ty) in types.enumerated() {
            if i > 0 { try expect(.word("."), "'.' (the key is \(types.map(\.rawValue).joined(separator: " . ")))") }
            let (w, t) = try name("a \(ty.rawValue) value")
            guard let r = Self.value(Substring(w), type: ty) else { throw error(t, "'\(Excerpt.quote(w))' is not a \(ty.rawValue)") }
            low.append(r.0)
            high.append(r.1)
        }
        return NFTElement(low: low, high: high, value: nil)
    }

    mutating func verdictWord(table: Int) throws(NFTParseError) -> NFTVerdict {
        let (w, t) = try word("a verdict")
        switch w {
        case "accept": return .accept
        case "drop": return .drop
        case "continue": return .continue
        case "return": return .return
        case "jump", "goto":
            let (n, nt) = try name("a chain name")
            pendingChains.append(NFTPendingRef(table: table, name: n, line: nt.line, column: nt.column))
            let ref = Int32(-pendingChains.count)
            return w == "jump" ? .jump(ref) : .goto(ref)
        default: throw error(t, "'\(Excerpt.quote(w))' is not a verdict (accept, drop, continue, return, jump, goto)")
        }
    }
}
