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
                ports = self == .masquerade ? try Self.masqueradePorts(p, proto: proto) : try Self.natPorts(p, proto: proto, word: p)
            }
            return self == .masquerade
                ? .masquerade(ports: ports, random: opts.has("--random"), randomFully: opts.has("--random-fully"))
                : .redirect(ports: ports, random: opts.has("--random"))
        }
    }

    /// `[ip[-ip]][:port[-port]]`, IPv6 in brackets when a port follows, as libxt_DNAT.c's
    /// (libxt_SNAT.c's) `parse_to` reads it: without `[`, one colon is the port and more are an
    /// IPv6 address; `[...]` holds an IPv6 address (iptables refuses brackets for IPv4); an
    /// address range's ends are not ordered (iptables and the kernel take `b-a`, kdp refuses it
    /// rather than guess the kernel's walk).
    static func natRange(_ s: String, proto: IPProtocol?) throws(RuleError) -> NATRange {
        // Fast path for kube-proxy's `a.b.c.d:port`.
        if let colon = s.utf8.firstIndex(of: 58), s.utf8[s.utf8.index(after: colon)...].allSatisfy({ $0 >= 48 && $0 <= 57 }),
           s.utf8[s.utf8.index(after: colon)...].first.map({ $0 != 48 }) == true,
           let fast = RuleParser.fastIPv4(String(s[..<colon])), fast.1 == nil, let p = UInt16(s[s.index(after: colon)...]) {
            let a = fast.0
            guard let pr = proto, pr.hasPorts else { throw RuleError(word: s, reason: "a port needs -p tcp, udp or sctp") }
            return NATRange(firstAddress: .v4(a), lastAddress: .v4(a), ports: PortRange(p))
        }
        var addrPart = Substring(s)
        var portPart: Substring?
        if let open = s.firstIndex(of: "[") {
            let afterOpen = s[s.index(after: open)...]
            guard let close = afterOpen.firstIndex(of: "]") else { throw RuleError(word: s, reason: "invalid address format (missing ']')") }
            addrPart = afterOpen[..<close]
            guard addrPart.isEmpty || (try? IPv6Address(parsing: addrPart)) != nil else {
                throw RuleError(word: s, reason: "invalid address format ([...] holds an IPv6 address)")
            }
            let rest = afterOpen[afterOpen.index(after: close)...]
            if let colon = rest.firstIndex(of: ":") { portPart = rest[rest.index(after: colon)...] }
        } else if let colon = s.firstIndex(of: ":"), !s[s.index(after: colon)...].contains(":") {
            addrPart = s[..<colon]
            portPart = s[s.index(after: colon)...]
        }
        var range = NATRange(firstAddress: nil, lastAddress: nil, ports: nil)
        if let portPart { range.ports = try natPorts(String(portPart), proto: proto, word: s) }
        if portPart != nil && addrPart.isEmpty { return range }  // `:port` or `[]:port`: no address
        // inet_pton on each end of `a[-b]` (a dash after the port's colon is the port's).
        let dash = addrPart.firstIndex(of: "-")
        let first = dash.map { addrPart[..<$0] } ?? addrPart
        guard let a = try? IPAddress(parsing: first) else { throw RuleError(word: s, reason: "bad IP address") }
        var b = a
        if let dash {
            guard let bb = try? IPAddress(parsing: addrPart[addrPart.index(after: dash)...]), bb.family == a.family else {
                throw RuleError(word: s, reason: "bad IP address")
            }
            guard bb >= a else { throw RuleError(word: s, reason: "address range ends below its start (not emulated)") }
            b = bb
        }
        range.firstAddress = a
        range.lastAddress = b
        return range
    }

    /// libxt_DNAT.c `parse_ports`: `port[-port[/base]]`, each as strtoul reads it (base 0); a
    /// port range needs `-p tcp`, `udp`, `sctp` or `dccp` (iptables also takes `icmp`, whose id
    /// kdp does not map). `port:port` is refused ("use dash"), as is a range that ends below
    /// its start; a service name is the node's /etc/services, which kdp does not have; a
    /// shifted port map (`/base`) is not emulated.
    static func natPorts(_ p: String, proto: IPProtocol?, word: String) throws(RuleError) -> PortRange {
        guard let pr = proto, pr.hasPorts else {
            throw RuleError(word: word, reason: proto == .icmp ? "NAT of ICMP ids (a port with -p icmp) is not emulated" : "a port needs -p tcp, udp or sctp")
        }
        guard let (low, rest) = RuleParser.cUnsigned(Substring(p)), low <= 65535 else {
            throw RuleError(word: word, reason: "port '\(p)' not valid (service names are the node's: give the number)")
        }
        guard let sep = rest.first else { return PortRange(UInt16(low)) }
        if sep == ":" { throw RuleError(word: word, reason: "invalid port:port syntax - use dash") }
        guard sep == "-" else { throw RuleError(word: word, reason: "garbage after port value: '\(rest)'") }
        guard let (high, end) = RuleParser.cUnsigned(rest.dropFirst()), high <= 65535 else {
            throw RuleError(word: word, reason: "port '\(rest.dropFirst())' not valid")
        }
        guard high >= low else { throw RuleError(word: word, reason: "port range '\(rest.dropFirst())' funky (ends below its start)") }
        if end.first == "/" { throw RuleError(word: word, reason: "shifted port maps (/PORT) are not emulated") }
        guard end.isEmpty else { throw RuleError(word: word, reason: "garbage after port range: '\(end)'") }
        return PortRange(UInt16(low), UInt16(high))
    }

    /// libxt_MASQUERADE.c `parse_ports` (REDIRECT's `--to-ports` is DNAT's parse_ports,
    /// without a shifted map): `port[-port]`, no service names.
    static func masqueradePorts(_ p: String, proto: IPProtocol?) throws(RuleError) -> PortRange {
        guard let pr = proto, pr.hasPorts else {
            throw RuleError(word: p, reason: proto == .icmp ? "NAT of ICMP ids (--to-ports with -p icmp) is not emulated" : "--to-ports needs -p tcp, udp or sctp")
        }
        guard let (low, rest) = RuleParser.cUnsigned(Substring(p)), low <= 65535 else {
            throw RuleError(word: p, reason: "bad value for --to-ports")
        }
        guard let sep = rest.first else { return PortRange(UInt16(low)) }
        guard sep == "-", let (high, end) = RuleParser.cUnsigned(rest.dropFirst()), high <= 65535, high >= low, end.isEmpty else {
            throw RuleError(word: p, reason: "bad value for --to-ports")
        }
        return PortRange(UInt16(low), UInt16(high))
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
