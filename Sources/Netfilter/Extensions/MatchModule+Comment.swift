import Wire

/// `-m comment` (libxt_comment.c).
extension MatchModule {
    static let commentOptions = ModuleSpec([OptionSpec("--comment")])

    static func buildComment(_ opts: RuleParser.Options, into out: inout [Match]) throws(RuleError) {
        guard let o = opts.last("--comment") else { throw RuleError(word: "comment", reason: "comment needs --comment") }
        out.append(.comment(o.args[0]))
    }

    /// comment_save: `--comment` and the text through `xtables_save_string`.
    static func saveComment(_ matches: ArraySlice<Match>, into out: inout [String]) {
        for case .comment(let text) in matches { out += ["--comment", IPTablesQuoting.saved(text)] }
    }
}
