import Wire

extension Tracer {
    /// Walks one table's built-in chain for `hook` (ipt_do_table in net/ipv4/netfilter/ip_tables.c):
    /// rules in order; a jump pushes a return point, a goto does not; RETURN or the end of a
    /// user chain pops; ACCEPT ends this table only; the built-in chain's policy applies when
    /// the stack underflows. A probabilistic match in all-paths mode forks the path.
    func walk(_ t: PreparedTable, chain start: Int, hook: Hook, path s: inout PathState, forks work: inout [PathState], options o: TraceOptions) {
        // The call stack lives in this call's stack memory (`WalkStack`), not on the heap.
        withUnsafeTemporaryAllocation(of: WalkFrame.self, capacity: WalkStack.inlineCapacity) { buffer in
            var frames = WalkStack(buffer.baseAddress!)
            if s.frames.isEmpty {
                frames.append(WalkFrame(chain: start, next: 0))
            } else {
                frames.load(s.frames)
                s.frames = []
            }
            walk(t, chain: start, hook: hook, path: &s, forks: &work, options: o, frames: &frames)
        }
    }

    private func walk(_ t: PreparedTable, chain start: Int, hook: Hook, path s: inout PathState, forks work: inout [PathState],
                      options o: TraceOptions, frames: inout WalkStack) {
        var resume = s.resume
        s.resume = nil
        let tableName = t.name
        let isFilterLike = t.name == .filter || t.name == .security
        var budget = 1_000_000
        // The integer pre-check needs an IPv4 packet, and verbose traces list every rule tried.
        var quick = false
        var src: UInt32 = 0, dst: UInt32 = 0
        let protocolValue = s.packet.proto
        let proto = protocolValue.rawValue
        let dport = s.packet.destinationPort
        if !o.verbose, !o.recordConstants, case .v4(let a) = s.packet.source, case .v4(let b) = s.packet.destination {
            quick = true; src = a.value; dst = b.value
        }
        while true {
            budget -= 1
            if budget == 0 {
                s.step(hook, .table(tableName), "drop: rule evaluation does not end (a loop)")
                s.finish(.dropped, .loop, "rule evaluation does not end")
                return
            }
            let f = frames[frames.count - 1]
            let ri: Int
            let result: RuleMatch
            let allPaths = o.allPaths && work.count + 1 < o.maxPaths
            if let r = resume {
                ri = r.rule
                unowned(unsafe) let rule = t.chains[f.chain].rules[ri]
                result = s.evaluate(rule, from: r.match, forced: r.forced, allPaths: allPaths)
                resume = nil
            } else {
                unowned(unsafe) let chain = t.chains[f.chain]  // the table keeps it alive; no retain per chain entered
                let count = chain.count
                var next = f.next
                if quick {
                    // Skip rules whose covered conditions cannot hold (`QuickRule`), using the
                    // dispatch index first when the chain has one.
                    let dispatch = chain.dispatchRef
                    while true {
                        if let d = dispatch {
                            let from = next
                            next = d._withUnsafeGuaranteedRef { $0.next(from: from, proto: protocolValue, port: dport, v4Destination: dst) }
                        }
                        if next >= count || chain.quick(next).admits(source: src, destination: dst, proto: proto, port: dport) { break }
                        s.rulesTried &+= 1
                        next += 1
                    }
                } else if let d = chain.dispatch {
                    next = d.next(from: next, packet: s.packet)
                    if s.constants != nil { s.noteDispatch(d) }
                    // A verbose trace lists every rule the linear walk would have tried: the
                    // ones the index skipped fail on a condition checked before any side effect.
                    if o.verbose {
                        for skipped in f.next..<min(next, count) {
                            let rule = chain.rules[skipped]
                            s.step(hook, .rule(RuleReference(table: tableName, chain: chain.name, number: skipped + 1, text: rule.text)),
                                   text: rule.text, "no match")
                        }
                    }
                }
                if next >= count {
                    if frames.count == 1 {
                        Self.applyPolicy(of: t, chain: start, hook: hook, path: &s)
                        return
                    }
                    frames.removeLast()
                    if o.verbose { s.step(hook, .chainEnd(table: tableName, chain: chain.name), "return (end of chain)") }
                    continue
                }
                ri = next
                s.rulesTried &+= 1
                if quick {
                    let q = chain.quick(ri)
                    result = s.evaluateResidual(q, residual: chain.residual, allPaths: allPaths)
                    // The common targets, acted on from the flat record when no step is recorded:
                    // the rule object (text, target payload) is not read at all.
                    if !s.recordSteps && s.missingSetsConsulted == 0 {
                        switch result {
                        case .notMatched:
                            frames[frames.count - 1].next = ri + 1
                            continue
                        case .matched:
                            if Self.quickTarget(q, rule: ri, frames: &frames, table: t, chain: start, hook: hook, path: &s) {
                                if frames.isEmpty { return }
                                continue
                            }
                        case .branch:
                            break
                        }
                    }
                } else {
                    unowned(unsafe) let rule = chain.rules[ri]
                    result = s.evaluate(rule, allPaths: allPaths)
                }
            }
            // Unretained, as above: chains and rules are shared by every node and thread
            // (`PreparedChainStore`), and a retain and release per rule made their counts
            // bounce between cores (kdp verify walks on every core).
            unowned(unsafe) let chain = t.chains[f.chain]
            unowned(unsafe) let rule = chain.rules[ri]
            // A set the dump did not give, taken as empty (--lenient): the rule's step says so.
            var setNote = ""
            if s.missingSetsConsulted > 0 {
                setNote = Self.missingSetNote(rule, s.host, count: s.missingSetsConsulted)
                s.missingSetsConsulted = 0
            }
            // Where the rule sits (for a path end), and the rule as a recorded step names it.
            let site = RuleSite(table: tableName, chain: f.chain, rule: ri)
            func reference() -> RuleReference {
                RuleReference(table: tableName, chain: chain.name, number: ri + 1, text: rule.text)
            }
            switch result {
            case .notMatched:
                if o.verbose || !setNote.isEmpty {
                    s.step(hook, .rule(reference()), text: rule.text, "no match" + setNote)
                } else if case .never(let reason)? = rule.matches.first {
                    s.step(hook, .rule(reference()), text: rule.text, "never matches (not understood, --lenient): \(reason)")
                }
                frames[frames.count - 1].next = ri + 1
                continue
            case .branch(let k, let threshold, let negated):
                let p = Double(threshold) / 2147483648.0
                let pTrue = negated ? 1 - p : p
                var other = s
                other.probability *= 1 - pTrue
                other.frames = frames.saved
                other.resume = (ri, k, false)
                other.pc = s.pc - 1
                work.append(other)
                s.probability *= pTrue
                resume = (ri, k, true)
                continue
            case .matched:
                break
            }
            frames[frames.count - 1].next = ri + 1
            func step(_ action: @autoclosure () -> String) {
                s.step(hook, .rule(reference()), text: rule.text, action() + setNote)
            }
            guard let target = rule.target else {
                step("continue (no target)")
                continue
            }
            switch target {
            case .jump(let name), .goto(let name):
                guard rule.jumpIndex >= 0 else {
                    step("drop: chain \(name) does not exist")
                    s.finish(.dropped, .rule(site), "jump to missing chain \(name)")
                    return
                }
                if case .jump = target {
                    step("jump \(name)")
                    frames.append(WalkFrame(chain: rule.jumpIndex, next: 0))
                } else {
                    step("goto \(name)")
                    frames[frames.count - 1] = WalkFrame(chain: rule.jumpIndex, next: 0)
                }
                if frames.count > 256 {
                    s.finish(.dropped, .rule(site), "chains nest too deep (a loop)")
                    return
                }
            case .returnFromChain:
                step("return")
                frames.removeLast()
                if frames.isEmpty {
                    Self.applyPolicy(of: t, chain: start, hook: hook, path: &s)
                    return
                }
            case .accept:
                step("accept")
                if isFilterLike { s.lastFilterDecision = .rule(site) }
                return
            case .drop:
                step("drop")
                s.finish(.dropped, .rule(site), rule.comment ?? "dropped by \(chain.name)")
                return
            case .reject(let kind):
                step("reject with \(kind.rawValue)")
                s.finish(.rejected, .rule(site), rule.comment ?? "rejected by \(chain.name)")
                return
            case .dnat, .snat, .masquerade, .redirect:
                guard t.name == .nat else {
                    step("ignored: NAT targets only work in the nat table")
                    continue
                }
                if !setNote.isEmpty { step("matched") }
                natTarget(target, hook: hook, rule: rule, site: site, &s, &work, o)
                return
            case .mark(let value, let mask):
                s.packet.mark = (s.packet.mark & ~mask) ^ value
                if s.packet.mark & o.masqueradeMark != 0 && o.masqueradeMark != 0 { s.masqueradeMarked = true }
                step("mark set 0x\(String(s.packet.mark, radix: 16))")
            case .connmarkSet(let value, let mask):
                if s.conn.entry != nil { s.conn.entry!.mark = (s.conn.entry!.mark & ~mask) ^ value }
                step("ct mark set 0x\(String(s.conn.entry?.mark ?? 0, radix: 16))")
            case .connmarkSave(let nfmask, let ctmask):
                if s.conn.entry != nil {
                    s.conn.entry!.mark = (s.conn.entry!.mark & ~ctmask) ^ (s.packet.mark & nfmask)
                }
                step("ct mark saved from packet mark")
            case .connmarkRestore(let nfmask, let ctmask):
                if let e = s.conn.entry { s.packet.mark = (s.packet.mark & ~nfmask) ^ (e.mark & ctmask) }
                step("mark restored from ct mark: 0x\(String(s.packet.mark, radix: 16))")
            case .log(let prefix):
                step("log" + (prefix.isEmpty ? "" : " \"\(prefix)\""))
            case .trace:
                step("trace on")
            case .notrack:
                if !s.conn.looked { s.conn.notrack = true }
                step("notrack")
            case .ct(let what):
                step("ct \(what) (no effect in kdp)")
            }
        }
    }

