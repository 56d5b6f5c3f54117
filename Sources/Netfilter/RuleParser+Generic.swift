import Wire

/// The generic options every rule may have (`-s -d -p -i -o -f -m -j -g -c` and their long
/// spellings), as iptables/xshared.c `do_parse` reads them.
extension RuleParser {
    /// Reads generic option `generic` (its short letter; `w` as written) at the cursor.
    @inline(__always)  // one call per generic option of every rule: keep it in the parse loop
    mutating func genericOption(_ generic: UInt8, _ w: String, _ c: inout Cursor) throws(RuleError) {
        switch generic {
        case UInt8(ascii: "s"), UInt8(ascii: "d"):
            let a = try c.arg()[0]
            let isSource = generic == UInt8(ascii: "s")
            try c.once(isSource ? "-s" : "-d", w)
            header.append(try Self.addressMatch(a, isSource: isSource, negated: c.negate))
            c.i += 2
        case UInt8(ascii: "p"):
            let a = try c.arg()[0]
            var p: IPProtocol?
            if a != "all" && a != "0" {
                guard let q = try? IPProtocol(parsing: a) else { throw RuleError(word: a, reason: "unknown protocol") }
                p = q
            }
            header.append(.proto(p, negated: c.negate))
            // `! -p tcp` loads no protocol module: it is `all` for implicit options.
            c.proto = .some(c.negate ? nil : p)
            c.i += 2
        case UInt8(ascii: "i"), UInt8(ascii: "o"):
            let isIn = generic == UInt8(ascii: "i")
            let a = try c.arg()[0]
            try c.once(isIn ? "-i" : "-o", w)
            guard !a.isEmpty, a.utf8.count < 16 else { throw RuleError(word: a, reason: "bad interface name") }
            header.append(isIn ? .inInterface(InterfacePattern(a), negated: c.negate)
                               : .outInterface(InterfacePattern(a), negated: c.negate))
            c.i += 2
        case UInt8(ascii: "f"):
            header.append(.fragment(negated: c.negate)); c.i += 1
        case UInt8(ascii: "m"):
            if c.negate { throw RuleError(word: w, reason: "'!' cannot precede -m") }
            let name = try c.arg()[0]
            guard let module = MatchModule.named[name] else { throw RuleError(word: name, reason: "unknown match module") }
            uses.append(Use(module: module, spec: module.options)); c.i += 2
        case UInt8(ascii: "j"), UInt8(ascii: "g"):
            try targetOption(generic == UInt8(ascii: "g"), w, &c)
        default:  // "c": `-c packets bytes`, not kept
            _ = try c.arg(2); c.i += 3
        }
    }

    /// `-j NAME` or `-g CHAIN`: a target kdp knows by name, or a user chain.
    private func targetOption(_ isGoto: Bool, _ w: String, _ c: inout Cursor) throws(RuleError) {
        if c.negate { throw RuleError(word: w, reason: "'!' cannot precede a target") }
        if c.targetName != nil { throw RuleError(word: w, reason: "more than one target") }
        let name = try c.arg()[0]
        guard !name.isEmpty else { throw RuleError(word: name, reason: "empty target") }
        c.targetName = name
        c.targetIsGoto = isGoto
        c.target = TargetModule.named[name]
        c.targetSpec = c.target?.options
        if isGoto && c.target != nil {
            throw RuleError(word: name, reason: "goto needs a user chain")
        }
        c.i += 2
    }

    /// `-s`/`-d ADDRESS[/MASK][,...]`: kube-proxy's `a.b.c.d[/n]` read from the bytes; a dotted
    /// mask that is not a prefix as (value, mask); anything else through `prefixes`.
    static func addressMatch(_ a: String, isSource: Bool, negated: Bool) throws(RuleError) -> Match {
        if let (address, length) = fastIPv4(a) {
            // What prefixes(a) gives for a.b.c.d[/n]; such a word has no dotted mask.
            let prefixes = [Prefix(containing: .v4(address), length: length ?? 32)]
            return isSource ? .source(prefixes, negated: negated) : .destination(prefixes, negated: negated)
        }
        if let (value, mask) = nonPrefixMask(a) {
            return isSource ? .sourceMasked(value: value, mask: mask, negated: negated)
                            : .destinationMasked(value: value, mask: mask, negated: negated)
        }
        let prefixes = try prefixes(a)
        return isSource ? .source(prefixes, negated: negated) : .destination(prefixes, negated: negated)
    }

    /// The generic option a word names, as the letter of its short form (`--destination` →
    /// `d`), or nil for a match or target option. Compares lengths and bytes, not Strings:
    /// every word of every rule comes here.
    static func genericOption(_ w: String) -> UInt8? {
        let u = w.utf8
        let n = u.count
        guard n >= 2, n <= 15, u.first == 45 else { return nil }
        if n == 2 {
            let c = u[u.index(after: u.startIndex)]
            switch c {
            case UInt8(ascii: "s"), UInt8(ascii: "d"), UInt8(ascii: "p"), UInt8(ascii: "i"), UInt8(ascii: "o"),
                 UInt8(ascii: "f"), UInt8(ascii: "m"), UInt8(ascii: "j"), UInt8(ascii: "g"), UInt8(ascii: "c"):
                return c
            default:
                return nil
            }
        }
        // Longer generic options are all `--` and ASCII; `w` is a small string here.
        switch n {
        case 5: return w == "--src" ? UInt8(ascii: "s") : w == "--dst" ? UInt8(ascii: "d") : nil
        case 6: return w == "--jump" ? UInt8(ascii: "j") : w == "--goto" ? UInt8(ascii: "g") : nil
        case 7: return w == "--match" ? UInt8(ascii: "m") : nil
        case 8: return w == "--source" ? UInt8(ascii: "s") : nil
        case 10: return w == "--protocol" ? UInt8(ascii: "p") : w == "--fragment" ? UInt8(ascii: "f") : nil
        case 13: return w == "--destination" ? UInt8(ascii: "d") : nil
        case 14: return w == "--in-interface" ? UInt8(ascii: "i") : w == "--set-counters" ? UInt8(ascii: "c") : nil
        case 15: return w == "--out-interface" ? UInt8(ascii: "o") : nil
        default: return nil
        }
    }
}
