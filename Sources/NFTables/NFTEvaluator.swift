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

    @inline(__always)
    func read(_ f: NFTField, _ p: NFTPacket, numgen: UInt32) -> UInt128? {
        switch f {
        case .ipSaddr: if case .v4(let a) = p.source { UInt128(a.value) } else { nil }
        case .ipDaddr: if case .v4(let a) = p.destination { UInt128(a.value) } else { nil }
        case .ip6Saddr: if case .v6(let a) = p.source { a.value } else { nil }
        case .ip6Daddr: if case .v6(let a) = p.destination { a.value } else { nil }
        case .ipProtocol: p.source.family == .ipv4 ? UInt128(p.proto.rawValue) : nil
        case .l4proto: UInt128(p.proto.rawValue)
        case .thSport: p.proto.hasPorts ? UInt128(p.sourcePort) : nil
        case .thDport: p.proto.hasPorts ? UInt128(p.destinationPort) : nil
        case .mark: UInt128(p.mark)
        case .iifname: p.inInterface
        case .oifname: p.outInterface
        case .nfproto: p.destination.family == .ipv4 ? 2 : 10
        case .numgen: UInt128(numgen)
        }
    }

    /// The element of set `s` the packet's `fields` select, or nil; `numgen` draws if a field
    /// is `numgen random`.
    @inline(__always)
    func lookup(_ fields: [NFTField], _ s: Int32, _ p: NFTPacket, state: NFTDynamicState, chooser: inout NFTChooser, numgen: inout UInt32) -> Int32?? {
        if case .numgen(let mod, let offset) = fields[0] {
            if chooser.drawsOnePath, let site = numgenSiteBySet[Int(s)], site.mod == mod, site.offset == offset {
                let start = Int(site.start)
                numgen = numgenClassSizes.withUnsafeBufferPointer { sizes in
                    chooser.choose(mod: mod) { sizes[start + Int($0)] }
                } &+ offset
            } else {
            let classes = numgenClasses[NFTNumgenSite(set: s, mod: mod, offset: offset)] ?? [NFTNumgenClass(ranges: [0...(mod - 1)])]
            numgen = chooser.choose(classes, mod: mod) &+ offset
            }
        }
        let numgen = numgen
        return withUnsafeTemporaryAllocation(of: UInt128.self, capacity: fields.count) { buf -> Int32?? in
            var key = NFTKey()
            for (i, f) in fields.enumerated() {
                guard let v = read(f, p, numgen: numgen) else { return .none }
                buf[i] = v
                key.append(v, bits: f.bits)
            }
            // The set is read where it lies: a copy of the struct would retain and release
            // each of its arrays on every packet.
            return ruleset.sets.withUnsafeBufferPointer { sets -> Int32?? in
                // `pointee` is addressed, not copied (a buffer subscript returns a copy).
                let set = sets.baseAddress! + Int(s)
                if let e = NFTSet.lookup(set, key, fields: UnsafeBufferPointer(buf)) {
                    // A listed element of a timeout set is there until it expires (`expires`
                    // counts from the dump, time 0 of `state.now`).
                    guard set.pointee.dynamicPrepared, let expires = set.pointee.elements[Int(e)].expires, state.now >= expires else { return .some(e) }
                }
                if set.pointee.dynamicPrepared, state.contains(s, key) { return .some(-1) }
                return .some(nil)
            }
        }
    }

    /// One base chain and the chains it jumps to; returns the base chain's verdict.
    func runChain(_ base: Int32, hook: NFTHook, packet p: inout NFTPacket, ct: NFTConntrack, local: Set<IPAddress>,
                  state: inout NFTDynamicState, chooser: inout NFTChooser, steps: inout [NFTStep]?,
                  outcome: inout NFTHookOutcome) -> NFTHookVerdict {
        // The kernel's jump stack holds 16 frames (NFT_JUMP_STACK_SIZE); no heap per packet.
        withUnsafeTemporaryAllocation(of: (Int32, Int32).self, capacity: 17) { stack -> NFTHookVerdict in
            var depth = 0
            var chain = base
            var r: Int32 = 0
            var guardSteps = 0
            while true {
                guardSteps += 1
                if guardSteps > 1_000_000 { return .drop }
                // Rules and expressions are read in place, by index: binding the chain's rule
                // array, a rule, or each expression to a local retained them, a write to the
                // heap object of every rule a packet passes (at 30,000 Services, mostly a cache
                // miss each).
                let ruleCount = ruleset.chains[Int(chain)].rules.count
                if Int(r) >= ruleCount {
                    if depth == 0 {
                        let drop = ruleset.chains[Int(base)].base?.policyDrop ?? false
                        steps?.append(NFTStep(hook: hook, chain: base, rule: -1, action: .policy(drop: drop), packet: p, numgen: 0))
                        if drop { outcome.decidingChain = base; outcome.decidingRule = -1 }
                        return drop ? .drop : .accept
                    }
                    depth -= 1
                    (chain, r) = stack[depth]
                    continue
                }
                let exprCount = ruleset.chains[Int(chain)].rules[Int(r)].exprs.count
                var verdict: NFTVerdict?
                var action: NFTAction?
                var matched = true
                var numgen: UInt32 = 0
                var terminal: NFTHookVerdict?
                exprs: for k in 0..<exprCount {
                    switch ruleset.chains[Int(chain)].rules[Int(r)].exprs[k] {
                    case .compare(let f, let op, let low, let high, let mask):
                        guard let v0 = read(f, p, numgen: numgen) else { matched = false; break exprs }
                        let v = v0 & mask
                        let ok: Bool
                        switch op {
                        case .eq: ok = v >= low && v <= high
                        case .ne: ok = !(v >= low && v <= high)
                        case .lt: ok = v < low
                        case .gt: ok = v > high
                        case .le: ok = v <= high
                        case .ge: ok = v >= low
                        }
                        if !ok { matched = false; break exprs }
                    case .lookup(let fields, let s, let negate):
                        guard let found = lookup(fields, s, p, state: state, chooser: &chooser, numgen: &numgen) else { matched = false; break exprs }
                        if (found != nil) == negate { matched = false; break exprs }
                    case .ctState(let bits, let negate):
                        if ((ct.state & bits) != 0) == negate { matched = false; break exprs }
                    case .ctStatus(let bits, let negate):
                        if ((ct.status & bits) == bits) == negate { matched = false; break exprs }
                    case .fibLocal(let daddr, let negate):
                        if local.contains(daddr ? p.destination : p.source) == negate { matched = false; break exprs }
                    case .vmap(let fields, let s):
                        guard let found = lookup(fields, s, p, state: state, chooser: &chooser, numgen: &numgen), let el = found, el >= 0,
                              case .verdict(let v)? = ruleset.sets[Int(s)].elements[Int(el)].value else { matched = false; break exprs }
                        verdict = v
                        action = .mapLookup(set: s, element: el, v)
                        break exprs
                    case .markSet(let m):
                        switch m {
                        case .value(let v): p.mark = v
                        case .or(let v): p.mark |= v
                        case .and(let v): p.mark &= v
                        case .xor(let v): p.mark ^= v
                        }
                        action = .markSet(p.mark)
                    case .nat(let dnat, let target):
                        var decision: NFTNATDecision
                        var setIndex: Int32 = -1, element: Int32 = -1
                        switch target {
                        case .address(let a, let port):
                            decision = dnat ? .dnat(a, port: port) : .snat(a, port: port)
                        case .map(let fields, let s):
                            guard let found = lookup(fields, s, p, state: state, chooser: &chooser, numgen: &numgen), let el = found, el >= 0,
                                  case .data(let values)? = ruleset.sets[Int(s)].elements[Int(el)].value,
                                  let fam = ruleset.sets[Int(s)].valueTypes?.first else {
                                // No element: the kernel's map lookup breaks the rule.
                                matched = false; break exprs
                            }
                            let addr = IPAddress(family: fam == .ipv4Addr ? .ipv4 : .ipv6, bits: values[0])
                            let port = values.count > 1 ? UInt16(truncatingIfNeeded: values[1]) : nil
                            decision = dnat ? .dnat(addr, port: port) : .snat(addr, port: port)
                            setIndex = s; element = el
                        }
                        outcome.nat = decision
                        outcome.natChain = chain; outcome.natRuleIndex = r
                        action = .nat(decision, set: setIndex, element: element)
                        verdict = .accept
                        break exprs
                    case .masquerade(let fully):
                        outcome.nat = .masquerade(fullyRandom: fully)
                        outcome.natChain = chain; outcome.natRuleIndex = r
                        action = .nat(.masquerade(fullyRandom: fully), set: -1, element: -1)
                        verdict = .accept
                        break exprs
                    case .reject:
                        terminal = .reject
                        action = .reject
                        break exprs
                    case .update(let s, let fields, let timeout):
                        var key = NFTKey()
                        var ok = true
                        for f in fields { if let v = read(f, p, numgen: numgen) { key.append(v, bits: f.bits) } else { ok = false } }
                        if ok {
                            let t = timeout ?? ruleset.sets[Int(s)].timeout ?? UInt64.max / 2
                            let (expiry, overflow) = state.now.addingReportingOverflow(t)
                            state.entries[s, default: [:]][key] = overflow ? .max : expiry
                            if action == nil { action = .setUpdate(set: s) }
                        }
                    case .counter:
                        break
                    case .verdict(let v):
                        verdict = v
                        break exprs
                    case .unsupported:
                        matched = false
                        break exprs
                    }
                }
                if !matched { r += 1; continue }
                if let terminal {
                    steps?.append(NFTStep(hook: hook, chain: chain, rule: r, action: action ?? .reject, packet: p, numgen: numgen))
                    outcome.decidingChain = chain; outcome.decidingRule = r
                    return terminal
                }
                steps?.append(NFTStep(hook: hook, chain: chain, rule: r, action: action ?? verdict.map { .verdict($0) } ?? .matched, packet: p, numgen: numgen))
                switch verdict {
                case .accept?:
                    return .accept
                case .drop?:
                    outcome.decidingChain = chain; outcome.decidingRule = r
                    return .drop
                case .jump(let target)?:
                    guard depth < 16 else { outcome.decidingChain = chain; outcome.decidingRule = r; return .drop }
                    stack[depth] = (chain, r + 1)
                    depth += 1
                    chain = target; r = 0
                case .goto(let target)?:
                    chain = target; r = 0
                case .return?:
                    if depth == 0 {
                        r = Int32(ruleCount)  // the base chain's policy
                    } else {
                        depth -= 1
                        (chain, r) = stack[depth]
                    }
                case .continue?, nil:
                    r += 1
                }
            }
        }
    }
}