    /// Acts on a matched rule's target from its flat record, when it is one the record holds:
    /// no target, jump, goto, RETURN or ACCEPT. Returns false for every other target (the walk
    /// then reads the rule). `frames` is left empty when the table's walk is over.
    @inline(__always)
    static func quickTarget(_ q: QuickRule, rule ri: Int, frames: inout WalkStack, table t: PreparedTable, chain start: Int,
                            hook: Hook, path s: inout PathState) -> Bool {
        switch q.target {
        case .none:
            frames[frames.count - 1].next = ri + 1
        case .jump where q.jump >= 0 && frames.count < 256:
            frames[frames.count - 1].next = ri + 1
            frames.append(WalkFrame(chain: Int(q.jump), next: 0))
        case .goto where q.jump >= 0:
            frames[frames.count - 1] = WalkFrame(chain: Int(q.jump), next: 0)
        case .returnFromChain:
            frames.removeLast()
            if frames.isEmpty { applyPolicy(of: t, chain: start, hook: hook, path: &s) }
        case .accept:
            if t.name == .filter || t.name == .security { s.lastFilterDecision = .rule(RuleSite(table: t.name, chain: frames[frames.count - 1].chain, rule: ri)) }
            frames.removeAll()
        default:
            return false
        }
        return true
    }

