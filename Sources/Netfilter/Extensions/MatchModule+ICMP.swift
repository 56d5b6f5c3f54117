import Wire

/// `-m icmp` (libipt_icmp.c) and `-m icmp6` (libip6t_icmp6.c): one parser, two name tables.
extension MatchModule {
    static let icmpOptions = ModuleSpec([OptionSpec("--icmp-type", invertible: true)])
    static let icmp6Options = ModuleSpec([OptionSpec("--icmpv6-type", invertible: true)])

    /// The type names of libipt_icmp.c: (type, codes); a nil type is `any`.
    static let icmpTypes: [String: (UInt8?, ClosedRange<UInt8>)] = [
        "any": (nil, 0...255), "echo-reply": (0, 0...255), "pong": (0, 0...255),
        "destination-unreachable": (3, 0...255), "network-unreachable": (3, 0...0),
        "host-unreachable": (3, 1...1), "protocol-unreachable": (3, 2...2), "port-unreachable": (3, 3...3),
        "fragmentation-needed": (3, 4...4), "source-route-failed": (3, 5...5),
        "network-prohibited": (3, 9...9), "host-prohibited": (3, 10...10),
        "communication-prohibited": (3, 13...13), "source-quench": (4, 0...255), "redirect": (5, 0...255),
        "echo-request": (8, 0...255), "ping": (8, 0...255), "router-advertisement": (9, 0...255),
        "router-solicitation": (10, 0...255), "time-exceeded": (11, 0...255), "ttl-exceeded": (11, 0...255),
        "ttl-zero-during-transit": (11, 0...0), "ttl-zero-during-reassembly": (11, 1...1),
        "parameter-problem": (12, 0...255), "timestamp-request": (13, 0...255),
        "timestamp-reply": (14, 0...255),
    ]

    /// The type names of libip6t_icmp6.c.
    static let icmp6Types: [String: (UInt8?, ClosedRange<UInt8>)] = [
        "destination-unreachable": (1, 0...255), "no-route": (1, 0...0), "packet-too-big": (2, 0...255),
        "time-exceeded": (3, 0...255), "parameter-problem": (4, 0...255), "echo-request": (128, 0...255),
        "ping": (128, 0...255), "echo-reply": (129, 0...255), "pong": (129, 0...255),
        "router-solicitation": (133, 0...255), "router-advertisement": (134, 0...255),
        "neighbour-solicitation": (135, 0...255), "neighbor-solicitation": (135, 0...255),
        "neighbour-advertisement": (136, 0...255), "neighbor-advertisement": (136, 0...255), "redirect": (137, 0...255),
    ]

    /// `--icmp-type NAME`, `TYPE` or `TYPE/CODE` (and the same for `--icmpv6-type`).
    func buildICMP(_ opts: RuleParser.Options, proto: IPProtocol?, into out: inout [Match]) throws(RuleError) {
        let v6 = self == .icmp6
        guard proto == (v6 ? .icmpv6 : .icmp) else {
            throw RuleError(word: name, reason: v6 ? "-m icmp6 needs -p ipv6-icmp" : "-m icmp needs -p icmp")
        }
        guard let o = opts.last(v6 ? "--icmpv6-type" : "--icmp-type") else { return }
        let a = o.args[0]
        if let named = (v6 ? Self.icmp6Types : Self.icmpTypes)[a] {
            out.append(.icmpType(type: named.0, code: named.1, negated: o.negated))
            return
        }
        let kind = v6 ? "ICMPv6" : "ICMP"
        let parts = a.split(separator: "/", maxSplits: 1)
        guard let t = parts.first.flatMap({ UInt8($0) }) else { throw RuleError(word: a, reason: "unknown \(kind) type") }
        var code: ClosedRange<UInt8> = 0...255
        if parts.count == 2 {
            guard let c = UInt8(parts[1]) else { throw RuleError(word: a, reason: "bad \(kind) code") }
            code = c...c
        }
        out.append(.icmpType(type: t, code: code, negated: o.negated))
    }

    /// icmp_save/icmp6_save: `--icmp-type TYPE[/CODE]` in numbers (`any` for any type; the
    /// code only when one code is matched).
    func saveICMP(_ matches: ArraySlice<Match>, into out: inout [String]) {
        for case .icmpType(let type, let code, let negated) in matches {
            var text = type.map { String($0) } ?? "any"
            if type != nil && code != 0...255 { text += "/\(code.lowerBound)" }
            out.option(self == .icmp6 ? "--icmpv6-type" : "--icmp-type", negated, text)
        }
    }
}
