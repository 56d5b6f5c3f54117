import Wire

/// `-m tcp`, `-m udp`, `-m sctp`: libxt_tcp.c, libxt_udp.c and libxt_sctp.c (ports only).
extension MatchModule {
    static let portAliases = ["--source-port": "--sport", "--destination-port": "--dport"]

    static let tcpOptions = ModuleSpec([
        OptionSpec("--sport", invertible: true), OptionSpec("--dport", invertible: true),
        OptionSpec("--tcp-flags", 2, invertible: true), OptionSpec("--syn", 0, invertible: true),
        OptionSpec("--tcp-option", invertible: true),
    ], aliases: portAliases)

    static let udpOptions = ModuleSpec([OptionSpec("--sport", invertible: true), OptionSpec("--dport", invertible: true)],
                                       aliases: portAliases)

    /// The protocol whose packets the module reads.
    private var portProtocol: IPProtocol { self == .tcp ? .tcp : self == .udp ? .udp : .sctp }

    func buildPorts(_ opts: RuleParser.Options, proto: IPProtocol?, into out: inout [Match]) throws(RuleError) {
        let p = portProtocol
        guard proto == p else {
            throw RuleError(word: name, reason: "-m \(name) needs -p \(name) (the kernel refuses the rule)")
        }
        if let o = opts.last("--sport") { out.append(.sourcePort(p, try RuleParser.portRange(o.args[0]), negated: o.negated)) }
        if let o = opts.last("--dport") { out.append(.destinationPort(p, try RuleParser.portRange(o.args[0]), negated: o.negated)) }
        if let o = opts.last("--tcp-flags") {
            out.append(.tcpFlags(mask: try Self.tcpFlags(o.args[0]), compare: try Self.tcpFlags(o.args[1]), negated: o.negated))
        }
        if opts.has("--syn") && opts.has("--tcp-flags") {
            throw RuleError(word: "--syn", reason: "--syn and --tcp-flags cannot be combined")
        }
        if let o = opts.last("--syn") {
            out.append(.tcpFlags(mask: 0x17, compare: 0x02, negated: o.negated))
        }
        if let o = opts.first(where: { $0.name == "--tcp-option" }) {
            throw RuleError(word: o.word, reason: "--tcp-option is not emulated")
        }
    }

    /// `tcp_flag_names` of libxt_tcp.c, in its order.
    static let tcpFlagNames: [(String, UInt8)] = [
        ("FIN", 0x01), ("SYN", 0x02), ("RST", 0x04), ("PSH", 0x08), ("ACK", 0x10), ("URG", 0x20), ("ALL", 0x3F), ("NONE", 0),
    ]

    static func tcpFlags(_ s: String) throws(RuleError) -> UInt8 {
        var v: UInt8 = 0
        for n in s.split(separator: ",") {
            guard let f = tcpFlagNames.first(where: { $0.0 == n.uppercased() }) else {
                throw RuleError(word: s, reason: "unknown TCP flag")
            }
            v |= f.1
        }
        return v
    }

    /// tcp_save/udp_save: `--sport`, `--dport` (`first:last` for a range), then `--tcp-flags
    /// MASK COMP` with each set written as `print_tcpf` does (`--syn` comes back as
    /// `--tcp-flags FIN,SYN,RST,ACK SYN`).
    static func savePorts(_ matches: ArraySlice<Match>, into out: inout [String]) {
        for m in matches {
            switch m {
            case .sourcePort(_, let r, let negated): out.option("--sport", negated, SaveText.ports(r))
            case .destinationPort(_, let r, let negated): out.option("--dport", negated, SaveText.ports(r))
            case .tcpFlags(let mask, let compare, let negated):
                out.option("--tcp-flags", negated, tcpFlagsText(mask), tcpFlagsText(compare))
            default: assertionFailure("not a tcp/udp match: \(m)")
            }
        }
    }

    /// `print_tcpf`: the lowest flag first, `NONE` for none.
    private static func tcpFlagsText(_ flags: UInt8) -> String {
        var names: [String] = []
        for (name, bit) in tcpFlagNames.prefix(6) where flags & bit != 0 { names.append(name) }
        return names.isEmpty ? "NONE" : names.joined(separator: ",")
    }
}
