import Foundation
import Wire

/// `-m statistic` (libxt_statistic.c).
extension MatchModule {
    static let statisticOptions = ModuleSpec([
        OptionSpec("--mode"), OptionSpec("--probability", invertible: true),
        OptionSpec("--every", invertible: true), OptionSpec("--packet"),
    ])

    /// `--mode random --probability P` or `--mode nth --every N [--packet P]`, in the kernel's
    /// form (xt_statistic.c): a threshold out of 2^31, or a counter's period and phase.
    static func buildStatistic(_ opts: RuleParser.Options, nth: inout Int, into out: inout [Match]) throws(RuleError) {
        guard let mode = opts.last("--mode")?.args[0] else { throw RuleError(word: "statistic", reason: "statistic needs --mode") }
        if mode == "random" {
            if opts.has("--every") || opts.has("--packet") {
                throw RuleError(word: "--every", reason: "--every and --packet need --mode nth")
            }
            guard let o = opts.last("--probability"), let p = RuleParser.decimal(o.args[0]), p >= 0, p <= 1 else {
                throw RuleError(word: opts.last("--probability")?.args[0] ?? "statistic", reason: "--probability must be 0..1")
            }
            // libxt_statistic.c: probability = lround(0x80000000 * prob)
            let threshold = UInt32(min((p * 2147483648.0).rounded(.toNearestOrAwayFromZero), 2147483648.0))
            out.append(.statisticRandom(threshold: threshold, negated: o.negated))
        } else if mode == "nth" {
            if opts.has("--probability") { throw RuleError(word: "--probability", reason: "--probability needs --mode random") }
            guard let o = opts.last("--every") else { throw RuleError(word: "statistic", reason: "nth mode needs --every") }
            let every = try RuleParser.number(o.args[0])
            guard every >= 1 else { throw RuleError(word: o.args[0], reason: "--every must be at least 1") }
            let packet = try opts.last("--packet").map { (x) throws(RuleError) in try RuleParser.number(x.args[0]) } ?? 0
            guard packet <= every - 1 else { throw RuleError(word: "\(packet)", reason: "--packet must be below --every") }
            nth += 1
            out.append(.statisticNth(every: every - 1, packet: (every - 1) - packet, negated: o.negated, id: nth))
        } else {
            throw RuleError(word: mode, reason: "unknown statistic mode")
        }
    }

    /// statistic_save: `--mode random [!] --probability %.11f` of the kernel's threshold (so
    /// `0.3333333333` comes back as `0.33333333349`), or `--mode nth [!] --every N` and
    /// `--packet P` when P is not 0.
    static func saveStatistic(_ matches: ArraySlice<Match>, into out: inout [String]) {
        for m in matches {
            switch m {
            case .statisticRandom(let threshold, let negated):
                out += ["--mode", "random"]
                out.option("--probability", negated, String(format: "%.11f", Double(threshold) / 2_147_483_648))
            case .statisticNth(let every, let phase, let negated, _):
                out += ["--mode", "nth"]
                out.option("--every", negated, String(UInt64(every) + 1))
                if every - phase != 0 { out += ["--packet", String(every - phase)] }
            default: assertionFailure("not a statistic match: \(m)")
            }
        }
    }
}
