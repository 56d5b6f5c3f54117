import Wire

extension Tracer {
    // MARK: hook programs with nft base chains

    /// The priority a hook program's step runs at, and its hook (nil: not a hook step, such as
    /// routing; it closes the hook before it). `conntrackIn` takes the hook of the step before it.
    private static func priority(_ step: FlowStep, hook current: Hook?) -> (Hook, Int)? {
        switch step {
        case .table(let hook, let table):
            switch table {
            case .raw: return (hook, -300)
            case .mangle: return (hook, -150)
            case .nat: return (hook, hook == .prerouting || hook == .output ? -100 : 100)
            case .filter: return (hook, 0)
            case .security: return (hook, 50)
            }
        case .conntrackIn: return current.map { ($0, -200) }
        case .nat(let hook): return (hook, hook == .prerouting || hook == .output ? -100 : 100)
        // ip_vs_core.c: ip_vs_ops4 priorities.
        case .ipvsReply(let hook): return (hook, hook == .output ? -99 : hook == .input ? 98 : 100)
        case .ipvsRequest(let hook): return (hook, hook == .output ? -98 : 99)
        default: return nil
        }
    }

    /// `program` with the nft base chains (not nat: those run inside `.nat`) slotted between its
    /// steps by priority: before a hook's first step, between two steps, after its last. A chain
    /// at the same priority as a step runs after it. Built once per program kind (static) and
    /// for the few programs a path appends, only when the host has nft chains.
    static func interleaveNFT(_ program: [FlowStep]) -> [FlowStep] {
        var out: [FlowStep] = []
        out.reserveCapacity(program.count * 2 + 4)
        var hook: Hook?
        var low = Int.min
        for step in program {
            if let (h, p) = priority(step, hook: hook) {
                if h != hook {
                    if let hook { out.append(.nft(hook, low...Int.max)) }
                    hook = h
                    low = Int.min
                }
                if p > low { out.append(.nft(h, low...(p - 1))) }
                low = p
            } else if let h = hook {
                out.append(.nft(h, low...Int.max))
                hook = nil
            }
            out.append(step)
        }
        if let hook { out.append(.nft(hook, low...Int.max)) }
        return out
    }

    /// `program`, interleaved with nft chains when the host has them.
    @inline(__always)
    static func withNFT(_ program: [FlowStep], _ host: Host) -> [FlowStep] {
        host.hasNFT ? interleaveNFT(program) : program
    }

    // MARK: running nft chains

    /// What `ct state` / `ct status` read for this path's connection.
    private func connectionFacts(_ s: PathState) -> NFTConnectionFacts {
        let state: UInt32
        switch s.conn.info {
        case .new: state = 8
        case .established: state = 2
        case .related: state = 4
        case .invalid: state = 1
        case .untracked: state = 64
        }
        var status: UInt32 = 0
        if let e = s.conn.entry {
            if e.destinationNAT { status |= 32 }
            if e.sourceNAT { status |= 16 }
        }
        if s.conn.tableIndex != nil { status |= 8 }
        return NFTConnectionFacts(state: state, status: status)
    }

    /// `.nft(hook, range)`: the non-nat base chains of that priority range.
    func nftChains(_ hook: Hook, _ range: ClosedRange<Int>, path s: inout PathState, forks work: inout [PathState], options o: TraceOptions) {
        guard let nft = s.host.nft, nft.hasChains(at: hook, priorities: range, nat: false, family: s.packet.destination.family) else { return }
        if hook == .input { s.reachedInput = true }
        runNFT(hook, range, nat: false, path: &s, forks: &work, options: o)
    }

    /// Runs the chains through the host's hook, forking per numgen branch in all-paths mode,
    /// and applies each outcome (steps, mark, verdict, NAT binding).
    private func runNFT(_ hook: Hook, _ range: ClosedRange<Int>, nat: Bool, path s: inout PathState, forks work: inout [PathState], options o: TraceOptions) {
        guard var nft = s.host.nft else { return }
        if s.constants != nil {
            for c in nft.headerConstants() where !s.constants!.shared.contains(where: { $0 === c }) { s.constants!.shared.append(c) }
        }
        let facts = connectionFacts(s)
        if o.allPaths, work.count + 1 < o.maxPaths {
            let every = nft.runEvery(hook, priorities: range, nat: nat, packet: s.packet, connection: facts, record: s.recordSteps)
            guard let first = every.first else { return }
            for choice in every.dropFirst() {
                var fork = s
                fork.host.nft = choice.hook
                fork.probability *= choice.share
                applyNFT(choice.outcome, at: hook, path: &fork, options: o)
                if nat, !fork.isFinished, var e = fork.conn.entry {
                    // Re-enter the nat hook: the binding is set, so it only rewrites (a branch
                    // that bound nothing takes the null binding: the list is not walked again).
                    if hook == .prerouting || hook == .output { e.destinationNATDone = true } else { e.sourceNATDone = true }
                    fork.conn.entry = e
                    fork.pc = s.pc - 1
                }
                work.append(fork)
            }
            s.host.nft = first.hook
            s.probability *= first.share
            applyNFT(first.outcome, at: hook, path: &s, options: o)
            return
        }
        let out = nft.run(hook, priorities: range, nat: nat, packet: s.packet, connection: facts, seed: s.rng.next(), record: s.recordSteps)
        s.host.nft = nft
        applyNFT(out, at: hook, path: &s, options: o)
    }

