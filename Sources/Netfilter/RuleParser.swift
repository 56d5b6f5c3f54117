import Wire

/// Why one rule's words were not understood: the word and the reason.
struct RuleError: Error {
    let word: String
    let reason: String
}

/// Turns the words of one rule into matches and a target, the way iptables' command parser
/// (`do_parse` in iptables/xshared.c, `command_default`) assigns options: generic options
/// first; any other `--option` goes to the target when it takes it, otherwise to the most
/// recently loaded match that takes it, otherwise to the protocol's match loaded implicitly
/// (`-p tcp --dport 80` loads `tcp`, which iptables-save then prints as `-m tcp`).
struct RuleParser {
    /// Gives each `statistic --mode nth` rule its own counter key.
    var nthCounter = 0

    /// An option's arguments: a window on the rule's words, which outlive it (options live only
    /// while `parse` runs), so collecting and copying them costs no reference counting.
    struct Args {
        let words: UnsafePointer<RuleWord>
        let start: Int
        let count: Int
        subscript(i: Int) -> String { words[start + i].text }
        var isEmpty: Bool { count == 0 }
    }

    /// One option as written: its canonical name, `!`, its arguments, and its own word.
    struct Option {
        let name: String  // from the static spec tables
        let negated: Bool
        let args: Args
        let wordIndex: Int
        var word: String { args.words[wordIndex].text }
    }

    private struct Use {
        let module: String
        let spec: ModuleSpec
    }

    // Scratch kept between rules, so that a rule's options cost no allocation. `options` holds
    // every module's options grouped by module (in `uses` order), each group in written order;
    // `optionUse` is the module of each.
    private var uses: [Use] = []
    private var options: [Option] = []
    private var optionUse: [Int] = []
    private var targetOptions: [Option] = []
    private var header: [Match] = []

    /// Adds an option to module `u`, after the options of modules up to `u`.
    private mutating func addOption(_ o: Option, to u: Int) {
        if optionUse.last.map({ $0 <= u }) ?? true {
            options.append(o); optionUse.append(u)
            return
        }
        let at = optionUse.firstIndex { $0 > u }!
        options.insert(o, at: at); optionUse.insert(u, at: at)
    }

    mutating func parse(_ words: [RuleWord]) throws(RuleError) -> (matches: [Match], target: Target?, jumpChain: String?) {
        try words.withUnsafeBufferPointer { (buffer) throws(RuleError) in try parse(buffer) }
    }

