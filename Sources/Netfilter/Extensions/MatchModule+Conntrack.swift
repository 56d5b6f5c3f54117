import Wire

/// `-m conntrack` (libxt_conntrack.c, revision 3) and `-m state` (libxt_state.c), which share
/// the state names and the parser.
extension MatchModule {
    static let conntrackOptions = ModuleSpec([
        OptionSpec("--ctstate", invertible: true), OptionSpec("--ctproto", invertible: true),
        OptionSpec("--ctorigsrc", invertible: true), OptionSpec("--ctorigdst", invertible: true),
        OptionSpec("--ctreplsrc", invertible: true), OptionSpec("--ctrepldst", invertible: true),
        OptionSpec("--ctorigsrcport", invertible: true), OptionSpec("--ctorigdstport", invertible: true),
        OptionSpec("--ctreplsrcport", invertible: true), OptionSpec("--ctrepldstport", invertible: true),
        OptionSpec("--ctstatus", invertible: true), OptionSpec("--ctexpire", invertible: true),
        OptionSpec("--ctdir"),
    ])

    static let stateOptions = ModuleSpec([OptionSpec("--state", invertible: true)])

    /// One match per option, in the order written (`--ctstatus` and `--ctexpire` are refused).
    func buildConntrack(_ opts: RuleParser.Options, into out: inout [Match]) throws(RuleError) {
        if opts.isEmpty { throw RuleError(word: name, reason: "\(name) needs at least one option") }
        for o in opts {
            let a = o.args.isEmpty ? "" : o.args[0]
            switch o.name {
            case "--ctstate", "--state": out.append(.ctState(try Self.ctStates(a, allowNAT: self == .conntrack), negated: o.negated))
            case "--ctproto":
                var p: IPProtocol?
                if a != "all" && a != "0" {
                    guard let q = try? IPProtocol(parsing: a) else { throw RuleError(word: a, reason: "unknown protocol") }
                    p = q
                }
                out.append(.ctProto(p, negated: o.negated))
            case "--ctorigsrc": out.append(.ctOrigSource([try RuleParser.prefix(a)], negated: o.negated))
            case "--ctorigdst": out.append(.ctOrigDestination([try RuleParser.prefix(a)], negated: o.negated))
            case "--ctreplsrc": out.append(.ctReplySource([try RuleParser.prefix(a)], negated: o.negated))
            case "--ctrepldst": out.append(.ctReplyDestination([try RuleParser.prefix(a)], negated: o.negated))
            case "--ctorigsrcport": out.append(.ctOrigSourcePort(try RuleParser.portRange(a), negated: o.negated))
            case "--ctorigdstport": out.append(.ctOrigDestinationPort(try RuleParser.portRange(a), negated: o.negated))
            case "--ctreplsrcport": out.append(.ctReplySourcePort(try RuleParser.portRange(a), negated: o.negated))
            case "--ctrepldstport": out.append(.ctReplyDestinationPort(try RuleParser.portRange(a), negated: o.negated))
            case "--ctdir":
                let d = a.uppercased()
                guard d == "ORIGINAL" || d == "REPLY" else { throw RuleError(word: a, reason: "--ctdir is ORIGINAL or REPLY") }
                out.append(.ctDirectionOriginal(d == "ORIGINAL"))
            default:
                throw RuleError(word: o.word, reason: "conntrack option not emulated")
            }
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

    /// The order `conntrack_dump_states` and `state_print_state` print states in.
    static let stateOrder: [(String, CtStateSet)] = [
        ("INVALID", .invalid), ("NEW", .new), ("RELATED", .related), ("ESTABLISHED", .established),
        ("UNTRACKED", .untracked), ("SNAT", .snat), ("DNAT", .dnat),
    ]

    /// conntrack_dump/state_save, one option per match in the order parsed: states in the
    /// module's own order, `--ctproto` as a number, addresses without a full-length mask, port
    /// ranges as `first:last`.
    func saveConntrack(_ matches: ArraySlice<Match>, into out: inout [String]) {
        for m in matches {
            switch m {
            case .ctState(let states, let negated):
                let names = Self.stateOrder.filter { states.contains($0.1) }.map(\.0).joined(separator: ",")
                out.option(self == .state ? "--state" : "--ctstate", negated, names)
            case .ctProto(let p, let negated): out.option("--ctproto", negated, String(p?.rawValue ?? 0))
            case .ctOrigSource(let p, let negated): out.option("--ctorigsrc", negated, SaveText.address(p[0]))
            case .ctOrigDestination(let p, let negated): out.option("--ctorigdst", negated, SaveText.address(p[0]))
            case .ctReplySource(let p, let negated): out.option("--ctreplsrc", negated, SaveText.address(p[0]))
            case .ctReplyDestination(let p, let negated): out.option("--ctrepldst", negated, SaveText.address(p[0]))
            case .ctOrigSourcePort(let r, let negated): out.option("--ctorigsrcport", negated, SaveText.ports(r))
            case .ctOrigDestinationPort(let r, let negated): out.option("--ctorigdstport", negated, SaveText.ports(r))
            case .ctReplySourcePort(let r, let negated): out.option("--ctreplsrcport", negated, SaveText.ports(r))
            case .ctReplyDestinationPort(let r, let negated): out.option("--ctrepldstport", negated, SaveText.ports(r))
            case .ctDirectionOriginal(let original): out += ["--ctdir", original ? "ORIGINAL" : "REPLY"]
            default: assertionFailure("not a conntrack match: \(m)")
            }
        }
    }
}
