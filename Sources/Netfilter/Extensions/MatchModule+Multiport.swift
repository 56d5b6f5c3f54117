import Wire

/// `-m multiport` (libxt_multiport.c, revision 1: ranges allowed).
extension MatchModule {
    static let multiportOptions = ModuleSpec([
        OptionSpec("--sports", invertible: true), OptionSpec("--dports", invertible: true),
        OptionSpec("--ports", invertible: true),
    ], aliases: ["--source-ports": "--sports", "--destination-ports": "--dports"])

    /// One of `--sports`, `--dports`, `--ports` with up to 15 ports (a range counts two).
    static func buildMultiport(_ opts: RuleParser.Options, proto: IPProtocol?, into out: inout [Match]) throws(RuleError) {
        guard let p = proto, p == .tcp || p == .udp || p == .sctp else {
            throw RuleError(word: "multiport", reason: "multiport needs -p tcp, udp or sctp")
        }
        guard opts.count == 1, let o = opts.first else {
            throw RuleError(word: "multiport", reason: "multiport takes exactly one of --sports, --dports, --ports")
        }
        var ranges: [PortRange] = []
        var count = 0
        for part in o.args[0].split(separator: ",", omittingEmptySubsequences: false) {
            let r = try RuleParser.portRange(String(part))
            count += r.lower == r.upper ? 1 : 2
            ranges.append(r)
        }
        guard count <= 15 else { throw RuleError(word: o.args[0], reason: "too many ports specified (at most 15)") }
        let side: PortSide = o.name == "--sports" ? .source : o.name == "--dports" ? .destination : .either
        out.append(.multiport(ranges, side: side, negated: o.negated))
    }

    /// multiport_save_v1: `--dports 80,443,8000:8080`.
    static func saveMultiport(_ matches: ArraySlice<Match>, into out: inout [String]) {
        for case .multiport(let ranges, let side, let negated) in matches {
            let name = side == .source ? "--sports" : side == .destination ? "--dports" : "--ports"
            out.option(name, negated, ranges.map(SaveText.ports).joined(separator: ","))
        }
    }
}