    private mutating func parse(
        _ words: UnsafeBufferPointer<RuleWord>
    ) throws(RuleError) -> (matches: [Match], target: Target?, jumpChain: String?) {
        defer {
            // Emptied on the way out (thrown or not), so they are empty on the way in; the
            // options point into this rule's words. Most stay empty: skip the call then.
            if !uses.isEmpty { uses.removeAll(keepingCapacity: true) }
            if !options.isEmpty { options.removeAll(keepingCapacity: true); optionUse.removeAll(keepingCapacity: true) }
            if !targetOptions.isEmpty { targetOptions.removeAll(keepingCapacity: true) }
            if !header.isEmpty { header.removeAll(keepingCapacity: true) }
        }
        var targetName: String?
        var targetIsGoto = false
        var proto: IPProtocol?? = nil  // .some(nil) is `all`
        var negate = false
        var i = 0

        // "!" is one byte in any spelling: test the length before comparing.
        func isBang(_ s: String) -> Bool { s.utf8.count == 1 && s == "!" }

        func arg(_ n: Int = 1) throws(RuleError) -> Args {
            if n == 0 { return Args(words: words.baseAddress!, start: i + 1, count: 0) }
            guard i + n < words.count else {
                throw RuleError(word: words[i].text, reason: "option needs \(n == 1 ? "an argument" : "\(n) arguments")")
            }
            for k in (i + 1)...(i + n) where isBang(words[k].text) {
                throw RuleError(word: "!", reason: "intrapositioned negation ('--option ! value') is not supported; write '! --option value'")
            }
            return Args(words: words.baseAddress!, start: i + 1, count: n)
        }

        var headerSeen: UInt16 = 0
        func once(_ key: String, _ word: String) throws(RuleError) {
            let bit: UInt16 = 1 << UInt16(key.utf8.last! & 15)
            guard headerSeen & bit == 0 else { throw RuleError(word: word, reason: "multiple \(key) flags not allowed") }
            headerSeen |= bit
        }
        var targetSpec: ModuleSpec?
        while i < words.count {
            let w = words[i].text
            if isBang(w) {
                if negate { throw RuleError(word: w, reason: "'!' twice") }
                negate = true; i += 1; continue
            }
            let generic = Self.genericOption(w)
            switch generic {
            case UInt8(ascii: "s"), UInt8(ascii: "d"):
                let a = try arg()[0]
                let isSource = generic == UInt8(ascii: "s")
                try once(isSource ? "-s" : "-d", w)
                if let (address, length) = Self.fastIPv4(a) {
                    // What prefixes(a) gives for a.b.c.d[/n]; such a word has no dotted mask.
                    let prefixes = [Prefix(containing: .v4(address), length: length ?? 32)]
                    header.append(isSource ? .source(prefixes, negated: negate) : .destination(prefixes, negated: negate))
                } else if let (value, mask) = Self.nonPrefixMask(a) {
                    header.append(isSource ? .sourceMasked(value: value, mask: mask, negated: negate)
                                           : .destinationMasked(value: value, mask: mask, negated: negate))
                } else {
                    let prefixes = try Self.prefixes(a)
                    header.append(isSource ? .source(prefixes, negated: negate) : .destination(prefixes, negated: negate))
                }
                i += 2
            case UInt8(ascii: "p"):
                let a = try arg()[0]
                try once("-p", w)
                if a == "all" || a == "0" {
                    proto = .some(nil)
                    header.append(.proto(nil, negated: negate))
                } else {
                    guard let p = try? IPProtocol(parsing: a) else {
                        throw RuleError(word: a, reason: "unknown protocol")
                    }
                    proto = .some(p)
                    header.append(.proto(p, negated: negate))
                }
                if negate, case .some(.some) = proto { proto = .some(nil) }
                i += 2
            case UInt8(ascii: "i"), UInt8(ascii: "o"):
                let isIn = generic == UInt8(ascii: "i")
                let a = try arg()[0]
                try once(isIn ? "-i" : "-o", w)
                guard !a.isEmpty, a.utf8.count < 16 else { throw RuleError(word: a, reason: "bad interface name") }
                header.append(isIn
                              ? .inInterface(InterfacePattern(a), negated: negate)
                              : .outInterface(InterfacePattern(a), negated: negate))
                i += 2
            case UInt8(ascii: "f"):
                header.append(.fragment(negated: negate)); i += 1
            case UInt8(ascii: "m"):
                if negate { throw RuleError(word: w, reason: "'!' cannot precede -m") }
                let name = try arg()[0]
                guard let spec = Specs.matches[name] else { throw RuleError(word: name, reason: "unknown match module") }
                uses.append(Use(module: name, spec: spec)); i += 2
            case UInt8(ascii: "j"), UInt8(ascii: "g"):
                if negate { throw RuleError(word: w, reason: "'!' cannot precede a target") }
                if targetName != nil { throw RuleError(word: w, reason: "more than one target") }
                let name = try arg()[0]
                guard !name.isEmpty else { throw RuleError(word: name, reason: "empty target") }
                targetName = name
                targetIsGoto = generic == UInt8(ascii: "g")
                targetSpec = Specs.targets[name]
                if targetIsGoto && targetSpec != nil {
                    throw RuleError(word: name, reason: "goto needs a user chain")
                }
                i += 2
            case UInt8(ascii: "c"):
                _ = try arg(2); i += 3
            default:
                guard Self.isLongOption(w) else { throw RuleError(word: w, reason: "unexpected word") }
                if let spec = targetSpec?.options[w] {
                    if negate && !spec.invertible { throw RuleError(word: w, reason: "'!' not allowed here") }
                    targetOptions.append(Option(name: spec.name, negated: negate, args: try arg(spec.arity), wordIndex: i))
                    i += 1 + spec.arity
                } else if let (u, spec) = lastUse(taking: w) {
                    if negate && !spec.invertible { throw RuleError(word: w, reason: "'!' not allowed before \(w)") }
                    addOption(Option(name: spec.name, negated: negate, args: try arg(spec.arity), wordIndex: i), to: u)
                    i += 1 + spec.arity
                } else if case .some(.some(let p)) = proto, let module = Specs.matches[p == .icmpv6 ? "icmp6" : p.name],
                          let spec = module.options[w] {
                    uses.append(Use(module: p == .icmpv6 ? "icmp6" : p.name, spec: module))
                    if negate && !spec.invertible { throw RuleError(word: w, reason: "'!' not allowed before \(w)") }
                    addOption(Option(name: spec.name, negated: negate, args: try arg(spec.arity), wordIndex: i), to: uses.count - 1)
                    i += 1 + spec.arity
                } else {
                    throw RuleError(word: w, reason: "unknown option")
                }
            }
            negate = false
        }
        if negate { throw RuleError(word: "!", reason: "'!' at the end of the rule") }

        // The IP header conditions first (ip_packet_match), then the modules' matches. Sized
        // for the most the modules can add (one match per option, or one for a module without
        // options): the array stays with the rule, so it is not over-allocated.
        var bound = header.count + options.count + uses.count
        var previous = -1
        for u in optionUse where u != previous { bound -= 1; previous = u }  // grouped by module
        var matches: [Match] = []
        matches.reserveCapacity(bound)
        matches.append(contentsOf: header)
        var next = 0  // the first option of module u
        for u in uses.indices {
            var end = next
            while end < optionUse.count && optionUse[end] == u { end += 1 }
            try build(uses[u].module, options[next..<end], proto: proto ?? nil, into: &matches)
            next = end
        }
        var target: Target?
        var jumpChain: String?
        if let t = targetName {
            if targetSpec != nil {
                target = try buildTarget(t, targetOptions[...], proto: proto ?? nil)
            } else {
                target = targetIsGoto ? .goto(t) : .jump(t)
                jumpChain = t
            }
        }
        return (matches, target, jumpChain)
    }

