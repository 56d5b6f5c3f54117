import Wire

/// The connection a packet belongs to while it is being traced (skb->_nfct and ctinfo).
struct ConnectionState: Sendable {
    enum Info: Sendable { case new, established, related, invalid, untracked }
    var info: Info = .invalid
    /// The working copy of the entry; nil for invalid and untracked packets.
    var entry: ConntrackEntry?
    /// Where the entry lives in the host's table once confirmed.
    var tableIndex: Int?
    var isReply = false
    /// Set by NOTRACK in raw before conntrack sees the packet.
    var notrack = false
    /// True once conntrack_in ran for this packet (loopback packets keep their entry).
    var looked = false
    /// The tracker deleted the entry while accepting this packet (an RST answering an
    /// unreplied connection): confirm must not put it back.
    var killed = false

    /// The ctstate bits `-m conntrack --ctstate` compares (xt_conntrack.c conntrack_mt).
    var stateBits: CtStateSet {
        switch info {
        case .untracked: return .untracked
        case .invalid: return .invalid
        case .new, .established, .related:
            var s: CtStateSet = info == .new ? .new : info == .established ? .established : .related
            if let e = entry {
                if e.sourceNAT { s.insert(.snat) }
                if e.destinationNAT { s.insert(.dnat) }
            }
            return s
        }
    }
}

/// Result of evaluating one rule's matches.
enum RuleMatch {
    case matched
    case notMatched
    /// A `statistic --mode random` at this match index must be branched on (all-paths mode).
    case branch(matchIndex: Int, threshold: UInt32, negated: Bool)
}

extension PathState {
    /// Evaluates `rule`'s matches from `start`, in kernel order (they are stored in that order).
    /// `forced` fixes the outcome of the statistic match at `start` when resuming after a branch.
    mutating func evaluate(_ rule: PreparedRule, from start: Int = 0, forced: Bool? = nil, allPaths: Bool) -> RuleMatch {
        var i = start
        let ms = rule.matches
        while i < ms.count {
            let ok: Bool
            if i == start, let forced {
                ok = forced
            } else if case .statisticRandom(let threshold, let negated) = ms[i] {
                if allPaths && threshold > 0 && threshold < 0x8000_0000 {
                    return .branch(matchIndex: i, threshold: threshold, negated: negated)
                }
                // xt_statistic.c: (get_random_u32() & 0x7FFFFFFF) < probability
                let draw = UInt32(truncatingIfNeeded: rng.next()) & 0x7FFF_FFFF
                ok = (draw < threshold) != negated
            } else {
                ok = test(ms[i])
            }
            if !ok { return .notMatched }
            i += 1
        }
        return .matched
    }

    /// Evaluates the matches `q` does not cover, from its chain's residual storage (a pointer, so
    /// that the walk's unretained chain is not retained for the call), in the rule's order; the
    /// covered ones are known to hold (`QuickRule.admits`). Same answers and side effects as
    /// `evaluate(_:allPaths:)` on the full list; a branch names the match's index in that list.
    mutating func evaluateResidual(_ q: QuickRule, residual: UnsafePointer<QuickRule.Residual>, allPaths: Bool) -> RuleMatch {
        if q.flags.contains(.statistic) {
            let threshold = q.statisticThreshold, negated = q.flags.contains(.statisticNegated)
            if allPaths && threshold > 0 && threshold < 0x8000_0000 {
                return .branch(matchIndex: Int(q.statisticIndex), threshold: threshold, negated: negated)
            }
            let draw = UInt32(truncatingIfNeeded: rng.next()) & 0x7FFF_FFFF
            return (draw < threshold) != negated ? .matched : .notMatched
        }
        var i = Int(q.residualStart)
        let end = i + Int(q.residualCount)
        if i == end { return .matched }
        while i < end {
            let r = residual + i
            let ok: Bool
            if case .statisticRandom(let threshold, let negated) = r.pointee.match {
                if allPaths && threshold > 0 && threshold < 0x8000_0000 {
                    return .branch(matchIndex: Int(r.pointee.index), threshold: threshold, negated: negated)
                }
                let draw = UInt32(truncatingIfNeeded: rng.next()) & 0x7FFF_FFFF
                ok = (draw < threshold) != negated
            } else {
                ok = test(r.pointee.match)
            }
            if !ok { return .notMatched }
            i += 1
        }
        return .matched
    }

