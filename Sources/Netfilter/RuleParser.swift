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
///
/// This file routes options; the generic options (`-s -d -p -i -o -f -m -j -g -c`) are read in
/// `RuleParser+Generic.swift`, values in `RuleParser+Values.swift`, and each extension's own
/// options in `Extensions/`.
struct RuleParser {
    /// Gives each `statistic --mode nth` rule its own counter key.
    var nthCounter = 0
    /// When set, each parse also records which module made which matches (`SaveLayout`), for
    /// printing the rule back as iptables-save does. Nil while parsing rulesets.
    var layout: SaveLayout?

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

    /// One extension's options, in the order written.
    typealias Options = ArraySlice<Option>

    struct Use {
        let module: MatchModule
        let spec: ModuleSpec
    }

    /// What the option loop has read of one rule so far.
    struct Cursor {
        let words: UnsafeBufferPointer<RuleWord>
        var i = 0
        var negate = false
        /// The `-s -d -i -o` seen, one bit each, for iptables' "multiple -s flags" check.
        var headerSeen: UInt16 = 0
        var proto: IPProtocol?? = nil  // .some(nil) is `all`
        var targetName: String?
        var targetIsGoto = false
        var target: TargetModule?
        var targetSpec: ModuleSpec?
    }

    // Scratch kept between rules, so that a rule's options cost no allocation. `options` holds
    // every module's options grouped by module (in `uses` order), each group in written order;
    // `optionUse` is the module of each.
    var uses: [Use] = []
    var options: [Option] = []
    var optionUse: [Int] = []
    var targetOptions: [Option] = []
    var header: [Match] = []

    mutating func parse(_ words: [RuleWord]) throws(RuleError) -> (matches: [Match], target: Target?, jumpChain: String?) {
        try words.withUnsafeBufferPointer { (buffer) throws(RuleError) in try parse(buffer) }
    }

    private mutating func parse(
        _ words: UnsafeBufferPointer<RuleWord>
    ) throws(RuleError) -> (matches: [Match], target: Target?, jumpChain: String?) {
        defer { clearScratch() }
        var c = Cursor(words: words)
        while c.i < words.count {
            let w = words[c.i].text
            if Self.isBang(w) {
                if c.negate { throw RuleError(word: w, reason: "'!' twice") }
                c.negate = true; c.i += 1; continue
            }
            if let generic = Self.genericOption(w) {
                try genericOption(generic, w, &c)
            } else {
                try extensionOption(w, &c)
            }
            c.negate = false
        }
        if c.negate { throw RuleError(word: "!", reason: "'!' at the end of the rule") }
        let matches = try buildMatches(proto: c.proto ?? nil)
        var target: Target?
        var jumpChain: String?
        if let t = c.targetName {
            if let module = c.target {
                target = try module.build(targetOptions[...], proto: c.proto ?? nil)
                layout?.recordTarget(module, targetOptions)
            } else {
                target = c.targetIsGoto ? .goto(t) : .jump(t)
                jumpChain = t
            }
        }
        return (matches, target, jumpChain)
    }

    /// Emptied on the way out of every parse (thrown or not), so they are empty on the way in;
    /// the options point into the rule's words. Most stay empty: skip the call then.
    private mutating func clearScratch() {
        if !uses.isEmpty { uses.removeAll(keepingCapacity: true) }
        if !options.isEmpty { options.removeAll(keepingCapacity: true); optionUse.removeAll(keepingCapacity: true) }
        if !targetOptions.isEmpty { targetOptions.removeAll(keepingCapacity: true) }
        if !header.isEmpty { header.removeAll(keepingCapacity: true) }
    }

    /// `--option` that is not generic: the target's when it takes it, else the most recently
    /// loaded module's, else the implicit protocol module's (`command_default`).
    private mutating func extensionOption(_ w: String, _ c: inout Cursor) throws(RuleError) {
        guard Self.isLongOption(w) else { throw RuleError(word: w, reason: "unexpected word") }
        if let spec = c.targetSpec?.options[w] {
            if c.negate && !spec.invertible { throw RuleError(word: w, reason: "'!' not allowed here") }
            targetOptions.append(Option(name: spec.name, negated: c.negate, args: try c.arg(spec.arity), wordIndex: c.i))
            c.i += 1 + spec.arity
        } else if let (u, spec) = lastUse(taking: w) {
            if c.negate && !spec.invertible { throw RuleError(word: w, reason: "'!' not allowed before \(w)") }
            addOption(Option(name: spec.name, negated: c.negate, args: try c.arg(spec.arity), wordIndex: c.i), to: u)
            c.i += 1 + spec.arity
        } else if case .some(.some(let p)) = c.proto, let module = MatchModule.implicit(for: p), let spec = module.options.options[w] {
            uses.append(Use(module: module, spec: module.options))
            if c.negate && !spec.invertible { throw RuleError(word: w, reason: "'!' not allowed before \(w)") }
            addOption(Option(name: spec.name, negated: c.negate, args: try c.arg(spec.arity), wordIndex: c.i), to: uses.count - 1)
            c.i += 1 + spec.arity
        } else if let full = abbreviated(w, c) {
            try extensionOption(full, &c)
        } else {
            throw RuleError(word: w, reason: "unknown option")
        }
    }