    /// The most recently loaded module that takes option `w`, and the option.
    private func lastUse(taking w: String) -> (Int, OptionSpec)? {
        var u = uses.count
        while u > 0 {
            u -= 1
            if let spec = uses[u].spec.options[w] { return (u, spec) }
        }
        return nil
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

    /// `w.hasPrefix("--")`, on bytes when the third byte is ASCII (then "--" are two whole
    /// Characters).
    static func isLongOption(_ w: String) -> Bool {
        var it = w.utf8.makeIterator()
        guard it.next() == 45, it.next() == 45 else { return false }
        guard let third = it.next(), third >= 0x80 else { return true }
        return w.hasPrefix("--")
    }

    // MARK: values

    static func number(_ s: String, max: UInt64 = UInt64(UInt32.max)) throws(RuleError) -> UInt32 {
        var v: UInt64?
        if s.hasPrefix("0x") || s.hasPrefix("0X") {
            v = UInt64(s.dropFirst(2), radix: 16)
        } else if s.count > 1 && s.hasPrefix("0") {
            v = UInt64(s.dropFirst(), radix: 8)
        } else {
            v = UInt64(s)
        }
        guard let v, v <= max else { throw RuleError(word: s, reason: "not a number in range") }
        return UInt32(v)
    }

    /// `value[/mask]`, mask defaulting to all ones (libxt_mark.c).
    static func valueMask(_ s: String) throws(RuleError) -> (UInt32, UInt32) {
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let v = try number(String(parts[0]))
        let m = parts.count == 2 ? try number(String(parts[1])) : UInt32.max
        return (v, m)
    }

    /// `addr[/len|/dotted-mask][,addr...]` as `-s`/`-d` take it; host bits are cleared, as
    /// xtables_ipparse_multiple does.
    static func prefixes(_ s: String) throws(RuleError) -> [Prefix] {
        if !s.utf8.contains(44) { return [try prefix(s)] }
        var out: [Prefix] = []
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            out.append(try prefix(String(part)))
        }
        return out
    }

    /// `a.b.c.d` or `a.b.c.d/n` read straight from the bytes: the common case, many times
    /// faster than the general parser. nil sends anything else to the general parser.
    static func fastIPv4(_ s: String) -> (IPv4Address, Int?)? {
        // On the bytes in place: iterating the String's UTF8View costs more than the checks.
        s.utf8.withContiguousStorageIfAvailable(fastIPv4) ?? fastIPv4(Array(s.utf8))
    }

    private static func fastIPv4(_ bytes: some Sequence<UInt8>) -> (IPv4Address, Int?)? {
        var value: UInt32 = 0, field: UInt32 = 0, digits = 0, dots = 0
        var length: Int? = nil
        var inLength = false
        for b in bytes {
            if inLength {
                guard b >= 48 && b <= 57 else { return nil }
                length = (length ?? 0) * 10 + Int(b - 48)
                if length! > 32 { return nil }
                continue
            }
            switch b {
            case 48...57:
                if digits > 0 && field == 0 { return nil }  // leading zero: leave to the strict parser
                field = field * 10 + UInt32(b - 48); digits += 1
                if field > 255 { return nil }
            case 46:
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | field; field = 0; digits = 0; dots += 1
            case 47:
                guard digits > 0, dots == 3 else { return nil }
                inLength = true
            default:
                return nil
            }
        }
        if inLength && length == nil { return nil }
        guard dots == 3, digits > 0 || inLength else { return nil }
        if !inLength { guard digits > 0 else { return nil } }
        return (IPv4Address(value << 8 | field), length)
    }

