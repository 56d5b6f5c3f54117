import Wire

/// A packet as the nft evaluator reads it: addresses, protocol, ports, the skb mark, and the
/// interfaces as packed names (`NFTInterfaceName.pack`; 0: none), so no string is touched per
/// packet.
public struct NFTPacket: Hashable, Sendable {
    public var source: IPAddress
    public var destination: IPAddress
    public var proto: IPProtocol
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var mark: UInt32
    public var inInterface: UInt128
    public var outInterface: UInt128

    public init(source: IPAddress, destination: IPAddress, proto: IPProtocol = .tcp, sourcePort: UInt16 = 40000,
                destinationPort: UInt16 = 80, mark: UInt32 = 0, inInterface: UInt128 = 0, outInterface: UInt128 = 0) {
        self.source = source
        self.destination = destination
        self.proto = proto
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.mark = mark
        self.inInterface = inInterface
        self.outInterface = outInterface
    }
}

/// The connection-tracking facts a rule can test, given by the caller's conntrack: `ct state`
/// bits (new 8, established 2, related 4, invalid 1, untracked 64) and `ct status` bits.
public struct NFTConntrack: Hashable, Sendable {
    public var state: UInt32
    public var status: UInt32
    public static let new = NFTConntrack(state: 8, status: 0)
    public static let established = NFTConntrack(state: 2, status: 8)
    public var isNew: Bool { state == 8 }
    public init(state: UInt32, status: UInt32) { self.state = state; self.status = status }
}

/// What a NAT statement asks the caller's conntrack to set up (the kernel's nf_nat_setup_info):
/// nat chains run only for a connection's first packet, and the binding rewrites the rest.
public enum NFTNATDecision: Hashable, Sendable {
    case dnat(IPAddress?, port: UInt16?)
    case snat(IPAddress?, port: UInt16?)
    case masquerade(fullyRandom: Bool)
}

/// What one step did, typed; `NFTRuleset.describe` words it at the output edge.
public enum NFTAction: Hashable, Sendable {
    case verdict(NFTVerdict)
    case reject
    /// A verdict map lookup: the element (of `set`) that matched and its verdict.
    case mapLookup(set: Int32, element: Int32, NFTVerdict)
    case nat(NFTNATDecision, set: Int32, element: Int32)
    case markSet(UInt32)
    case setUpdate(set: Int32)
    /// The rule matched and went on (counter, comment).
    case matched
    case policy(drop: Bool)
}

/// One step of an nft walk, identified as `nft monitor trace` identifies rules: the table and
/// chain (`chain`), the rule's handle (`rule` indexes the chain's rules; -1 for a policy).
public struct NFTStep: Hashable, Sendable {
    public var hook: NFTHook
    public var chain: Int32
    public var rule: Int32
    public var action: NFTAction
    /// The packet after the step.
    public var packet: NFTPacket
    /// The numgen value the rule drew, for map lookups keyed by numgen.
    public var numgen: UInt32
}

/// How a hook's base chains ended for the packet.
public enum NFTHookVerdict: Hashable, Sendable { case accept, drop, reject }

public struct NFTHookOutcome: Hashable, Sendable {
    public var verdict: NFTHookVerdict
    /// The chain and rule index that dropped or rejected (or whose policy did: rule -1).
    public var decidedBy: (chain: Int32, rule: Int32)? {
        decidingChain < 0 ? nil : (decidingChain, decidingRule)
    }
    var decidingChain: Int32 = -1
    var decidingRule: Int32 = -1
    public var nat: NFTNATDecision?
    public var natRule: (chain: Int32, rule: Int32)? { natChain < 0 ? nil : (natChain, natRuleIndex) }
    var natChain: Int32 = -1
    var natRuleIndex: Int32 = -1
    /// The bytes `NFTEngine.touch` read ahead of the walk, summed: stored so the reads are
    /// kept, and no part of the outcome (`==` and `hash` leave it out).
    var prefetched: UInt8 = 0

    public static func == (a: Self, b: Self) -> Bool {
        a.verdict == b.verdict && a.decidingChain == b.decidingChain && a.decidingRule == b.decidingRule
            && a.nat == b.nat && a.natChain == b.natChain && a.natRuleIndex == b.natRuleIndex
    }

