import Wire

/// What a set lookup found for a packet.
enum NFTLookupResult: Equatable {
    /// A key field the packet does not have (`ip daddr` of an IPv6 packet): the rule breaks.
    case unreadable
    case absent
    /// A listed element, and its verdict packed (`NFTVerdict.packed`; 0: not a verdict).
    case element(Int32, verdict: UInt64)
    /// A key an `update @set` added while packets ran, not a listed element.
    case added
}

extension NFTEngine {
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

    /// The element of set `s` the packet's `fields` select; `numgen` draws if a field is
    /// `numgen random`.
    @inline(__always)
    func lookup(_ fields: UnsafeBufferPointer<NFTField>, _ s: Int32, _ p: NFTPacket, state: NFTDynamicState, chooser: inout NFTChooser, numgen: inout UInt32) -> NFTLookupResult {
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
        return withUnsafeTemporaryAllocation(of: UInt128.self, capacity: fields.count) { buf -> NFTLookupResult in
            var key = NFTKey()
            for (i, f) in fields.enumerated() {
                guard let v = read(f, p, numgen: numgen) else { return .unreadable }
                buf[i] = v
                key.append(v, bits: f.bits)
            }
            // The set is read where it lies: a copy of the struct would retain and release
            // each of its arrays on every packet.
            return ruleset.sets.withUnsafeBufferPointer { sets -> NFTLookupResult in
                // `pointee` is addressed, not copied (a buffer subscript returns a copy).
                let set = sets.baseAddress! + Int(s)
                if let hit = NFTSet.lookupVerdict(set, key, fields: UnsafeBufferPointer(buf)) {
                    // A listed element of a timeout set is there until it expires (`expires`
                    // counts from the dump, time 0 of `state.now`).
                    guard set.pointee.dynamicPrepared, let expires = set.pointee.elements[Int(hit.element)].expires, state.now >= expires else {
                        return .element(hit.element, verdict: hit.verdict)
                    }
                }
                if set.pointee.dynamicPrepared, state.contains(s, key) { return .added }
                return .absent
            }
        }
    }