    /// `a.b.c.d/w.x.y.z` whose mask is not a run of ones: (address & mask, mask).
    static func nonPrefixMask(_ s: String) -> (UInt32, UInt32)? {
        // Cheap refusal first: a dotted mask needs a '.' after the '/'.
        guard let slash = s.utf8.firstIndex(of: 47), s.utf8[slash...].contains(46) else { return nil }
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1].contains("."), let mask = try? IPv4Address(parsing: parts[1]),
              let a = try? IPv4Address(parsing: parts[0]) else { return nil }
        let m = mask.value
        let contiguous = m == 0 || (~m) & (~m &+ 1) == 0  // ones then zeros
        return contiguous ? nil : (a.value & m, m)
    }

    static func prefix(_ s: String) throws(RuleError) -> Prefix {
        if let (a, len) = fastIPv4(s) { return Prefix(containing: .v4(a), length: len ?? 32) }
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2, parts[1].contains("."), let mask = try? IPv4Address(parsing: parts[1]) {
            let len = mask.value.leadingZeroBitCount == 0 || mask.value == 0 ? mask.value.nonzeroBitCount : -1
            guard len >= 0, mask.value == (len == 0 ? 0 : UInt32.max << UInt32(32 - len)),
                  let a = try? IPAddress(parsing: parts[0]), a.family == .ipv4
            else { throw RuleError(word: s, reason: "not an address or network") }
            return Prefix(containing: a, length: len)
        }
        do {
            return try Prefix(parsing: s, allowHostBits: true, allowBareAddress: true)
        } catch {
            throw RuleError(word: s, reason: "not an address or network (\(error.reason))")
        }
    }

    static func portRange(_ s: String) throws(RuleError) -> PortRange {
        if s.utf8.count <= 5, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let p = UInt16(s) { return PortRange(p) }
        do { return try PortRange(parsing: s, allowOpenEnds: true) } catch {
            throw RuleError(word: s, reason: "not a port or port range")
        }
    }

    static func ctStates(_ s: String, allowNAT: Bool) throws(RuleError) -> CtStateSet {
        var set = CtStateSet()
        for name in s.split(separator: ",", omittingEmptySubsequences: false) {
            guard let e = CtStateSet.names.first(where: { $0.0 == name.uppercased() }),
                  allowNAT || (e.1 != .snat && e.1 != .dnat)
            else { throw RuleError(word: String(name), reason: "unknown conntrack state") }
            set.insert(e.1)
        }
        return set
    }

    static func addressTypes(_ s: String) throws(RuleError) -> AddressTypeSet {
        var set = AddressTypeSet()
        for name in s.split(separator: ",", omittingEmptySubsequences: false) {
            guard let e = AddressTypeSet.names.first(where: { $0.0 == name.uppercased() }) else {
                throw RuleError(word: String(name), reason: "unknown address type")
            }
            set.insert(e.1)
        }
        return set
    }

    static let icmpTypes: [String: (UInt8?, ClosedRange<UInt8>)] = [
        "any": (nil, 0...255), "echo-reply": (0, 0...255), "pong": (0, 0...255),
        "destination-unreachable": (3, 0...255), "network-unreachable": (3, 0...0),
        "host-unreachable": (3, 1...1), "protocol-unreachable": (3, 2...2), "port-unreachable": (3, 3...3),
        "fragmentation-needed": (3, 4...4), "source-route-failed": (3, 5...5),
        "network-prohibited": (3, 9...9), "host-prohibited": (3, 10...10),
        "communication-prohibited": (3, 13...13), "source-quench": (4, 0...255), "redirect": (5, 0...255),
        "echo-request": (8, 0...255), "ping": (8, 0...255), "router-advertisement": (9, 0...255),
        "router-solicitation": (10, 0...255), "time-exceeded": (11, 0...255), "ttl-exceeded": (11, 0...255),
        "ttl-zero-during-transit": (11, 0...0), "ttl-zero-during-reassembly": (11, 1...1),
        "parameter-problem": (12, 0...255), "timestamp-request": (13, 0...255),
        "timestamp-reply": (14, 0...255),
    ]

    // MARK: modules

    private mutating func build(
        _ module: String, _ opts: ArraySlice<Option>, proto: IPProtocol?, into out: inout [Match]
    ) throws(RuleError) {
        func one(_ name: String) -> (negated: Bool, args: Args)? {
            opts.last(where: { $0.name == name }).map { ($0.negated, $0.args) }
        }
        for idx in opts.indices where opts[..<idx].contains(where: { $0.name == opts[idx].name }) {
            throw RuleError(word: opts[idx].word, reason: "option given twice")
        }
        switch module {
        case "tcp", "udp", "sctp":
            let p: IPProtocol = module == "tcp" ? .tcp : module == "udp" ? .udp : .sctp
            guard proto == p else {
                throw RuleError(word: module, reason: "-m \(module) needs -p \(module) (the kernel refuses the rule)")
            }
            if let o = one("--sport") { out.append(.sourcePort(p, try Self.portRange(o.args[0]), negated: o.negated)) }
            if let o = one("--dport") { out.append(.destinationPort(p, try Self.portRange(o.args[0]), negated: o.negated)) }
            if let o = one("--tcp-flags") {
                out.append(.tcpFlags(mask: try Self.tcpFlags(o.args[0]), compare: try Self.tcpFlags(o.args[1]), negated: o.negated))
            }
            if one("--syn") != nil && one("--tcp-flags") != nil {
                throw RuleError(word: "--syn", reason: "--syn and --tcp-flags cannot be combined")
            }
            if let o = one("--syn") {
                out.append(.tcpFlags(mask: 0x17, compare: 0x02, negated: o.negated))
            }
            if let o = opts.first(where: { $0.name == "--tcp-option" }) {
                throw RuleError(word: o.word, reason: "--tcp-option is not emulated")
            }
        case "icmp6":
            guard proto == .icmpv6 else { throw RuleError(word: module, reason: "-m icmp6 needs -p ipv6-icmp") }
            if let o = one("--icmpv6-type") {
                let a = o.args[0]
                let names: [String: (UInt8?, ClosedRange<UInt8>)] = [
                    "destination-unreachable": (1, 0...255), "no-route": (1, 0...0), "packet-too-big": (2, 0...255),
                    "time-exceeded": (3, 0...255), "parameter-problem": (4, 0...255), "echo-request": (128, 0...255),
                    "ping": (128, 0...255), "echo-reply": (129, 0...255), "pong": (129, 0...255),
                    "router-solicitation": (133, 0...255), "router-advertisement": (134, 0...255),
                    "neighbour-solicitation": (135, 0...255), "neighbor-solicitation": (135, 0...255),
                    "neighbour-advertisement": (136, 0...255), "neighbor-advertisement": (136, 0...255), "redirect": (137, 0...255),
                ]
                if let named = names[a] {
                    out.append(.icmpType(type: named.0, code: named.1, negated: o.negated))
                } else {
                    let parts = a.split(separator: "/", maxSplits: 1)
                    guard let t = parts.first.flatMap({ UInt8($0) }) else { throw RuleError(word: a, reason: "unknown ICMPv6 type") }
                    var code: ClosedRange<UInt8> = 0...255
                    if parts.count == 2 {
                        guard let c = UInt8(parts[1]) else { throw RuleError(word: a, reason: "bad ICMPv6 code") }
                        code = c...c
                    }
                    out.append(.icmpType(type: t, code: code, negated: o.negated))
                }
            }
        case "icmp":
            guard proto == .icmp else { throw RuleError(word: module, reason: "-m icmp needs -p icmp") }
            if let o = one("--icmp-type") {
                let a = o.args[0]
                if let named = Self.icmpTypes[a] {
                    out.append(.icmpType(type: named.0, code: named.1, negated: o.negated))
                } else {
                    let parts = a.split(separator: "/", maxSplits: 1)
                    guard let t = parts.first.flatMap({ UInt8($0) }) else {
                        throw RuleError(word: a, reason: "unknown ICMP type")
                    }
                    var code: ClosedRange<UInt8> = 0...255
                    if parts.count == 2 {
                        guard let c = UInt8(parts[1]) else { throw RuleError(word: a, reason: "bad ICMP code") }
                        code = c...c
                    }
                    out.append(.icmpType(type: t, code: code, negated: o.negated))
                }
            }
        case "multiport":
            guard let p = proto, p == .tcp || p == .udp || p == .sctp else {
                throw RuleError(word: module, reason: "multiport needs -p tcp, udp or sctp")
            }
            guard opts.count == 1, let o = opts.first else {
                throw RuleError(word: module, reason: "multiport takes exactly one of --sports, --dports, --ports")
            }
            var ranges: [PortRange] = []
            var count = 0
            for part in o.args[0].split(separator: ",", omittingEmptySubsequences: false) {
                let r = try Self.portRange(String(part))
                count += r.lower == r.upper ? 1 : 2
                ranges.append(r)
            }
            guard count <= 15 else { throw RuleError(word: o.args[0], reason: "too many ports specified (at most 15)") }
            let side: PortSide = o.name == "--sports" ? .source : o.name == "--dports" ? .destination : .either
            out.append(.multiport(ranges, side: side, negated: o.negated))
        case "comment":
            guard let o = one("--comment") else { throw RuleError(word: module, reason: "comment needs --comment") }
            out.append(.comment(o.args[0]))
        case "statistic":
            guard let mode = one("--mode")?.args[0] else { throw RuleError(word: module, reason: "statistic needs --mode") }
            if mode == "random" {
                if one("--every") != nil || one("--packet") != nil {
                    throw RuleError(word: "--every", reason: "--every and --packet need --mode nth")
                }
                guard let o = one("--probability"), let p = Self.decimal(o.args[0]), p >= 0, p <= 1 else {
                    throw RuleError(word: one("--probability")?.args[0] ?? module, reason: "--probability must be 0..1")
                }
                // libxt_statistic.c: probability = lround(0x80000000 * prob)
                let threshold = UInt32(min((p * 2147483648.0).rounded(.toNearestOrAwayFromZero), 2147483648.0))
                out.append(.statisticRandom(threshold: threshold, negated: o.negated))
            } else if mode == "nth" {
                if one("--probability") != nil { throw RuleError(word: "--probability", reason: "--probability needs --mode random") }
                guard let o = one("--every") else { throw RuleError(word: module, reason: "nth mode needs --every") }
                let every = try Self.number(o.args[0])
                guard every >= 1 else { throw RuleError(word: o.args[0], reason: "--every must be at least 1") }
                let packet = try one("--packet").map { (x) throws(RuleError) in try Self.number(x.args[0]) } ?? 0
                guard packet <= every - 1 else { throw RuleError(word: "\(packet)", reason: "--packet must be below --every") }
                nthCounter += 1
                out.append(.statisticNth(every: every - 1, packet: (every - 1) - packet, negated: o.negated, id: nthCounter))
            } else {
                throw RuleError(word: mode, reason: "unknown statistic mode")
            }
        case "mark", "connmark":
            guard let o = one("--mark") else { throw RuleError(word: module, reason: "\(module) needs --mark") }
            let (v, m) = try Self.valueMask(o.args[0])
            out.append(module == "mark" ? .mark(value: v, mask: m, negated: o.negated)
                                        : .connmark(value: v, mask: m, negated: o.negated))
        case "conntrack", "state":
            if opts.isEmpty { throw RuleError(word: module, reason: "\(module) needs at least one option") }
            for o in opts {
                switch o.name {
                case "--ctstate", "--state":
                    out.append(.ctState(try Self.ctStates(o.args[0], allowNAT: module == "conntrack"), negated: o.negated))
                case "--ctproto":
                    let a = o.args[0]
                    let p: IPProtocol? = a == "all" || a == "0" ? nil : try {
                        () throws(RuleError) -> IPProtocol in
                        guard let p = try? IPProtocol(parsing: a) else { throw RuleError(word: a, reason: "unknown protocol") }
                        return p
                    }()
                    out.append(.ctProto(p, negated: o.negated))
                case "--ctorigsrc": out.append(.ctOrigSource([try Self.prefix(o.args[0])], negated: o.negated))
                case "--ctorigdst": out.append(.ctOrigDestination([try Self.prefix(o.args[0])], negated: o.negated))
                case "--ctreplsrc": out.append(.ctReplySource([try Self.prefix(o.args[0])], negated: o.negated))
                case "--ctrepldst": out.append(.ctReplyDestination([try Self.prefix(o.args[0])], negated: o.negated))
                case "--ctorigsrcport": out.append(.ctOrigSourcePort(try Self.portRange(o.args[0]), negated: o.negated))
                case "--ctorigdstport": out.append(.ctOrigDestinationPort(try Self.portRange(o.args[0]), negated: o.negated))
                case "--ctreplsrcport": out.append(.ctReplySourcePort(try Self.portRange(o.args[0]), negated: o.negated))
                case "--ctrepldstport": out.append(.ctReplyDestinationPort(try Self.portRange(o.args[0]), negated: o.negated))
                case "--ctdir":
                    let a = o.args[0].uppercased()
                    guard a == "ORIGINAL" || a == "REPLY" else { throw RuleError(word: o.args[0], reason: "--ctdir is ORIGINAL or REPLY") }
                    out.append(.ctDirectionOriginal(a == "ORIGINAL"))
                default:
                    throw RuleError(word: o.word, reason: "conntrack option not emulated")
                }
            }
        case "addrtype":
            let s = one("--src-type"), d = one("--dst-type")
            if s == nil && d == nil { throw RuleError(word: module, reason: "addrtype needs --src-type or --dst-type") }
            if one("--limit-iface-in") != nil && one("--limit-iface-out") != nil {
                throw RuleError(word: "--limit-iface-out", reason: "--limit-iface-in and --limit-iface-out cannot be combined")
            }
            out.append(.addrType(
                source: try s.map { (x) throws(RuleError) in try Self.addressTypes(x.args[0]) }, sourceNegated: s?.negated ?? false,
                destination: try d.map { (x) throws(RuleError) in try Self.addressTypes(x.args[0]) }, destinationNegated: d?.negated ?? false,
                limitInputInterface: one("--limit-iface-in") != nil, limitOutputInterface: one("--limit-iface-out") != nil))
        case "recent":
            var r = RecentMatch()
            var commands = 0
            for o in opts {
                switch o.name {
                case "--name": r.name = o.args[0]
                case "--set": r.command = .set; r.negated = o.negated; commands += 1
                case "--rcheck": r.command = .rcheck; r.negated = o.negated; commands += 1
                case "--update": r.command = .update; r.negated = o.negated; commands += 1
                case "--remove": r.command = .remove; r.negated = o.negated; commands += 1
                case "--seconds": r.seconds = try Self.number(o.args[0])
                case "--hitcount": r.hitCount = try Self.number(o.args[0])
                case "--reap": r.reap = true
                case "--rttl": r.checkTTL = true
                case "--rsource": r.useDestination = false
                case "--rdest": r.useDestination = true
                case "--mask":
                    guard let a = try? IPAddress(parsing: o.args[0]) else { throw RuleError(word: o.args[0], reason: "bad --mask") }
                    r.mask = a
                default: break
                }
            }
            guard commands == 1 else {
                throw RuleError(word: module, reason: "recent needs exactly one of --set, --rcheck, --update, --remove")
            }
            if r.reap && r.seconds == 0 { throw RuleError(word: "--reap", reason: "--reap needs --seconds") }
            out.append(.recent(r))
        case "set":
            for o in opts where o.name == "--packets-eq" || o.name.hasPrefix("--packets") || o.name.hasPrefix("--bytes") {
                throw RuleError(word: o.word, reason: "ipset counter matches are not emulated")
            }
            guard let o = one("--match-set") ?? one("--set") else { throw RuleError(word: module, reason: "set needs --match-set") }
            var dirs: [SetDirection] = []
            for d in o.args[1].split(separator: ",", omittingEmptySubsequences: false) {
                guard let dir = SetDirection(rawValue: String(d)) else { throw RuleError(word: o.args[1], reason: "set direction is src or dst") }
                dirs.append(dir)
            }
            guard (1...6).contains(dirs.count) else { throw RuleError(word: o.args[1], reason: "1 to 6 directions") }
            out.append(.set(name: o.args[0], directions: dirs, negated: o.negated, returnNomatch: one("--return-nomatch") != nil))
        case "physdev":
            var p = PhysdevMatch()
            for o in opts {
                switch o.name {
                case "--physdev-in": p.physIn = InterfacePattern(o.args[0]); p.physInNegated = o.negated
                case "--physdev-out": p.physOut = InterfacePattern(o.args[0]); p.physOutNegated = o.negated
                case "--physdev-is-in": p.isIn = !o.negated
                case "--physdev-is-out": p.isOut = !o.negated
                case "--physdev-is-bridged": p.isBridged = !o.negated
                default: break
                }
            }
            out.append(.physdev(p))
        case "ipvs":
            var v = IPVSMatch()
            for o in opts {
                switch o.name {
                case "--ipvs": v.ipvs = !o.negated
                case "--vproto":
                    guard let p = try? IPProtocol(parsing: o.args[0]) else { throw RuleError(word: o.args[0], reason: "unknown protocol") }
                    v.vproto = p; v.vprotoNegated = o.negated
                case "--vaddr": v.vaddr = try Self.prefix(o.args[0]); v.vaddrNegated = o.negated
                case "--vport":
                    v.vport = UInt16(exactly: try Self.number(o.args[0], max: 65535)); v.vportNegated = o.negated
                case "--vdir":
                    let a = o.args[0].uppercased()
                    guard a == "ORIGINAL" || a == "REPLY" else { throw RuleError(word: o.args[0], reason: "--vdir is ORIGINAL or REPLY") }
                    v.vdirOriginal = a == "ORIGINAL"
                default:
                    throw RuleError(word: o.word, reason: "ipvs option not emulated")
                }
            }
            out.append(.ipvs(v))
        case "nfacct", "limit":
            out.append(.alwaysTrue(module: module))
        default:
            throw RuleError(word: module, reason: "unknown match module")
        }
    }

    /// `Double(s)`, read directly when `s` is digits with at most one `.` and at most 15 digits
    /// (kube-proxy's `0.50000000000`): the digits then make an exact integer below 2^53 and the
    /// power of ten is exact, so one division rounds correctly, as strtod does.
    static func decimal(_ s: String) -> Double? {
        var mantissa: UInt64 = 0, digits = 0, fraction = 0, dot = false
        for b in s.utf8 {
            if b == 46 {
                if dot { return Double(s) }
                dot = true
                continue
            }
            guard b >= 48 && b <= 57, digits < 15 else { return Double(s) }
            mantissa = mantissa * 10 + UInt64(b - 48)
            digits += 1
            if dot { fraction += 1 }
        }
        guard digits > 0 else { return Double(s) }
        let powers: [Double] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]
        return Double(mantissa) / powers[fraction]
    }

    static func tcpFlags(_ s: String) throws(RuleError) -> UInt8 {
        let names: [String: UInt8] = ["FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20,
                                      "ALL": 0x3F, "NONE": 0]
        var v: UInt8 = 0
        for n in s.split(separator: ",") {
            guard let f = names[n.uppercased()] else { throw RuleError(word: s, reason: "unknown TCP flag") }
            v |= f
        }
        return v
    }

    // MARK: targets

    private func buildTarget(
        _ name: String, _ opts: ArraySlice<Option>, proto: IPProtocol?
    ) throws(RuleError) -> Target {
        func one(_ n: String) -> Args? { opts.last(where: { $0.name == n })?.args }
        func has(_ n: String) -> Bool { opts.contains { $0.name == n } }
        switch name {
        case "ACCEPT": return .accept
        case "DROP": return .drop
        case "RETURN": return .returnFromChain
        case "REJECT":
            guard let w = one("--reject-with") else { return .reject(.icmpPortUnreachable) }
            let aliases: [String: RejectKind] = [
                "net-unreach": .icmpNetUnreachable, "host-unreach": .icmpHostUnreachable,
                "port-unreach": .icmpPortUnreachable, "proto-unreach": .icmpProtoUnreachable,
                "net-prohib": .icmpNetProhibited, "host-prohib": .icmpHostProhibited,
                "admin-prohib": .icmpAdminProhibited, "tcp-rst": .tcpReset,
                "no-route": .icmp6NoRoute, "adm-prohibited": .icmp6AdmProhibited, "addr-unreach": .icmp6AddrUnreachable,
                "policy-fail": .icmp6PolicyFail, "reject-route": .icmp6RejectRoute,
            ]
            guard let k = RejectKind(rawValue: w[0]) ?? aliases[w[0]] else { throw RuleError(word: w[0], reason: "unknown --reject-with") }
            if k == .tcpReset && proto != .tcp { throw RuleError(word: w[0], reason: "tcp-reset needs -p tcp") }
            return .reject(k)
        case "DNAT":
            guard let to = one("--to-destination") else { throw RuleError(word: name, reason: "DNAT needs --to-destination") }
            return .dnat(try Self.natRange(to[0], proto: proto), random: has("--random"), persistent: has("--persistent"))
        case "SNAT":
            guard let to = one("--to-source") else { throw RuleError(word: name, reason: "SNAT needs --to-source") }
            return .snat(try Self.natRange(to[0], proto: proto), random: has("--random"),
                         randomFully: has("--random-fully"), persistent: has("--persistent"))
        case "MASQUERADE", "REDIRECT":
            var ports: PortRange?
            if let p = one("--to-ports") {
                guard let pr = proto, pr.hasPorts else { throw RuleError(word: p[0], reason: "--to-ports needs -p tcp, udp or sctp") }
                ports = try Self.portRange(p[0])
            }
            return name == "MASQUERADE"
                ? .masquerade(ports: ports, random: has("--random"), randomFully: has("--random-fully"))
                : .redirect(ports: ports, random: has("--random"))
        case "MARK":
            guard opts.count == 1, let o = opts.first else { throw RuleError(word: name, reason: "MARK needs exactly one action") }
            // libxt_MARK.c mark_tg_parse: every form becomes (value, mask) for mark_tg's
            // mark = (mark & ~mask) ^ value.
            switch o.name {
            case "--set-xmark":
                let (v, m) = try Self.valueMask(o.args[0]); return .mark(value: v, mask: m)
            case "--set-mark":
                let (v, m) = try Self.valueMask(o.args[0]); return .mark(value: v, mask: v | m)
            case "--and-mark": return .mark(value: 0, mask: ~(try Self.number(o.args[0])))
            case "--or-mark": let v = try Self.number(o.args[0]); return .mark(value: v, mask: v)
            default: return .mark(value: try Self.number(o.args[0]), mask: 0)
            }
        case "CONNMARK":
            if has("--save-mark") || has("--restore-mark") {
                var nf = UInt32.max, ct = UInt32.max
                if let m = one("--mask") { nf = try Self.number(m[0]); ct = nf }
                if let m = one("--nfmask") { nf = try Self.number(m[0]) }
                if let m = one("--ctmask") { ct = try Self.number(m[0]) }
                return has("--save-mark") ? .connmarkSave(nfmask: nf, ctmask: ct) : .connmarkRestore(nfmask: nf, ctmask: ct)
            }
            if let a = one("--set-xmark") { let (v, m) = try Self.valueMask(a[0]); return .connmarkSet(value: v, mask: m) }
            if let a = one("--set-mark") { let (v, m) = try Self.valueMask(a[0]); return .connmarkSet(value: v, mask: v | m) }
            if let a = one("--and-mark") { return .connmarkSet(value: 0, mask: ~(try Self.number(a[0]))) }
            if let a = one("--or-mark") { let v = try Self.number(a[0]); return .connmarkSet(value: v, mask: v) }
            if let a = one("--xor-mark") { return .connmarkSet(value: try Self.number(a[0]), mask: 0) }
            throw RuleError(word: name, reason: "CONNMARK needs an action")
        case "LOG": return .log(prefix: one("--log-prefix")?[0] ?? "")
        case "TRACE": return .trace
        case "NOTRACK": return .notrack
        case "CT":
            if has("--notrack") { return .notrack }
            return .ct(opts.map { o in ([o.name] + (0..<o.args.count).map { o.args[$0] }).joined(separator: " ") }.joined(separator: " "))
        default:
            throw RuleError(word: name, reason: "unknown target")
        }
    }

    /// `[ip[-ip]][:port[-port]]`, IPv6 in brackets when a port follows (libipt_DNAT.c,
    /// libxt_DNAT.c `parse_to`).
    static func natRange(_ s: String, proto: IPProtocol?) throws(RuleError) -> NATRange {
        // Fast path for kube-proxy's `a.b.c.d:port`.
        if let colon = s.utf8.firstIndex(of: 58), s.utf8[s.utf8.index(after: colon)...].allSatisfy({ $0 >= 48 && $0 <= 57 }),
           let fast = fastIPv4(String(s[..<colon])), fast.1 == nil, let p = UInt16(s[s.index(after: colon)...]) {
            let a = fast.0
            guard let pr = proto, pr.hasPorts else { throw RuleError(word: s, reason: "a port needs -p tcp, udp or sctp") }
            return NATRange(firstAddress: .v4(a), lastAddress: .v4(a), ports: PortRange(p))
        }
        var addrPart = Substring(s)
        var portPart: Substring?
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { throw RuleError(word: s, reason: "missing ']'") }
            addrPart = s[s.index(after: s.startIndex)..<close]
            let rest = s[s.index(after: close)...]
            if rest.hasPrefix(":") { portPart = rest.dropFirst() } else if !rest.isEmpty {
                throw RuleError(word: s, reason: "unexpected text after ']'")
            }
        } else if s.filter({ $0 == ":" }).count == 1, let colon = s.firstIndex(of: ":") {
            addrPart = s[..<colon]
            portPart = s[s.index(after: colon)...]
        }
        var range = NATRange(firstAddress: nil, lastAddress: nil, ports: nil)
        if !addrPart.isEmpty {
            let ends = addrPart.split(separator: "-", maxSplits: 1)
            guard let a = try? IPAddress(parsing: ends[0]) else { throw RuleError(word: s, reason: "bad address") }
            var b = a
            if ends.count == 2 {
                guard let bb = try? IPAddress(parsing: ends[1]), bb.family == a.family, bb >= a else {
                    throw RuleError(word: s, reason: "bad address range")
                }
                b = bb
            }
            range.firstAddress = a
            range.lastAddress = b
        }
        if let portPart {
            guard let p = proto, p.hasPorts else { throw RuleError(word: s, reason: "a port needs -p tcp, udp or sctp") }
            range.ports = try portRange(String(portPart))
        }
        if range.firstAddress == nil && range.ports == nil { throw RuleError(word: s, reason: "empty NAT range") }
        return range
    }
}