    private func applyNFT(_ out: NFTChainsOutcome, at hook: Hook, path s: inout PathState, options o: TraceOptions) {
        if out.consultedState { s.consultedState = true }
        var natStep: Int?
        if s.recordSteps {
            for st in out.steps {
                s.packet.mark = st.mark
                if let r = st.rule {
                    if r == out.natRule { natStep = s.steps.count }
                    s.step(hook, .nftRule(r), text: r.text, st.action)
                } else {
                    s.step(hook, .nftPolicy(table: st.table, chain: st.chain), text: "policy", st.action)
                }
            }
        }
        s.packet.mark = out.mark
        if o.masqueradeMark != 0 && s.packet.mark & o.masqueradeMark != 0 { s.masqueradeMarked = true }
        if out.verdict != .accepted {
            s.finish(out.verdict, out.decidedBy.map { .nft($0) } ?? .policy, out.reason)
            return
        }
        if let nat = out.nat, let rule = out.natRule {
            let rewrite = nftBinding(nat, rule: rule, path: &s)
            if let natStep, natStep < s.steps.count { s.steps[natStep].rewrite = rewrite }
        }
    }

    /// nf_nat_setup_info for an nft NAT statement: the connection's binding, as the iptables
    /// targets set it up (`natTarget`); the nat hook then rewrites the packet.
    private func nftBinding(_ nat: NFTNATRequest, rule: NFTRuleReference, path s: inout PathState) -> Rewrite? {
        guard var e = s.conn.entry else { return nil }
        let cur = e.reply.inverted
        switch nat {
        case .dnat(let address, let port):
            var new = cur
            if let address { new.destination = address }
            if let port, cur.proto.hasPorts { new.destinationPort = port }
            e.reply = new.inverted
            e.destinationNAT = new != cur
            e.destinationNATDone = true
            s.conn.entry = e
            s.dnat = SocketAddress(new.destination, port: new.destinationPort)
            return .dnat(new.destination, port: new.destinationPort)
        case .snat(let address, let port):
            let ports = port.map { PortRange($0, $0) }
            let new = uniqueSource(cur, address: address ?? cur.source, ports: ports, randomAll: false, &s)
            finishSource(new: new, current: cur, entry: &e, path: &s)
            return .snat(new.source, port: new.sourcePort)
        case .masquerade(let fullyRandom):
            let dev = s.packet.outInterface ?? ""
            let nextHop = s.host.route(to: s.packet.destination)?.nextHop ?? s.packet.destination
            guard let address = s.host.sourceAddress(device: dev, nextHop: nextHop) else {
                s.step(nil, .nftRule(rule), text: rule.text, "drop: \(dev) has no address to masquerade to")
                s.finish(.dropped, .nft(rule), "masquerade: \(dev) has no address")
                return nil
            }
            let new = uniqueSource(cur, address: address, ports: nil, randomAll: fullyRandom, &s)
            finishSource(new: new, current: cur, entry: &e, path: &s)
            return .masquerade(new.source, port: new.sourcePort)
        }
    }

    /// The nat hook of a host with nft chains, for a connection's first packet: nft nat chains
    /// below iptables' nat priority, iptables' nat table, then the nft nat chains at or above
    /// it; the first that sets up a binding ends the list (nf_nat_inet_fn).
    func natWithNFT(at hook: Hook, manip: Manip, path s: inout PathState, forks work: inout [PathState], options o: TraceOptions) {
        let p = hook == .prerouting || hook == .output ? -100 : 100
        func done(_ s: PathState) -> Bool {
            guard let e = s.conn.entry else { return true }
            return manip == .destination ? e.destinationNATDone : e.sourceNATDone
        }
        let family = s.packet.destination.family
        if s.host.nft!.hasChains(at: hook, priorities: Int.min...(p - 1), nat: true, family: family) {
            runNFT(hook, Int.min...(p - 1), nat: true, path: &s, forks: &work, options: o)
            if s.isFinished || done(s) { return }
        }
        if let t = prepared.tables[.nat], let chain = t.builtin[hook] {
            walk(t, chain: chain, hook: hook, path: &s, forks: &work, options: o)
            if s.isFinished || done(s) { return }
        }
        if s.host.nft!.hasChains(at: hook, priorities: p...Int.max, nat: true, family: family) {
            runNFT(hook, p...Int.max, nat: true, path: &s, forks: &work, options: o)
        }
    }
}
