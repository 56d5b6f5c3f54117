import Wire

/// The targets that change nothing kdp follows: LOG (libxt_LOG.c; its prefix is kept for
/// traces), TRACE, NOTRACK and CT (libxt_CT.c; `--notrack` is honoured, the rest recorded).
extension TargetModule {
    static let logOptions = ModuleSpec([
        OptionSpec("--log-level"), OptionSpec("--log-prefix"), OptionSpec("--log-tcp-sequence", 0),
        OptionSpec("--log-tcp-options", 0), OptionSpec("--log-ip-options", 0), OptionSpec("--log-uid", 0),
        OptionSpec("--log-macdecode", 0),
    ])
    static let ctOptions = ModuleSpec([
        OptionSpec("--notrack", 0), OptionSpec("--zone"), OptionSpec("--zone-orig"), OptionSpec("--zone-reply"),
        OptionSpec("--helper"), OptionSpec("--ctevents"), OptionSpec("--expevents"), OptionSpec("--timeout"),
    ])

    func buildLog(_ opts: RuleParser.Options) -> Target {
        switch self {
        case .log: return .log(prefix: opts.last("--log-prefix")?.args[0] ?? "")
        case .trace: return .trace
        case .ct where !opts.has("--notrack"):
            return .ct(opts.map { o in ([o.name] + (0..<o.args.count).map { o.args[$0] }).joined(separator: " ") }.joined(separator: " "))
        default: return .notrack
        }
    }

    /// kdp keeps only what these targets do, not all their options: they print as written,
    /// free text (`--log-prefix`) through `xtables_save_string`.
    func saveLog(_ written: [String], into out: inout [String]) {
        for (i, w) in written.enumerated() {
            out.append(i > 0 && written[i - 1] == "--log-prefix" ? IPTablesQuoting.saved(w) : w)
        }
    }
}