    public func hash(into h: inout Hasher) {
        h.combine(verdict); h.combine(decidingChain); h.combine(decidingRule)
        h.combine(nat); h.combine(natChain); h.combine(natRuleIndex)
    }
}

/// The contents of dynamic sets (`update @affinity { ip saddr }`): key → expiry (seconds),
/// per set. A value: each traced path carries its own copy, as it carries conntrack.
public struct NFTDynamicState: Hashable, Sendable {
    public var entries: [Int32: [NFTKey: UInt64]] = [:]
    /// Seconds since an arbitrary start; elements expire when `now` passes their expiry.
    public var now: UInt64 = 0
    public init() {}

    public func contains(_ set: Int32, _ key: NFTKey) -> Bool {
        guard let e = entries[set]?[key] else { return false }
        return e > now
    }
}

/// A ruleset ready to evaluate: base chains per hook and family in the kernel's order.
public struct NFTEngine: Sendable {
    public let ruleset: NFTRuleset
    let hookChains: [[[Int32]]]  // [family v4/v6][hook]
    /// The rules as one flat array of ops, in the order packets reach them: what `run` walks.
    let program: NFTProgram

    /// For each set looked up by `numgen random mod N offset O` (the key's three numbers), the
    /// classes of values with one outcome, built once.
    let numgenClasses: [NFTNumgenSite: [NFTNumgenClass]]

    /// The same classes flattened for one-path draws: per set, its numgen site (`mod`,
    /// `offset`) and where its values' class sizes start in `numgenClassSizes` (value v's class
    /// has `numgenClassSizes[start + v]` values). A dictionary probe plus each class's range
    /// arrays were several reads of cold memory per packet at 30,000 Services.
    struct FlatNumgenSite: Sendable {
        var mod: UInt32
        var offset: UInt32
        var start: Int32
    }
    let numgenSiteBySet: [FlatNumgenSite?]
    let numgenClassSizes: [UInt32]

    public init(_ ruleset: NFTRuleset) {
        self.ruleset = ruleset
        hookChains = [IPFamily.ipv4, .ipv6].map { f in NFTHook.allCases.map { ruleset.baseChains(at: $0, family: f) } }
        program = NFTProgram(ruleset)
        var classes: [NFTNumgenSite: [NFTNumgenClass]] = [:]
        for c in ruleset.chains {
            for r in c.rules {
                for e in r.exprs {
                    let site: (NFTField, Int32)?
                    switch e {
                    case .lookup(let f, let s, _) where f.count == 1: site = (f[0], s)
                    case .vmap(let f, let s) where f.count == 1: site = (f[0], s)
                    case .nat(_, .map(let f, let s)) where f.count == 1: site = (f[0], s)
                    default: site = nil
                    }
                    guard let (field, s) = site, case .numgen(let mod, let offset) = field else { continue }
                    let key = NFTNumgenSite(set: s, mod: mod, offset: offset)
                    if classes[key] == nil { classes[key] = Self.classes(ruleset.sets[Int(s)], mod: mod, offset: offset) }
                }
            }
        }
        numgenClasses = classes
        var bySet = [FlatNumgenSite?](repeating: nil, count: ruleset.sets.count)
        var sizes: [UInt32] = []
        // One site per set (kube-proxy's anonymous numgen maps); a set read by numgen
        // expressions of different moduli keeps the classes' path.
        var shared = Set<Int32>()
        for (site, siteClasses) in classes {
            if bySet[Int(site.set)] != nil || shared.contains(site.set) {
                bySet[Int(site.set)] = nil
                shared.insert(site.set)
                continue
            }
            let start = sizes.count
            // A value in no class counts as the first class, as `choose(_:mod:)` has it.
            sizes += [UInt32](repeating: UInt32(truncatingIfNeeded: siteClasses.first?.count ?? 0), count: Int(site.mod))
            for c in siteClasses {
                let n = UInt32(truncatingIfNeeded: c.count)
                for r in c.ranges { for v in r where v < site.mod { sizes[start + Int(v)] = n } }
            }
            bySet[Int(site.set)] = FlatNumgenSite(mod: site.mod, offset: site.offset, start: Int32(start))
        }
        numgenSiteBySet = bySet
        numgenClassSizes = sizes
    }

