import Wire

/// `-m set` (libxt_set.c, revision 4 options; counter matches are refused).
extension MatchModule {
    static let setOptions = ModuleSpec([
        OptionSpec("--match-set", 2, invertible: true), OptionSpec("--set", 2, invertible: true),
        OptionSpec("--return-nomatch", 0), OptionSpec("--update-counters", 0, invertible: true),
        OptionSpec("--update-subcounters", 0, invertible: true),
        OptionSpec("--packets-eq", invertible: true), OptionSpec("--packets-lt"), OptionSpec("--packets-gt"),
        OptionSpec("--bytes-eq", invertible: true), OptionSpec("--bytes-lt"), OptionSpec("--bytes-gt"),
    ])

    static func buildSet(_ opts: RuleParser.Options, into out: inout [Match]) throws(RuleError) {
        for o in opts where o.name == "--packets-eq" || o.name.hasPrefix("--packets") || o.name.hasPrefix("--bytes") {
            throw RuleError(word: o.word, reason: "ipset counter matches are not emulated")
        }
        guard let o = opts.last("--match-set") ?? opts.last("--set") else { throw RuleError(word: "set", reason: "set needs --match-set") }
        var dirs: [SetDirection] = []
        for d in o.args[1].split(separator: ",", omittingEmptySubsequences: false) {
            guard let dir = SetDirection(rawValue: String(d)) else { throw RuleError(word: o.args[1], reason: "set direction is src or dst") }
            dirs.append(dir)
        }
        guard (1...6).contains(dirs.count) else { throw RuleError(word: o.args[1], reason: "1 to 6 directions") }
        out.append(.set(name: o.args[0], directions: dirs, negated: o.negated, returnNomatch: opts.has("--return-nomatch")))
    }

    /// set_save: `--match-set NAME dst,src`, then `--return-nomatch`.
    static func saveSet(_ matches: ArraySlice<Match>, into out: inout [String]) {
        for case .set(let name, let directions, let negated, let returnNomatch) in matches {
            out.option("--match-set", negated, name, directions.map(\.rawValue).joined(separator: ","))
            if returnNomatch { out.append("--return-nomatch") }
        }
    }
}
