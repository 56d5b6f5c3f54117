import Wire

/// The targets kdp understands by name (`-j NAME`); any other name is a jump to a user chain.
/// Each target's option table, parser and iptables-save printer live together in
/// `TargetModule+NAME.swift`, beside its `libxt_NAME.c`. Dispatch is a `switch`.
enum TargetModule: UInt8, Sendable, CaseIterable {
    case accept, drop, returnFromChain, reject, dnat, snat, masquerade, redirect, mark, connmark, log, trace, notrack, ct

    /// The name after `-j`.
    var name: String {
        switch self {
        case .accept: "ACCEPT"
        case .drop: "DROP"
        case .returnFromChain: "RETURN"
        case .reject: "REJECT"
        case .dnat: "DNAT"
        case .snat: "SNAT"
        case .masquerade: "MASQUERADE"
        case .redirect: "REDIRECT"
        case .mark: "MARK"
        case .connmark: "CONNMARK"
        case .log: "LOG"
        case .trace: "TRACE"
        case .notrack: "NOTRACK"
        case .ct: "CT"
        }
    }

    /// The target named `-j name`, or nil for a chain.
    static let named = NameTable<TargetModule>(Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) }))

    var options: ModuleSpec {
        switch self {
        case .accept, .drop, .returnFromChain, .trace, .notrack: Self.noOptions
        case .reject: Self.rejectOptions
        case .dnat: Self.dnatOptions
        case .snat: Self.snatOptions
        case .masquerade: Self.masqueradeOptions
        case .redirect: Self.redirectOptions
        case .mark: Self.markOptions
        case .connmark: Self.connmarkOptions
        case .log: Self.logOptions
        case .ct: Self.ctOptions
        }
    }

    static let noOptions = ModuleSpec([])

    /// The target these options make; `proto` is the rule's `-p` (NAT ports and `tcp-reset`
    /// need one).
    func build(_ opts: RuleParser.Options, proto: IPProtocol?) throws(RuleError) -> Target {
        // libxtables' xtables_option_parse: an option without XTOPT_MULTI (none of these
        // targets has one) may be given once (kubernetes#114537's garbled DNAT repeats
        // --to-destination and --persistent; iptables-restore refuses it).
        for idx in opts.indices where opts[..<idx].contains(where: { $0.name == opts[idx].name }) {
            throw RuleError(word: opts[idx].word, reason: "\(name): option \"\(opts[idx].name)\" can only be used once")
        }
        return switch self {
        case .accept: .accept
        case .drop: .drop
        case .returnFromChain: .returnFromChain
        case .reject: try Self.buildReject(opts, proto: proto)
        case .dnat, .snat, .masquerade, .redirect: try buildNAT(opts, proto: proto)
        case .mark: try Self.buildMark(opts)
        case .connmark: try Self.buildConnmark(opts)
        case .log, .trace, .notrack, .ct: buildLog(opts)
        }
    }

    /// Appends what iptables-save prints for `target` after `-j NAME`. `written` holds the
    /// target's options as given, for the targets whose values kdp does not keep (LOG, CT).
    func save(_ target: Target, written: [String], family: IPFamily, into out: inout [String]) {
        switch self {
        case .accept, .drop, .returnFromChain, .reject: Self.saveVerdict(target, family: family, into: &out)
        case .dnat, .snat, .masquerade, .redirect: Self.saveNAT(target, into: &out)
        case .mark, .connmark: Self.saveMark(target, into: &out)
        case .log, .trace, .notrack, .ct: saveLog(written, into: &out)
        }
    }
}