    /// getopt_long takes any unambiguous prefix of a long option (`--to` for
    /// `--to-destination`): the one option of the target, the loaded modules and the implicit
    /// protocol module that `w` abbreviates, when no generic option also starts with it. Only
    /// asked for a word no option is named.
    private func abbreviated(_ w: String, _ c: Cursor) -> String? {
        guard w.utf8.count > 3 else { return nil }
        var names = Set<String>()
        for spec in c.targetSpec?.options.values(withPrefix: w) ?? [] { names.insert(spec.name) }
        for u in uses { for spec in u.spec.options.values(withPrefix: w) { names.insert(spec.name) } }
        if case .some(.some(let p)) = c.proto, let module = MatchModule.implicit(for: p) {
            for spec in module.options.options.values(withPrefix: w) { names.insert(spec.name) }
        }
        let generic = ["--source", "--src", "--destination", "--dst", "--protocol", "--in-interface", "--out-interface",
                       "--jump", "--goto", "--match", "--fragment", "--set-counters"]
        guard names.count == 1, !generic.contains(where: { $0.hasPrefix(w) }) else { return nil }
        return names.first
    }

    /// The IP header conditions first (ip_packet_match), then the modules' matches. Sized for
    /// the most the modules can add (one match per option, or one for a module without
    /// options): the array stays with the rule, so it is not over-allocated.
    private mutating func buildMatches(proto: IPProtocol?) throws(RuleError) -> [Match] {
        var bound = header.count + options.count + uses.count
        var previous = -1
        for u in optionUse where u != previous { bound -= 1; previous = u }  // grouped by module
        var matches: [Match] = []
        matches.reserveCapacity(bound)
        matches.append(contentsOf: header)
        layout?.start(headerCount: header.count)
        var next = 0  // the first option of module u
        for u in uses.indices {
            var end = next
            while end < optionUse.count && optionUse[end] == u { end += 1 }
            try uses[u].module.build(options[next..<end], proto: proto, nth: &nthCounter, into: &matches)
            layout?.recordModule(uses[u].module, options[next..<end], end: matches.count)
            next = end
        }
        return matches
    }

    /// Adds an option to module `u`, after the options of modules up to `u`.
    private mutating func addOption(_ o: Option, to u: Int) {
        if optionUse.last.map({ $0 <= u }) ?? true {
            options.append(o); optionUse.append(u)
            return
        }
        let at = optionUse.firstIndex { $0 > u }!
        options.insert(o, at: at); optionUse.insert(u, at: at)
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

    /// "!" is one byte in any spelling: test the length before comparing.
    static func isBang(_ s: String) -> Bool { s.utf8.count == 1 && s == "!" }

    /// `w.hasPrefix("--")`, on bytes when the third byte is ASCII (then "--" are two whole
    /// Characters).
    static func isLongOption(_ w: String) -> Bool {
        var it = w.utf8.makeIterator()
        guard it.next() == 45, it.next() == 45 else { return false }
        guard let third = it.next(), third >= 0x80 else { return true }
        return w.hasPrefix("--")
    }
}

extension RuleParser.Cursor {
    /// The `n` words after the current one, as an option's arguments.
    func arg(_ n: Int = 1) throws(RuleError) -> RuleParser.Args {
        if n == 0 { return RuleParser.Args(words: words.baseAddress!, start: i + 1, count: 0) }
        guard i + n < words.count else {
            throw RuleError(word: words[i].text, reason: "option needs \(n == 1 ? "an argument" : "\(n) arguments")")
        }
        for k in (i + 1)...(i + n) where RuleParser.isBang(words[k].text) {
            throw RuleError(word: "!", reason: "intrapositioned negation ('--option ! value') is not supported; write '! --option value'")
        }
        return RuleParser.Args(words: words.baseAddress!, start: i + 1, count: n)
    }

    /// Refuses a second `-s`, `-d`, `-i` or `-o`, as iptables does.
    mutating func once(_ key: String, _ word: String) throws(RuleError) {
        let bit: UInt16 = 1 << UInt16(key.utf8.last! & 15)
        guard headerSeen & bit == 0 else { throw RuleError(word: word, reason: "multiple \(key) flags not allowed") }
        headerSeen |= bit
    }
}
