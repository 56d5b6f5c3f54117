import Wire

/// `-m mark` (libxt_mark.c) and `-m connmark` (libxt_connmark.c): `--mark value[/mask]`.
extension MatchModule {
    static let markOptions = ModuleSpec([OptionSpec("--mark", invertible: true)])

    func buildMark(_ opts: RuleParser.Options, into out: inout [Match]) throws(RuleError) {
        guard let o = opts.last("--mark") else { throw RuleError(word: name, reason: "\(name) needs --mark") }
        let (v, m) = try RuleParser.valueMask(o.args[0])
        out.append(self == .mark ? .mark(value: v, mask: m, negated: o.negated)
                                 : .connmark(value: v, mask: m, negated: o.negated))
    }

    /// mark_mt_save/connmark_mt_save: `--mark 0x4000/0x4000`, the mask left out when all ones.
    static func saveMark(_ matches: ArraySlice<Match>, into out: inout [String]) {
        for m in matches {
            switch m {
            case .mark(let value, let mask, let negated), .connmark(let value, let mask, let negated):
                out.option("--mark", negated, SaveText.mark(value, mask))
            default: assertionFailure("not a mark match: \(m)")
            }
        }
    }
}
