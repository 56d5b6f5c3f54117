import Wire

/// The verdicts: ACCEPT, DROP, RETURN (built into iptables), REJECT (libipt_REJECT.c,
/// libip6t_REJECT.c), and jumps and gotos to user chains.
extension TargetModule {
    static let rejectOptions = ModuleSpec([OptionSpec("--reject-with")])

    /// The short names libipt_REJECT.c and libip6t_REJECT.c also take.
    static let rejectAliases: [String: RejectKind] = [
        "net-unreach": .icmpNetUnreachable, "host-unreach": .icmpHostUnreachable,
        "port-unreach": .icmpPortUnreachable, "proto-unreach": .icmpProtoUnreachable,
        "net-prohib": .icmpNetProhibited, "host-prohib": .icmpHostProhibited,
        "admin-prohib": .icmpAdminProhibited, "tcp-rst": .tcpReset,
        "no-route": .icmp6NoRoute, "adm-prohibited": .icmp6AdmProhibited, "addr-unreach": .icmp6AddrUnreachable,
        "policy-fail": .icmp6PolicyFail, "reject-route": .icmp6RejectRoute,
    ]

    /// `--reject-with KIND`, port-unreachable when not given.
    static func buildReject(_ opts: RuleParser.Options, proto: IPProtocol?) throws(RuleError) -> Target {
        guard let w = opts.last("--reject-with")?.args[0] else { return .reject(.icmpPortUnreachable) }
        guard let k = RejectKind(rawValue: w) ?? rejectAliases[w] else { throw RuleError(word: w, reason: "unknown --reject-with") }
        if k == .tcpReset && proto != .tcp { throw RuleError(word: w, reason: "tcp-reset needs -p tcp") }
        return .reject(k)
    }

    /// REJECT_save: `--reject-with` and the full name, always; port-unreachable is the
    /// family's own (the parser does not know the family, so it keeps the IPv4 name).
    static func saveVerdict(_ target: Target, family: IPFamily, into out: inout [String]) {
        guard case .reject(let kind) = target else { return }
        let v6Default = family == .ipv6 && kind == .icmpPortUnreachable
        out += ["--reject-with", v6Default ? RejectKind.icmp6PortUnreachable.rawValue : kind.rawValue]
    }
}
