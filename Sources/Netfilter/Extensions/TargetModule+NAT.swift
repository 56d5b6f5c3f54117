import Wire

/// The NAT targets: DNAT and SNAT (libxt_DNAT.c, libxt_SNAT.c), MASQUERADE
/// (libxt_MASQUERADE.c) and REDIRECT (libxt_REDIRECT.c).
extension TargetModule {
    static let dnatOptions = ModuleSpec([OptionSpec("--to-destination"), OptionSpec("--random", 0), OptionSpec("--persistent", 0)])
    static let snatOptions = ModuleSpec([
        OptionSpec("--to-source"), OptionSpec("--random", 0), OptionSpec("--random-fully", 0), OptionSpec("--persistent", 0),
    ])
    static let masqueradeOptions = ModuleSpec([OptionSpec("--to-ports"), OptionSpec("--random", 0), OptionSpec("--random-fully", 0)])
    static let redirectOptions = ModuleSpec([OptionSpec("--to-ports"), OptionSpec("--random", 0)])

    func buildNAT(_ opts: RuleParser.Options, proto: IPProtocol?) throws(RuleError) -> Target {
        switch self {
        case .dnat:
            guard let to = opts.last("--to-destination") else { throw RuleError(word: name, reason: "DNAT needs --to-destination") }
            return .dnat(try Self.natRange(to.args[0], proto: proto), random: opts.has("--random"), persistent: opts.has("--persistent"))
        case .snat:
            guard let to = opts.last("--to-source") else { throw RuleError(word: name, reason: "SNAT needs --to-source") }
            return .snat(try Self.natRange(to.args[0], proto: proto), random: opts.has("--random"),
                         randomFully: opts.has("--random-fully"), persistent: opts.has("--persistent"))
        default:
            var ports: PortRange?
            if let p = opts.last("--to-ports")?.args[0] {
                guard let pr = proto, pr.hasPorts else { throw RuleError(word: p, reason: "--to-ports needs -p tcp, udp or sctp") }
                ports = try RuleParser.portRange(p)
            }
            return self == .masquerade
                ? .masquerade(ports: ports, random: opts.has("--random"), randomFully: opts.has("--random-fully"))
                : .redirect(ports: ports, random: opts.has("--random"))
        }
    }

    /// `[ip[-ip]][:port[-port]]`, IPv6 in brackets when a port follows (libipt_DNAT.c,
    /// libxt_DNAT.c `parse_to`).
    static func natRange(_ s: String, proto: IPProtocol?) throws(RuleError) -> NATRange {
        // Fast path for kube-proxy's `a.b.c.d:port`.
        if let colon = s.utf8.firstIndex(of: 58), s.utf8[s.utf8.index(after: colon)...].allSatisfy({ $0 >= 48 && $0 <= 57 }),
           let fast = RuleParser.fastIPv4(String(s[..<colon])), fast.1 == nil, let p = UInt16(s[s.index(after: colon)...]) {
            let a = fast.0
            guard let pr = proto, pr.hasPorts else { throw RuleError(word: s, reason: "a port needs -p tcp, udp or sctp") }
            return NATRange(firstAddress: .v4(a), lastAddress: .v4(a), ports: PortRange(p))
        }
        var addrPart = Substring(s)
        var portPart: Substring?
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { throw RuleError(word: s, reason: "missing ']'") }
            addrPart = s[s.index(after: s.startIndex)..<close]
            let rest = s[s.index(after: close)...]
            if rest.hasPrefix(":") { portPart = rest.dropFirst() } else if !rest.isEmpty {
                throw RuleError(word: s, reason: "unexpected text after ']'")
            }
        } else if s.filter({ $0 == ":" }).count == 1, let colon = s.firstIndex(of: ":") {
            addrPart = s[..<colon]
            portPart = s[s.index(after: colon)...]
        }
        var range = NATRange(firstAddress: nil, lastAddress: nil, ports: nil)
        if !addrPart.isEmpty {
            let ends = addrPart.split(separator: "-", maxSplits: 1)
            guard let a = try? IPAddress(parsing: ends[0]) else { throw RuleError(word: s, reason: "bad address") }
            var b = a
            if ends.count == 2 {
                guard let bb = try? IPAddress(parsing: ends[1]), bb.family == a.family, bb >= a else {
                    throw RuleError(word: s, reason: "bad address range")
                }
                b = bb
            }
            range.firstAddress = a
            range.lastAddress = b
        }
        if let portPart {
            guard let p = proto, p.hasPorts else { throw RuleError(word: s, reason: "a port needs -p tcp, udp or sctp") }
            range.ports = try RuleParser.portRange(String(portPart))
        }
        if range.firstAddress == nil && range.ports == nil { throw RuleError(word: s, reason: "empty NAT range") }
        return range
    }

    /// DNAT_save/SNAT_save: `--to-destination RANGE` (`NATRange.description`), then
    /// `--random`, `--random-fully`, `--persistent`; MASQUERADE_save/REDIRECT_save:
    /// `--to-ports first[-last]`, then the flags.
    static func saveNAT(_ target: Target, into out: inout [String]) {
        func flags(random: Bool, randomFully: Bool = false, persistent: Bool = false) {
            if random { out.append("--random") }
            if randomFully { out.append("--random-fully") }
            if persistent { out.append("--persistent") }
        }
        switch target {
        case .dnat(let range, let random, let persistent):
            out += ["--to-destination", range.description]
            flags(random: random, persistent: persistent)
        case .snat(let range, let random, let randomFully, let persistent):
            out += ["--to-source", range.description]
            flags(random: random, randomFully: randomFully, persistent: persistent)
        case .masquerade(let ports, let random, let randomFully):
            if let ports { out += ["--to-ports", ports.description] }
            flags(random: random, randomFully: randomFully)
        case .redirect(let ports, let random):
            if let ports { out += ["--to-ports", ports.description] }
            flags(random: random)
        default: assertionFailure("not a NAT target: \(target)")
        }
    }
}
