import Wire

/// The match modules kdp understands (`-m NAME`), one case per `libxt_*.c` it follows. Each
/// module's option table, parser and iptables-save printer live together in
/// `MatchModule+NAME.swift`, so each file reads side by side with its libxt source.
///
/// Dispatch is a `switch` over this closed enum: no protocol, closure or existential per rule.
enum MatchModule: UInt8, Sendable, CaseIterable {
    case tcp, udp, sctp, icmp, icmp6, multiport, comment, statistic, mark, connmark, conntrack, state
    case addrtype, recent, set, physdev, ipvs, nfacct, limit, owner

    /// The name after `-m`, as iptables-save prints it.
    var name: String {
        switch self {
        case .tcp: "tcp"
        case .udp: "udp"
        case .sctp: "sctp"
        case .icmp: "icmp"
        case .icmp6: "icmp6"
        case .multiport: "multiport"
        case .comment: "comment"
        case .statistic: "statistic"
        case .mark: "mark"
        case .connmark: "connmark"
        case .conntrack: "conntrack"
        case .state: "state"
        case .addrtype: "addrtype"
        case .recent: "recent"
        case .set: "set"
        case .physdev: "physdev"
        case .ipvs: "ipvs"
        case .nfacct: "nfacct"
        case .limit: "limit"
        case .owner: "owner"
        }
    }

    /// The module named `-m name`: one scan of a small table (see `NameTable`).
    static let named = NameTable<MatchModule>(Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) }))

    /// The module `-p` loads implicitly for an option no loaded module takes (`-p tcp --dport
    /// 80` loads `tcp`, as `command_default` in iptables/xshared.c does).
    static func implicit(for p: IPProtocol) -> MatchModule? {
        switch p {
        case .tcp: .tcp
        case .udp: .udp
        case .sctp: .sctp
        case .icmp: .icmp
        case .icmpv6: .icmp6
        default: nil
        }
    }

    /// The module's option table.
    var options: ModuleSpec {
        switch self {
        case .tcp: Self.tcpOptions
        case .udp, .sctp: Self.udpOptions
        case .icmp: Self.icmpOptions
        case .icmp6: Self.icmp6Options
        case .multiport: Self.multiportOptions
        case .comment: Self.commentOptions
        case .statistic: Self.statisticOptions
        case .mark, .connmark: Self.markOptions
        case .conntrack: Self.conntrackOptions
        case .state: Self.stateOptions
        case .addrtype: Self.addrtypeOptions
        case .recent: Self.recentOptions
        case .set: Self.setOptions
        case .physdev: Self.physdevOptions
        case .ipvs: Self.ipvsOptions
        case .nfacct: Self.nfacctOptions
        case .limit: Self.limitOptions
        case .owner: Self.ownerOptions
        }
    }

    /// Appends the matches this module's options mean to `out`. `nth` numbers the
    /// `statistic --mode nth` counters of a ruleset.
    func build(_ opts: RuleParser.Options, proto: IPProtocol?, nth: inout Int,
               into out: inout [Match]) throws(RuleError) {
        for idx in opts.indices where opts[..<idx].contains(where: { $0.name == opts[idx].name }) {
            throw RuleError(word: opts[idx].word, reason: "option given twice")
        }
        switch self {
        case .tcp, .udp, .sctp: try buildPorts(opts, proto: proto, into: &out)
        case .icmp, .icmp6: try buildICMP(opts, proto: proto, into: &out)
        case .multiport: try Self.buildMultiport(opts, proto: proto, into: &out)
        case .comment: try Self.buildComment(opts, into: &out)
        case .statistic: try Self.buildStatistic(opts, nth: &nth, into: &out)
        case .mark, .connmark: try buildMark(opts, into: &out)
        case .conntrack, .state: try buildConntrack(opts, into: &out)
        case .addrtype: try Self.buildAddrtype(opts, into: &out)
        case .recent: try Self.buildRecent(opts, into: &out)
        case .set: try Self.buildSet(opts, into: &out)
        case .physdev: Self.buildPhysdev(opts, into: &out)
        case .ipvs: try Self.buildIPVS(opts, into: &out)
        case .nfacct, .limit: out.append(.alwaysTrue(module: name))
        case .owner: try Self.buildOwner(opts, into: &out)
        }
    }

    /// Appends what iptables-save prints for this module's matches (the words after `-m
    /// NAME`). `written` holds the module's options as given, for the modules whose values
    /// kdp does not keep (`limit`, `nfacct`).
    func save(_ matches: ArraySlice<Match>, written: [String], family: IPFamily, into out: inout [String]) {
        switch self {
        case .tcp, .udp, .sctp: Self.savePorts(matches, into: &out)
        case .icmp, .icmp6: saveICMP(matches, into: &out)
        case .multiport: Self.saveMultiport(matches, into: &out)
        case .comment: Self.saveComment(matches, into: &out)
        case .statistic: Self.saveStatistic(matches, into: &out)
        case .mark, .connmark: Self.saveMark(matches, into: &out)
        case .conntrack, .state: saveConntrack(matches, into: &out)
        case .addrtype: Self.saveAddrtype(matches, into: &out)
        case .recent: Self.saveRecent(matches, family: family, into: &out)
        case .set: Self.saveSet(matches, into: &out)
        case .physdev: Self.savePhysdev(matches, into: &out)
        case .ipvs: Self.saveIPVS(matches, into: &out)
        case .nfacct, .limit: out += written
        case .owner: Self.saveOwner(matches, into: &out)
        }
    }
}

extension RuleParser.Options {
    /// The last option named `name`: as in iptables, a later one wins.
    func last(_ name: String) -> RuleParser.Option? { last { $0.name == name } }

    func has(_ name: String) -> Bool { contains { $0.name == name } }
}
