import Wire

/// Which extension made which of a parsed rule's matches, and the options each was given:
/// what printing a rule back needs beyond its matches and target. Recorded only when
/// `RuleParser.layout` is set (SaveNormalizer), never while parsing rulesets.
struct SaveLayout {
    /// The first matches are the header's (`-s -d -i -o -p -f`).
    var headerCount = 0
    /// Each `-m` module in load order: the end of its matches and its options as written.
    var modules: [(module: MatchModule, end: Int, written: [String])] = []
    var target: TargetModule?
    var targetWritten: [String] = []

    mutating func start(headerCount: Int) {
        self.headerCount = headerCount
        modules.removeAll()
        target = nil
        targetWritten.removeAll()
    }

    mutating func recordModule(_ module: MatchModule, _ opts: RuleParser.Options, end: Int) {
        modules.append((module, end, Self.written(opts)))
    }

    mutating func recordTarget(_ module: TargetModule, _ opts: [RuleParser.Option]) {
        target = module
        targetWritten = Self.written(opts[...])
    }

    private static func written(_ opts: RuleParser.Options) -> [String] {
        opts.flatMap { o in (o.negated ? ["!"] : []) + [o.name] + (0..<o.args.count).map { o.args[$0] } }
    }
}

/// Prints a parsed rule as iptables-save does: the header options in the order `-s -d -i -o
/// -p -f` (addresses with their prefix length), then each match module in the order loaded,
/// printed by its own `save` (`Extensions/`), then the target.
enum RulePrinter {
    static func saveWords(_ matches: [Match], _ target: Target?, layout: SaveLayout, family: IPFamily) -> [String] {
        var out: [String] = []
        let header = matches[..<layout.headerCount]
        for rank in 0..<6 {
            for m in header where headerRank(m) == rank { saveHeader(m, into: &out) }
        }
        var start = layout.headerCount
        for m in layout.modules {
            out += ["-m", m.module.name]
            m.module.save(matches[start..<m.end], written: m.written, family: family, into: &out)
            start = m.end
        }
        switch target {
        case nil: break
        case .jump(let chain): out += ["-j", chain]
        case .goto(let chain): out += ["-g", chain]
        case let target?:
            guard let module = layout.target else { break }
            out += ["-j", module.name]
            module.save(target, written: layout.targetWritten, family: family, into: &out)
        }
        return out
    }

    /// Where `print_ip`/`save_ipv4_addr` and friends put a header option.
    private static func headerRank(_ m: Match) -> Int {
        switch m {
        case .source, .sourceMasked: 0
        case .destination, .destinationMasked: 1
        case .inInterface: 2
        case .outInterface: 3
        case .proto: 4
        default: 5
        }
    }

    private static func saveHeader(_ m: Match, into out: inout [String]) {
        switch m {
        case .source(let p, let negated): out.option("-s", negated, p.map(\.description).joined(separator: ","))
        case .destination(let p, let negated): out.option("-d", negated, p.map(\.description).joined(separator: ","))
        case .sourceMasked(let value, let mask, let negated): out.option("-s", negated, SaveText.masked(value, mask))
        case .destinationMasked(let value, let mask, let negated): out.option("-d", negated, SaveText.masked(value, mask))
        case .inInterface(let i, let negated): out.option("-i", negated, i.description)
        case .outInterface(let o, let negated): out.option("-o", negated, o.description)
        case .proto(let p, let negated): out.option("-p", negated, p.map(SaveText.protocolName) ?? "all")
        case .fragment(let negated): out.option("-f", negated)
        default: assertionFailure("not a header match: \(m)")
        }
    }
}

/// Values spelled as iptables-save spells them.
enum SaveText {
    /// `0x%x`.
    static func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

    /// `print_mark`: `0xVALUE/0xMASK`, or `0xVALUE` when the mask is all ones.
    static func mark(_ value: UInt32, _ mask: UInt32) -> String {
        mask == .max ? hex(value) : hex(value) + "/" + hex(mask)
    }

    /// A port or `first:last`.
    static func ports(_ r: PortRange) -> String { r.lower == r.upper ? String(r.lower) : "\(r.lower):\(r.upper)" }

    /// An address, with `/length` only when it is a network.
    static func address(_ p: Prefix) -> String {
        p.length == p.family.bitWidth ? p.network.description : p.description
    }

    /// `a.b.c.d/w.x.y.z`, a mask that is not a prefix.
    static func masked(_ value: UInt32, _ mask: UInt32) -> String { "\(IPv4Address(value))/\(IPv4Address(mask))" }

    /// `xtables_chain_protos` names (`ipv6-icmp`), else kdp's name or the number.
    static func protocolName(_ p: IPProtocol) -> String { p == .icmpv6 ? "ipv6-icmp" : p.name }
}

extension [String] {
    /// Appends `[!] name args...`.
    mutating func option(_ name: String, _ negated: Bool, _ args: String...) {
        if negated { append("!") }
        append(name)
        append(contentsOf: args)
    }
}
