import Wire

/// `-m recent` (libxt_recent.c, revision 1).
extension MatchModule {
    static let recentOptions = ModuleSpec([
        OptionSpec("--name"), OptionSpec("--set", 0, invertible: true),
        OptionSpec("--rcheck", 0, invertible: true), OptionSpec("--update", 0, invertible: true),
        OptionSpec("--remove", 0, invertible: true), OptionSpec("--seconds"), OptionSpec("--reap", 0),
        OptionSpec("--hitcount"), OptionSpec("--rttl", 0), OptionSpec("--rsource", 0),
        OptionSpec("--rdest", 0), OptionSpec("--mask"),
    ])

    static func buildRecent(_ opts: RuleParser.Options, into out: inout [Match]) throws(RuleError) {
        var r = RecentMatch()
        var commands = 0
        for o in opts {
            switch o.name {
            case "--name": r.name = o.args[0]
            case "--set": r.command = .set; r.negated = o.negated; commands += 1
            case "--rcheck": r.command = .rcheck; r.negated = o.negated; commands += 1
            case "--update": r.command = .update; r.negated = o.negated; commands += 1
            case "--remove": r.command = .remove; r.negated = o.negated; commands += 1
            case "--seconds": r.seconds = try RuleParser.number(o.args[0])
            case "--hitcount": r.hitCount = try RuleParser.number(o.args[0])
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
            throw RuleError(word: "recent", reason: "recent needs exactly one of --set, --rcheck, --update, --remove")
        }
        if r.reap && r.seconds == 0 { throw RuleError(word: "--reap", reason: "--reap needs --seconds") }
        out.append(.recent(r))
    }

    /// recent_save: the command, `--seconds`, `--reap`, `--hitcount`, `--rttl`, `--name`,
    /// `--mask` (all ones for the family when not given), then `--rsource` or `--rdest`.
    static func saveRecent(_ matches: ArraySlice<Match>, family: IPFamily, into out: inout [String]) {
        for case .recent(let r) in matches {
            out.option("--" + r.command.rawValue, r.negated)
            if r.seconds != 0 { out += ["--seconds", String(r.seconds)] }
            if r.reap { out.append("--reap") }
            if r.hitCount != 0 { out += ["--hitcount", String(r.hitCount)] }
            if r.checkTTL { out.append("--rttl") }
            out += ["--name", r.name]
            out += ["--mask", r.mask?.description ?? (family == .ipv4 ? "255.255.255.255" : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
            out.append(r.useDestination ? "--rdest" : "--rsource")
        }
    }
}