    /// One base chain and the chains it jumps to, over the flat program; returns the base
    /// chain's verdict. Ops are read in place from one array: no rule, expression or field
    /// array is retained or chased per packet.
    func runChain(_ base: Int32, hook: NFTHook, packet p: inout NFTPacket, ct: NFTConntrack, local: Set<IPAddress>,
                  state: inout NFTDynamicState, chooser: inout NFTChooser, steps: inout [NFTStep]?,
                  outcome: inout NFTHookOutcome) -> NFTHookVerdict {
        program.ops.withUnsafeBufferPointer { ops in
        program.chainStart.withUnsafeBufferPointer { starts in
        program.fields.withUnsafeBufferPointer { fields in
        // The kernel's jump stack holds 16 frames (NFT_JUMP_STACK_SIZE); no heap per packet.
        withUnsafeTemporaryAllocation(of: (chain: Int32, pc: Int32).self, capacity: 17) { stack -> NFTHookVerdict in
            func list(_ l: NFTFieldList) -> UnsafeBufferPointer<NFTField> {
                UnsafeBufferPointer(rebasing: fields[Int(l.start)..<Int(l.start + l.count)])
            }
            func policy() -> NFTHookVerdict {
                let drop = ruleset.chains[Int(base)].base?.policyDrop ?? false
                steps?.append(NFTStep(hook: hook, chain: base, rule: -1, action: .policy(drop: drop), packet: p, numgen: 0))
                if drop { outcome.decidingChain = base; outcome.decidingRule = -1 }
                return drop ? .drop : .accept
            }
            var depth = 0
            var chain = base
            var pc = Int(starts[Int(base)])
            var guardSteps = 0
            while true {
                guardSteps += 1
                if guardSteps > 1_000_000 { return .drop }
                guard case .rule(let r, let nextRule) = ops[pc] else {
                    // The chain's end: back to the caller, or the base chain's policy.
                    if depth == 0 { return policy() }
                    depth -= 1
                    chain = stack[depth].chain
                    pc = Int(stack[depth].pc)
                    continue
                }
                let next = Int(nextRule)
                var verdict: NFTVerdict?
                var action: NFTAction?
                var matched = true
                var numgen: UInt32 = 0
                var terminal: NFTHookVerdict?
                // The first op of a jump's or goto's chain, when the op that chose it knew it.
                var target: Int32 = -1
                var k = pc + 1
                exprs: while k < next {
                    defer { k += 1 }
                    switch ops[k] {
                    case .compare(let f, let op, let low, let high, let mask):
                        guard let v0 = read(fields[Int(f)], p, numgen: numgen) else { matched = false; break exprs }
                        if !Self.holds(op, UInt32(truncatingIfNeeded: v0) & mask, low, high) { matched = false; break exprs }
                    case .compareWide(let f, let op, let c):
                        guard let v0 = read(fields[Int(f)], p, numgen: numgen) else { matched = false; break exprs }
                        let w = program.wide[Int(c)]
                        if !Self.holds(op, v0 & w.mask, w.low, w.high) { matched = false; break exprs }
                    case .lookup(let l, let s, let negate):
                        let found = lookup(list(l), s, p, state: state, chooser: &chooser, numgen: &numgen)
                        if found == .unreadable || (found != .absent) == negate { matched = false; break exprs }
                    case .ctState(let bits, let negate):
                        if ((ct.state & bits) != 0) == negate { matched = false; break exprs }
                    case .ctStatus(let bits, let negate):
                        if ((ct.status & bits) == bits) == negate { matched = false; break exprs }
                    case .fibLocal(let daddr, let negate):
                        if local.contains(daddr ? p.destination : p.source) == negate { matched = false; break exprs }
                    case .vmap(let l, let s):
                        guard case .element(let el, let packed) = lookup(list(l), s, p, state: state, chooser: &chooser, numgen: &numgen),
                              let v = NFTVerdict(packed: packed) else { matched = false; break exprs }
                        verdict = v
                        action = .mapLookup(set: s, element: el, v)
                        break exprs
                    case .numgenVmap(let l, let s, let mod, let offset):
                        let el: Int32, v: NFTVerdict
                        if chooser.drawsOnePath {
                            // The draw and the branch it selects are the ops right after this one.
                            let value = chooser.choose(mod: mod) { v in
                                guard case .branch(_, _, let size, _) = ops[k + 1 + Int(v)] else { return 0 }
                                return size
                            }
                            numgen = value &+ offset
                            guard case .branch(let e, let branchVerdict, _, let start) = ops[k + 1 + Int(value)], e >= 0 else { matched = false; break exprs }
                            el = e; v = branchVerdict; target = start
                        } else {
                            // Every branch (verify): the classes' path.
                            guard case .element(let e, let packed) = lookup(list(l), s, p, state: state, chooser: &chooser, numgen: &numgen),
                                  let mapped = NFTVerdict(packed: packed) else { matched = false; break exprs }
                            el = e; v = mapped
                        }
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
                    case .nat, .natIPv4:
                        let decision = natDecision(ops[k])
                        outcome.nat = decision
                        outcome.natChain = chain; outcome.natRuleIndex = r
                        action = .nat(decision, set: -1, element: -1)
                        verdict = .accept
                        break exprs
                    case .natMap(let dnat, let l, let s):
                        guard case .element(let el, _) = lookup(list(l), s, p, state: state, chooser: &chooser, numgen: &numgen),
                              case .data(let values)? = ruleset.sets[Int(s)].elements[Int(el)].value,
                              let fam = ruleset.sets[Int(s)].valueTypes?.first else {
                            // No element: the kernel's map lookup breaks the rule.
                            matched = false; break exprs
                        }
                        let addr = IPAddress(family: fam == .ipv4Addr ? .ipv4 : .ipv6, bits: values[0])
                        let port = values.count > 1 ? UInt16(truncatingIfNeeded: values[1]) : nil
                        let decision: NFTNATDecision = dnat ? .dnat(addr, port: port) : .snat(addr, port: port)
                        outcome.nat = decision
                        outcome.natChain = chain; outcome.natRuleIndex = r
                        action = .nat(decision, set: s, element: el)
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
                    case .update(let l, let s, let timeoutIndex):
                        var key = NFTKey()
                        var ok = true
                        for f in list(l) { if let v = read(f, p, numgen: numgen) { key.append(v, bits: f.bits) } else { ok = false } }
                        if ok {
                            let t = timeoutIndex >= 0 ? program.timeouts[Int(timeoutIndex)] : ruleset.sets[Int(s)].timeout ?? UInt64.max / 2
                            let (expiry, overflow) = state.now.addingReportingOverflow(t)
                            state.entries[s, default: [:]][key] = overflow ? .max : expiry
                            if action == nil { action = .setUpdate(set: s) }
                        }
                    case .counter, .branch, .rule, .chainEnd:
                        // Branches sit past their numgenVmap, which ends the rule's walk.
                        break
                    case .verdict(let v, let start):
                        verdict = v
                        target = start
                        break exprs
                    case .unsupported:
                        matched = false
                        break exprs
                    }
                }
                if !matched { pc = next; continue }
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
                case .jump(let callee)?:
                    guard depth < 16 else { outcome.decidingChain = chain; outcome.decidingRule = r; return .drop }
                    stack[depth] = (chain, Int32(next))
                    depth += 1
                    chain = callee; pc = Int(target >= 0 ? target : starts[Int(callee)])
                case .goto(let callee)?:
                    chain = callee; pc = Int(target >= 0 ? target : starts[Int(callee)])
                    // A map picked this chain (a Service's, from `service-ips`): it and the
                    // chains laid out after it are likely cold. An inline numgen branch (target
                    // known) picks among chains that touch already brought in.
                    if target < 0, case .mapLookup = action { outcome.prefetched &+= Self.touch(ops, from: pc) }
                case .return?:
                    if depth == 0 { return policy() }
                    depth -= 1
                    chain = stack[depth].chain
                    pc = Int(stack[depth].pc)
                case .continue?, nil:
                    pc = next
                }
            }
        }
        }
        }
        }
    }

    /// What a `nat` or `natIPv4` op sets up.
    @inline(__always)
    func natDecision(_ op: NFTOp) -> NFTNATDecision {
        let dnat: Bool, a: IPAddress?, port: Int32
        switch op {
        case .nat(let d, let address, let p): dnat = d; a = address < 0 ? nil : program.addresses[Int(address)]; port = p
        case .natIPv4(let d, let address, let p): dnat = d; a = .v4(IPv4Address(address)); port = p
        default: preconditionFailure("natDecision of a non-NAT op")
        }
        let p = port < 0 ? nil : UInt16(port)
        return dnat ? .dnat(a, port: p) : .snat(a, port: p)
    }

    /// Reads one byte of each of the ten cache lines after op `pc`'s, so that their misses are
    /// in flight together instead of one after another as the walk reaches them: a kube-proxy
    /// Service's chain and its endpoints' chains, laid out after it, take about that much. At
    /// 30,000 Services this took `lookup.nftables` from 1.16 to 0.97 µs.
    @inline(__always)
    static func touch(_ ops: UnsafeBufferPointer<NFTOp>, from pc: Int) -> UInt8 {
        let raw = UnsafeRawPointer(ops.baseAddress!)
        let end = ops.count * MemoryLayout<NFTOp>.stride
        var sum: UInt8 = 0
        var offset = pc * MemoryLayout<NFTOp>.stride + 64
        for _ in 0..<10 where offset < end {
            sum &+= raw.load(fromByteOffset: offset, as: UInt8.self)
            offset += 64
        }
        return sum
    }

    /// A relational expression's test on the (masked) value.
    @inline(__always)
    static func holds<T: FixedWidthInteger>(_ op: NFTCompare, _ v: T, _ low: T, _ high: T) -> Bool {
        switch op {
        case .eq: v >= low && v <= high
        case .ne: !(v >= low && v <= high)
        case .lt: v < low
        case .gt: v > high
        case .le: v <= high
        case .ge: v >= low
        }
    }
}