    /// One match against the packet and host, with the kernel's side effects (recent lists,
    /// nth counters).
    mutating func test(_ m: Match) -> Bool {
        if constants != nil { noteConstants(m) }
        switch m {
        case .source(let ps, let neg):
            return ps.contains { $0.contains(packet.source) } != neg
        case .destination(let ps, let neg):
            return ps.contains { $0.contains(packet.destination) } != neg
        case .sourceMasked(let v, let mask, let neg):
            guard case .v4(let a) = packet.source else { return neg }
            return ((a.value & mask) == v) != neg
        case .destinationMasked(let v, let mask, let neg):
            guard case .v4(let a) = packet.destination else { return neg }
            return ((a.value & mask) == v) != neg
        case .proto(let p, let neg):
            guard let p else { return !neg }
            return (packet.proto == p) != neg
        case .inInterface(let pat, let neg):
            return pat.matches(packet.inInterface) != neg
        case .outInterface(let pat, let neg):
            return pat.matches(packet.outInterface) != neg
        case .fragment(let neg):
            return neg
        case .sourcePort(let p, let r, let neg):
            return packet.proto == p && (r.contains(packet.sourcePort) != neg)
        case .destinationPort(let p, let r, let neg):
            return packet.proto == p && (r.contains(packet.destinationPort) != neg)
        case .tcpFlags(let mask, let compare, let neg):
            consultedTCPFlags = true
            return packet.proto == .tcp && (((packet.tcpFlags & mask) == compare) != neg)
        case .multiport(let ranges, let side, let neg):
            guard packet.proto.hasPorts else { return false }
            let hit = ranges.contains { r in
                switch side {
                case .source: r.contains(packet.sourcePort)
                case .destination: r.contains(packet.destinationPort)
                case .either: r.contains(packet.sourcePort) || r.contains(packet.destinationPort)
                }
            }
            return hit != neg
        case .icmpType(let type, let code, let neg):
            guard packet.proto == .icmp || packet.proto == .icmpv6 else { return false }
            // icmp_type_code_match: type 0xFF ("any") matches every type.
            guard let type else { return !neg }
            return (packet.icmpType == type && code.contains(packet.icmpCode)) != neg
        case .comment:
            return true
        case .statisticRandom(let threshold, let neg):
            consultedState = true
            let draw = UInt32(truncatingIfNeeded: rng.next()) & 0x7FFF_FFFF
            return (draw < threshold) != neg
        case .statisticNth(let every, let initial, let neg, let id):
            // xt_statistic.c: nval = (oval == every) ? 0 : oval + 1; match when nval == 0.
            consultedState = true
            let oval = host.nthCounters[id] ?? initial
            let nval = oval == every ? 0 : oval + 1
            host.nthCounters[id] = nval
            return (nval == 0) != neg
        case .mark(let v, let mask, let neg):
            return ((packet.mark & mask) == v) != neg
        case .connmark(let v, let mask, let neg):
            guard let e = conn.entry else { return false }
            return ((e.mark & mask) == v) != neg
        case .ctState(let set, let neg):
            return !set.intersection(conn.stateBits).isEmpty != neg
        case .ctOrigSource(let ps, let neg):
            guard let e = conn.entry else { return false }
            return ps.contains { $0.contains(e.original.source) } != neg
        case .ctOrigDestination(let ps, let neg):
            guard let e = conn.entry else { return false }
            return ps.contains { $0.contains(e.original.destination) } != neg
        case .ctReplySource(let ps, let neg):
            guard let e = conn.entry else { return false }
            return ps.contains { $0.contains(e.reply.source) } != neg
        case .ctReplyDestination(let ps, let neg):
            guard let e = conn.entry else { return false }
            return ps.contains { $0.contains(e.reply.destination) } != neg
        case .ctOrigSourcePort(let r, let neg):
            guard let e = conn.entry else { return false }
            return r.contains(e.original.sourcePort) != neg
        case .ctOrigDestinationPort(let r, let neg):
            guard let e = conn.entry else { return false }
            return r.contains(e.original.destinationPort) != neg
        case .ctReplySourcePort(let r, let neg):
            guard let e = conn.entry else { return false }
            return r.contains(e.reply.sourcePort) != neg
        case .ctReplyDestinationPort(let r, let neg):
            guard let e = conn.entry else { return false }
            return r.contains(e.reply.destinationPort) != neg
        case .ctProto(let p, let neg):
            guard let e = conn.entry else { return false }
            guard let p else { return !neg }
            return (e.original.proto == p) != neg
        case .ctDirectionOriginal(let original):
            guard conn.entry != nil else { return false }
            return conn.isReply != original
        case .addrType(let src, let srcNeg, let dst, let dstNeg, let limitIn, let limitOut):
            // xt_addrtype.c addrtype_mt_v1: with --limit-iface-in only the input device's
            // addresses count (and likewise out).
            let dev = limitIn ? packet.inInterface : limitOut ? packet.outInterface : nil
            if let src, !src.intersection(host.addressType(packet.source, interface: dev)).isEmpty == srcNeg { return false }
            if let dst, !dst.intersection(host.addressType(packet.destination, interface: dev)).isEmpty == dstNeg { return false }
            return true
        case .recent(let r):
            consultedState = true
            let now = host.now  // read first, not during the lists' access (which then copied them)
            return host.recent.evaluate(r, packet: packet, now: now)
        case .set(let name, let dirs, let neg, let returnNomatch):
            guard let set = host.ipsets.sets[name] else {
                // A set the dump did not give (only with --lenient): taken as empty, and the
                // walk notes it on the step.
                missingSetsConsulted += 1
                return neg
            }
            let r = host.ipsets.test(set, packet, directions: dirs)
            let hit = r ?? returnNomatch
            return hit != neg
        case .physdev(let p):
            // xt_physdev.c: a packet that was not bridged matches only when every option
            // given is inverted.
            if p.isBridged == true || p.isIn == true || p.isOut == true { return false }
            if p.physIn != nil && !p.physInNegated { return false }
            if p.physOut != nil && !p.physOutNegated { return false }
            return true
        case .ipvs(let v):
            // xt_ipvs.c ipvs_mt: kdp's packets here never carry ipvs_property (the IPVS module
            // decides that in ipvs mode). `[!] --ipvs` alone compares the property; any other
            // option fails on a non-IPVS packet whatever its inversion.
            let others = v.vproto != nil || v.vaddr != nil || v.vport != nil || v.vdirOriginal != nil
            if !others { return v.ipvs == false }
            return false
        case .owner(let o):
            return o.matches(socket)
        case .alwaysTrue:
            return true
        case .never:
            return false
        }
    }
}

extension PathState {
    /// Records what `m` compares the packet with (`kdp verify`'s path condition); an ipset's
    /// members (a list:set's member sets in turn) are recorded by the set.
    mutating func noteConstants(_ m: Match) {
        constants!.note(m, packet: packet)
        guard case .set(let name, let dirs, _, _) = m, let set = host.ipsets.sets[name] else { return }
        let first = dirs.first.map { $0 == .src ? packet.source : packet.destination }
        constants!.sets.append(SetLookup(host: host.name, set: set, directions: dirs, firstAddress: first))
        for member in set.memberSets {
            if let s = host.ipsets.sets[member] { constants!.sets.append(SetLookup(host: host.name, set: s, directions: dirs, firstAddress: first)) }
        }
    }
}
