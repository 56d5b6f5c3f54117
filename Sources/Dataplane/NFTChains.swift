import NFTables
import Netfilter
import Wire

/// A node's nft ruleset plugged into Netfilter's tracer (`NFTChainsHook`): iptables' tables and
/// these base chains run together at each hook by priority. A value: each traced path carries
/// its own copy (the dynamic sets, such as affinity, change per path).
///
/// Cost: one engine run per hook range that has chains; `hasChains` is a scan of the hook's few
/// base chains, so ranges without chains cost no engine call. Plugged only when the node has an
/// nft ruleset; iptables-only hosts never see this type.
public struct NFTChains: NFTChainsHook {
    public let engine: NFTEngine
    /// The node's local addresses (`fib daddr type local`).
    let local: Set<IPAddress>
    var state = NFTDynamicState()
    public var notes: [String] = []
    /// The addresses and ports the ruleset compares packets with (`headerConstants()`).
    let constants: SharedHeaderConstants

    public init(engine: NFTEngine, local: Set<IPAddress>) {
        self.engine = engine
        self.local = local
        constants = Self.constants(of: engine.ruleset)
        // Chains at an iptables table's exact priority: the kernel orders them by registration.
        let fixed: [NFTHook: [Int]] = [.prerouting: [-300, -150, -100], .input: [-150, 0, 50, 100], .forward: [-150, 0, 50],
                                       .output: [-300, -150, -100, 0, 50], .postrouting: [-150, 100]]
        var ties: [String] = []
        for (i, c) in engine.ruleset.chains.enumerated() {
            guard let b = c.base, fixed[b.hook]?.contains(b.priority) == true else { continue }
            ties.append("\(engine.ruleset.tableName(ofChain: Int32(i))) \(c.name) (\(b.type.rawValue), \(b.hook.rawValue) priority \(b.priority))")
        }
        if !ties.isEmpty {
            notes.append("nft chains at an iptables table's own priority run after that table (assumed; the kernel orders equal priorities by registration): " + ties.joined(separator: ", "))
        }
    }

    public func headerConstants() -> [SharedHeaderConstants] { [constants] }

    /// Every address and port in the rules' comparisons and in the elements of the sets and
    /// maps they look up, on the side (source, destination) the lookup reads.
    static func constants(of rs: NFTRuleset) -> SharedHeaderConstants {
        var src: [Prefix] = [], dst: [Prefix] = [], sports: [PortRange] = [], dports: [PortRange] = []
        func add(_ f: NFTField, _ low: UInt128, _ high: UInt128) {
            switch f {
            case .ipSaddr: src += prefixes(.ipv4, low, high)
            case .ipDaddr: dst += prefixes(.ipv4, low, high)
            case .ip6Saddr: src += prefixes(.ipv6, low, high)
            case .ip6Daddr: dst += prefixes(.ipv6, low, high)
            case .thSport: if low <= high, high <= 65535 { sports.append(PortRange(UInt16(low), UInt16(high))) }
            case .thDport: if low <= high, high <= 65535 { dports.append(PortRange(UInt16(low), UInt16(high))) }
            default: break
            }
        }
        for c in rs.chains {
            for r in c.rules {
                for e in r.exprs {
                    switch e {
                    case .compare(let f, _, let low, let high, _): add(f, low, high)
                    case .lookup(let fields, let s, _), .vmap(let fields, let s):
                        for el in rs.sets[Int(s)].elements {
                            for (i, f) in fields.enumerated() where i < el.low.count && i < el.high.count { add(f, el.low[i], el.high[i]) }
                        }
                    default: break
                    }
                }
            }
        }
        return SharedHeaderConstants(destinationPrefixes: dst, sourcePrefixes: src, destinationPorts: dports, sourcePorts: sports)
    }

    /// The prefixes that cover [low, high] exactly (an interval element or a range).
    static func prefixes(_ family: IPFamily, _ low: UInt128, _ high: UInt128) -> [Prefix] {
        let width = family == .ipv4 ? 32 : 128
        guard low <= high else { return [] }
        var out: [Prefix] = []
        var lo = low
        while lo <= high, out.count < 64 {
            var len = width
            // The largest block aligned at lo that stays within high.
            while len > 0 {
                let size = UInt128(1) << (width - len + 1)
                if (width - len + 1) > 127 || lo % size != 0 || lo + size - 1 > high { break }
                len -= 1
            }
            out.append(Prefix(containing: IPAddress(family: family, bits: lo), length: len))
            let size = width - len >= 128 ? UInt128.max : (UInt128(1) << (width - len))
            if high - lo < size { break }
            lo += size
        }
        return out
    }

