import Wire

/// `-m ipvs` (libxt_ipvs.c; `--vmethod` and `--vportctl` are refused).
extension MatchModule {
    static let ipvsOptions = ModuleSpec([
        OptionSpec("--ipvs", 0, invertible: true), OptionSpec("--vproto", invertible: true),
        OptionSpec("--vaddr", invertible: true), OptionSpec("--vport", invertible: true),
        OptionSpec("--vdir"), OptionSpec("--vmethod", invertible: true),
        OptionSpec("--vportctl", invertible: true),
    ])

    static func buildIPVS(_ opts: RuleParser.Options, into out: inout [Match]) throws(RuleError) {
        var v = IPVSMatch()
        for o in opts {
            switch o.name {
            case "--ipvs": v.ipvs = !o.negated
            case "--vproto":
                guard let p = try? IPProtocol(parsing: o.args[0]) else { throw RuleError(word: o.args[0], reason: "unknown protocol") }
                v.vproto = p; v.vprotoNegated = o.negated
            case "--vaddr": v.vaddr = try RuleParser.prefix(o.args[0]); v.vaddrNegated = o.negated
            case "--vport":
                v.vport = UInt16(exactly: try RuleParser.number(o.args[0], max: 65535)); v.vportNegated = o.negated
            case "--vdir":
                let a = o.args[0].uppercased()
                guard a == "ORIGINAL" || a == "REPLY" else { throw RuleError(word: o.args[0], reason: "--vdir is ORIGINAL or REPLY") }
                v.vdirOriginal = a == "ORIGINAL"
            default:
                throw RuleError(word: o.word, reason: "ipvs option not emulated")
            }
        }
        out.append(.ipvs(v))
    }

    /// ipvs_mt_dump: `--ipvs`, `--vproto` as a number, `--vaddr` without a full-length mask,
    /// `--vport`, `--vdir`.
    static func saveIPVS(_ matches: ArraySlice<Match>, into out: inout [String]) {
        for case .ipvs(let v) in matches {
            if let ipvs = v.ipvs { out.option("--ipvs", !ipvs) }
            if let p = v.vproto { out.option("--vproto", v.vprotoNegated, String(p.rawValue)) }
            if let a = v.vaddr { out.option("--vaddr", v.vaddrNegated, SaveText.address(a)) }
            if let port = v.vport { out.option("--vport", v.vportNegated, String(port)) }
            if let original = v.vdirOriginal { out += ["--vdir", original ? "ORIGINAL" : "REPLY"] }
        }
    }
}