    /// ` (set NAME not given: taken as empty, --lenient)` for each of the first `count` set
    /// matches of the rule whose set the host does not have (those evaluation consulted).
    /// Built only when such a set was consulted.
    static func missingSetNote(_ rule: PreparedRule, _ host: Host, count: Int) -> String {
        var names: [String] = []
        for case .set(let name, _, _, _) in rule.matches where host.ipsets.sets[name] == nil {
            if names.count == count { break }
            names.append(name)
        }
        return names.map { " (set \($0) not given: taken as empty, --lenient)" }.joined()
    }

    static func applyPolicy(of t: PreparedTable, chain start: Int, hook: Hook, path s: inout PathState) {
        let c = t.chains[start]
        let p = c.policy ?? .accept
        // An empty built-in chain with policy ACCEPT changes nothing; iptables-nft does not
        // even create it as a base chain, so `nft monitor trace` shows nothing for it either.
        if !(p == .accept && c.rules.isEmpty) {
            s.step(hook, .policy(table: t.name, chain: c.name), text: "policy \(p.rawValue)", "policy \(p.rawValue.lowercased())")
        }
        if t.name == .filter || t.name == .security { s.lastFilterDecision = .policy }
        if p == .drop {
            s.finish(.dropped, .policy, "policy DROP of \(t.name.rawValue) \(c.name)")
        }
    }
}