    static func nftHook(_ h: Hook) -> NFTHook {
        switch h {
        case .prerouting: .prerouting
        case .input: .input
        case .forward: .forward
        case .output: .output
        case .postrouting: .postrouting
        }
    }

    public func hasChains(at hook: Hook, priorities: ClosedRange<Int>, nat: Bool, family: IPFamily) -> Bool {
        for c in engine.chains(at: Self.nftHook(hook), family: family) {
            let b = engine.ruleset.chains[Int(c)].base!
            if (b.type == .nat) == nat && priorities.contains(b.priority) { return true }
        }
        return false
    }

    public mutating func run(_ hook: Hook, priorities: ClosedRange<Int>, nat: Bool, packet: Packet,
                             connection: NFTConnectionFacts, seed: UInt64, record: Bool) -> NFTChainsOutcome {
        var chooser = NFTChooser(seed: seed)
        return run(hook, priorities: priorities, nat: nat, packet: packet, connection: connection, chooser: &chooser, record: record)
    }

    public mutating func runEvery(_ hook: Hook, priorities: ClosedRange<Int>, nat: Bool, packet: Packet,
                                  connection: NFTConnectionFacts, record: Bool) -> [(outcome: NFTChainsOutcome, share: Double, hook: any NFTChainsHook)] {
        let start = self
        return NFTChooser.enumerate { chooser -> (NFTChainsOutcome, NFTChains) in
            var copy = start
            let out = copy.run(hook, priorities: priorities, nat: nat, packet: packet, connection: connection, chooser: &chooser, record: record)
            return (out, copy)
        }.map { (r, p) in (outcome: r.0, share: p, hook: r.1 as any NFTChainsHook) }
    }

    private mutating func run(_ hook: Hook, priorities: ClosedRange<Int>, nat: Bool, packet: Packet,
                              connection: NFTConnectionFacts, chooser: inout NFTChooser, record: Bool) -> NFTChainsOutcome {
        var p = NFTWalker.nftPacket(packet)
        var steps: [NFTStep]? = record ? [] : nil
        let ct = NFTConntrack(state: connection.state, status: connection.status)
        let before = chooser.probability
        let dynamicBefore = state
        let r = engine.run(hook: Self.nftHook(hook), packet: &p, ct: ct, local: local, state: &state, chooser: &chooser,
                           steps: &steps, onlyType: nat ? .nat : nil, excludeType: nat ? nil : .nat, priorityRange: priorities)
        let rs = engine.ruleset
        var out = NFTChainsOutcome(mark: p.mark)
        out.consultedState = chooser.probability != before || state != dynamicBefore
        func reference(_ c: Int32, _ i: Int32) -> NFTRuleReference? {
            guard let rule = rs.rule(c, i) else { return nil }
            return NFTRuleReference(table: rs.tableName(ofChain: c), chain: rs.chainName(c),
                                    handle: rule.handle > 0 ? rule.handle : Int(i) + 1, text: rs.ruleText(c, i) ?? rule.text)
        }
        for s in steps ?? [] {
            if case .policy(false) = s.action { continue }  // accepting policies: as trace-rules --nft prints them
            out.steps.append(NFTChainStep(rule: s.rule >= 0 ? reference(s.chain, s.rule) : nil, table: rs.tableName(ofChain: s.chain),
                                          chain: rs.chainName(s.chain), action: rs.describe(s), mark: s.packet.mark))
        }
        switch r.verdict {
        case .accept: out.verdict = .accepted
        case .drop: out.verdict = .dropped
        case .reject: out.verdict = .rejected
        }
        if r.verdict != .accept, let d = r.decidedBy {
            if d.rule < 0 {
                out.reason = "\(rs.tableName(ofChain: d.chain)) \(rs.chainName(d.chain)): policy drop"
            } else {
                out.decidedBy = reference(d.chain, d.rule)
                out.reason = rs.rule(d.chain, d.rule)?.comment
            }
        }
        if let n = r.nat {
            switch n {
            case .dnat(let a, let port): out.nat = .dnat(a, port: port)
            case .snat(let a, let port): out.nat = .snat(a, port: port)
            case .masquerade(let fr): out.nat = .masquerade(fullyRandom: fr)
            }
            if let nr = r.natRule { out.natRule = reference(nr.chain, nr.rule) }
        }
        return out
    }
}