    static func classes(_ set: NFTSet, mod: UInt32, offset: UInt32) -> [NFTNumgenClass] {
        var out: [NFTNumgenClass] = []
        var covered: [ClosedRange<UInt32>] = []
        let top = UInt128(offset) + UInt128(mod) - 1
        for e in set.elements {
            let lo = max(e.low[0], UInt128(offset)), hi = min(e.high[0], top)
            guard lo <= hi else { continue }
            let r = UInt32(lo - UInt128(offset))...UInt32(hi - UInt128(offset))
            // nft refuses overlapping elements; a dump that has them keeps the first.
            if covered.contains(where: { $0.overlaps(r) }) { continue }
            covered.append(r)
            out.append(NFTNumgenClass(ranges: [r]))
        }
        // Every other value: no element.
        covered.sort { $0.lowerBound < $1.lowerBound }
        var gaps: [ClosedRange<UInt32>] = []
        var next: UInt64 = 0
        for c in covered {
            if UInt64(c.lowerBound) > next { gaps.append(UInt32(next)...(c.lowerBound - 1)) }
            next = max(next, UInt64(c.upperBound) + 1)
        }
        if next <= UInt64(mod) - 1 { gaps.append(UInt32(next)...(mod - 1)) }
        if !gaps.isEmpty { out.append(NFTNumgenClass(ranges: gaps)) }
        return out
    }

    /// The base chains at `hook` for `family`, in evaluation order.
    public func chains(at hook: NFTHook, family: IPFamily) -> [Int32] {
        hookChains[family == .ipv4 ? 0 : 1][NFTHook.allCases.firstIndex(of: hook)!]
    }

    /// Whether any base chain of `type` sits at `hook`.
    public func hasChains(at hook: NFTHook, family: IPFamily) -> Bool { !chains(at: hook, family: family).isEmpty }

    /// Runs every base chain at `hook` in priority order. A DNAT or SNAT a nat chain sets up
    /// rewrites `packet` before the next chain; masquerade is left to the caller. `ct` is the connection's state (nat
    /// chains run only when it is new; once one sets up NAT the others at the hook are skipped,
    /// as nf_nat_inet_fn does); `local` says which addresses are the host's (`fib … type local`).
    /// Steps are appended to `steps` when it is non-nil.
    public func run(hook: NFTHook, packet: inout NFTPacket, ct: NFTConntrack, local: Set<IPAddress>,
                    state: inout NFTDynamicState, chooser: inout NFTChooser, steps: inout [NFTStep]?,
                    onlyType: NFTChainType? = nil, excludeType: NFTChainType? = nil,
                    priorityRange: ClosedRange<Int>? = nil) -> NFTHookOutcome {
        var out = NFTHookOutcome(verdict: .accept)
        for c in chains(at: hook, family: packet.destination.family) {
            let base = ruleset.chains[Int(c)].base!
            if let onlyType, base.type != onlyType { continue }
            if let excludeType, base.type == excludeType { continue }
            if let priorityRange, !priorityRange.contains(base.priority) { continue }
            if base.type == .nat && (!ct.isNew || out.nat != nil) { continue }
            let hadNAT = out.nat != nil
            let v = runChain(c, hook: hook, packet: &packet, ct: ct, local: local, state: &state, chooser: &chooser, steps: &steps, outcome: &out)
            if !hadNAT, let nat = out.nat {
                // nf_nat applies a new binding at once: later chains at this hook see the
                // rewritten packet. Masquerade's address is the out interface's: the caller's.
                switch nat {
                case .dnat(let a, let port):
                    if let a { packet.destination = a }
                    if let port { packet.destinationPort = port }
                case .snat(let a, let port):
                    if let a { packet.source = a }
                    if let port { packet.sourcePort = port }
                case .masquerade: break
                }
                // The NAT rule's step (the chain's last) shows the packet as rewritten.
                if let n = steps?.count, n > 0 { steps![n - 1].packet = packet }
            }
            if v != .accept {
                out.verdict = v
                return out
            }
        }
        return out
    }
}
