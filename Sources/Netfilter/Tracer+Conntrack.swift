import Wire

extension Tracer {
    /// nf_conntrack_in: an ICMP error is RELATED to the connection it quotes (or INVALID);
    /// otherwise find the packet's connection (an expired one is gone) and run the protocol
    /// tracker on it (TCP's state machine, UDP's and ICMP's timeouts), or start a new
    /// (unconfirmed) one when the table has room. The tracker's changes go into the table at
    /// once, as the kernel's do, whatever later hooks decide about the packet.
    func conntrackIn(_ s: inout PathState) {
        if s.conn.looked { return }
        s.conn.looked = true
        if s.conn.notrack {
            s.conn.info = .untracked
            s.step(s.entryHook, .conntrack, "untracked (notrack in raw)")
            return
        }
        let now = s.host.now
        if s.packet.isICMPError {
            relatedError(&s, now: now)
            return
        }
        let tuple = s.packet.tuple
        if let (i, isReply) = s.host.conntrack.find(tuple, now: now) {
            var e = s.host.conntrack[i]
            let before = e.tcpState
            var verdict = ConntrackVerdict.accepted
            if s.packet.proto == .tcp {
                // A confirmed entry is never in NONE in the kernel; one built by hand without
                // a state (unknown) is not run through the state machine.
                if e.tcpState != .none { verdict = e.tcpPacket(flags: s.packet.tcpFlags, reply: isReply, now: now) }
            } else {
                e.refresh(now: now)
            }
            switch verdict {
            case .invalid(let why):
                s.conn.info = .invalid
                if s.recordSteps {
                    let kind = TCPPacketIndex(flags: s.packet.tcpFlags)
                    s.step(s.entryHook, .conntrack, "invalid: \(why) (\(kind) in \(isReply ? "reply" : "original") direction, state \(before.name)) of \(e.original)")
                }
                return
            case .reopen:
                s.host.conntrack.remove(at: i)
                s.step(s.entryHook, .conntrack, "SYN reopens closed connection \(e.original) (\(before.name)): old entry deleted")
                newConnection(&s, tuple: tuple, now: now)
                return
            case .kill:
                s.host.conntrack.remove(at: i)
                s.conn.killed = true
            case .accepted, .ignored:
                break
            }
            // nf_conntrack_in sets IPS_SEEN_REPLY after the tracker accepted a reply.
            if isReply { e.seenReply = true }
            if !s.conn.killed { s.host.conntrack.replace(i, with: e) }
            s.conn.tableIndex = s.conn.killed ? nil : i
            s.conn.isReply = isReply
            s.conn.info = isReply || e.seenReply ? .established : .new
            s.conn.entry = e
            if s.recordSteps {
                var msg = "\(s.conn.info == .new ? "new (unreplied)" : "established") \(isReply ? "reply" : "original") of \(e.original)"
                // Accepted packets keep the step text traces always had; the new outcomes say so.
                switch verdict {
                case .ignored: msg += " (TCP \(TCPPacketIndex(flags: s.packet.tcpFlags)) ignored in \(before.name))"
                case .kill: msg += " (RST to an unreplied connection: entry deleted)"
                default: break
                }
                s.step(s.entryHook, .conntrack, msg)
            }
            return
        }
        newConnection(&s, tuple: tuple, now: now)
    }

    /// init_conntrack: room in the table first (__nf_conntrack_alloc, early_drop), then the
    /// protocol's check that the packet can start a connection (tcp_new, icmp's valid_new).
    private func newConnection(_ s: inout PathState, tuple: ConntrackTuple, now: Double) {
        if !s.host.conntrack.makeRoom(now: now) {
            let max = s.host.conntrack.maxEntries
            s.conn.info = .invalid
            s.step(s.entryHook, .conntrack, "drop: nf_conntrack: table full, dropping packet (nf_conntrack_max=\(max), every entry assured)")
            s.finish(.dropped, .conntrack, "conntrack table full (nf_conntrack_max=\(max))")
            return
        }
        var entry = ConntrackEntry(original: tuple)
        if s.packet.proto == .tcp {
            // nf_conntrack_proto_tcp.c tcp_new: from state NONE only SYN (to SYN_SENT) and,
            // with nf_conntrack_tcp_loose (default 1), a bare ACK (picked up mid-stream) start
            // a connection; SYN+ACK, FIN, RST and no flags are INVALID.
            if !entry.tcpNew(flags: s.packet.tcpFlags, now: now) {
                s.conn.info = .invalid
                s.step(s.entryHook, .conntrack, "invalid: TCP flags cannot start a connection")
                return
            }
        } else if (s.packet.proto == .icmp && !ConntrackTuple.icmpQueryTypes.contains(s.packet.icmpType))
            || (s.packet.proto == .icmpv6 && !ConntrackTuple.icmpv6QueryTypes.contains(s.packet.icmpType)) {
            // icmp_new refuses replies without a connection.
            s.conn.info = .invalid
            let type = s.packet.icmpType
            s.step(s.entryHook, .conntrack, "invalid: ICMP type \(type) cannot start a connection")
            return
        } else {
            entry.start(now: now)
        }
        s.conn.entry = entry
        s.conn.info = .new
        s.step(s.entryHook, .conntrack, "new connection")
    }

    /// nf_conntrack_inet_error: the quoted packet's tuple, inverted, is looked up; when it
    /// belongs to a connection whose tuple in that direction is addressed to the error's
    /// destination, the error is RELATED (in the reply direction when the quoted packet went
    /// the original way). The connection's state and timeout do not change. Anything else is
    /// INVALID.
    private func relatedError(_ s: inout PathState, now: Double) {
        let type = s.packet.icmpType
        guard let quoted = s.packet.quoted else {
            s.conn.info = .invalid
            s.step(s.entryHook, .conntrack, "invalid: ICMP type \(type) cannot start a connection")
            return
        }
        let inverted = quoted.inverted  // computed first: see `Host.conntrack`
        if let (i, isReply) = s.host.conntrack.find(inverted, now: now) {
            let e = s.host.conntrack[i]
            let tupleThere = isReply ? e.reply : e.original
            if tupleThere.destination == s.packet.destination {
                s.conn.entry = e
                s.conn.tableIndex = i
                s.conn.isReply = isReply
                s.conn.info = .related
                s.step(s.entryHook, .conntrack, "related \(isReply ? "reply" : "original") of \(e.original): ICMP error quoting \(quoted)")
                return
            }
            s.conn.info = .invalid
            let to = s.packet.destination
            s.step(s.entryHook, .conntrack, "invalid: ICMP error to \(to) quotes \(quoted), whose connection goes to \(tupleThere.destination)")
            return
        }
        s.conn.info = .invalid
        s.step(s.entryHook, .conntrack, "invalid: ICMP error quotes \(quoted), no tracked connection")
    }

    /// The nat hook (nf_nat_inet_fn): the first packet of a connection walks the nat chains once
    /// per manip type; every packet is then rewritten from the stored binding (nf_nat_packet).
    func nat(at hook: Hook, path s: inout PathState, forks work: inout [PathState], options o: TraceOptions) {
        let manip: Manip = hook == .prerouting || hook == .output ? .destination : .source
        guard let entry = s.conn.entry, s.conn.info != .invalid, s.conn.info != .untracked else { return }
        if s.conn.info == .related {
            // nf_nat_ipv4_fn: a RELATED ICMP error walks no nat chain; it gets
            // nf_nat_icmp_reply_translation (outer addresses and the quoted packet).
            natPacket(manip, at: hook, path: &s)
            return
        }
        let initialized = manip == .destination ? entry.destinationNATDone : entry.sourceNATDone
        if s.conn.info == .new && !s.conn.isReply && !initialized {
            if s.host.hasNFT {
                natWithNFT(at: hook, manip: manip, path: &s, forks: &work, options: o)
                if s.isFinished { return }
            } else if prepared.tables.withBuiltin(.nat, hook, { t, chain in walk(t, chain: chain, hook: hook, path: &s, forks: &work, options: o) }) {
                if s.isFinished { return }
            }
            let done = manip == .destination ? s.conn.entry!.destinationNATDone : s.conn.entry!.sourceNATDone
            if !done { nullBinding(manip, path: &s) }
        }
        natPacket(manip, at: hook, path: &s)
    }

    /// nf_nat_alloc_null_binding: no NAT rule matched. For the source this still makes the
    /// tuple unique: a source port already used by another connection is remapped.
    private func nullBinding(_ manip: Manip, path s: inout PathState) {
        guard var e = s.conn.entry else { return }
        if manip == .destination {
            e.destinationNATDone = true
            s.conn.entry = e
            return
        }
        let cur = e.reply.inverted
        let new = uniqueSource(cur, address: cur.source, ports: nil, randomAll: false, &s)
        e.reply = new.inverted
        e.sourceNAT = new != cur
        e.sourceNATDone = true
        s.conn.entry = e
        if new != cur {
            s.snat = SocketAddress(new.source, port: new.sourcePort)
            s.step(nil, .conntrack, rewrite: .sourcePortRemapped(from: cur.sourcePort, to: new.sourcePort),
                   "source port \(cur.sourcePort) already in use: remapped to \(new.sourcePort)")
        }
    }

    /// nf_nat_packet / nf_nat_manip_pkt: rewrite the packet when the connection's status says
    /// this manip applies in this direction (a reply gets the inverse translation).
    func natPacket(_ manip: Manip, at hook: Hook, path s: inout PathState) {
        guard let e = s.conn.entry else { return }
        let applies = s.conn.isReply ? (manip == .source ? e.destinationNAT : e.sourceNAT)
                                     : (manip == .source ? e.sourceNAT : e.destinationNAT)
        guard applies else { return }
        let target = (s.conn.isReply ? e.original : e.reply).inverted
        // Only this manip's address and port, and a quoted packet, can change: comparing
        // those, not a copy of the whole packet, spares a copy of its interface names and
        // quote box (and their release) at every NAT hook.
        let before = manip == .source ? (s.packet.source, s.packet.sourcePort) : (s.packet.destination, s.packet.destinationPort)
        let quotedBefore = s.packet.quoted
        if s.conn.info == .related, var q = s.packet.quoted {
            // nf_nat_icmp_reply_translation: the quoted packet gets the opposite manip from
            // the other direction's tuple (ct->tuplehash[!dir]); the outer header then
            // gets this manip as for any packet of the connection, ICMP having no ports.
            let other = s.conn.isReply ? e.original : e.reply
            if manip == .source {
                q.destination = other.destination
                q.destinationPort = other.destinationPort
            } else {
                q.source = other.source
                q.sourcePort = other.sourcePort
            }
            s.packet.quoted = q
        }
        if manip == .source {
            s.packet.source = target.source
            if s.packet.proto.hasPorts { s.packet.sourcePort = target.sourcePort }
        } else {
            s.packet.destination = target.destination
            if s.packet.proto.hasPorts { s.packet.destinationPort = target.destinationPort }
        }
        let after = manip == .source ? (s.packet.source, s.packet.sourcePort) : (s.packet.destination, s.packet.destinationPort)
        if before != after || quotedBefore != s.packet.quoted {
            let what = manip == .source ? "source" : "destination"
            let why = s.conn.isReply ? "reply un-NATed" : "NAT applied"
            if s.recordSteps {
                let (address, port) = manip == .source ? (s.packet.source, s.packet.sourcePort) : (s.packet.destination, s.packet.destinationPort)
                let rewrite = Rewrite.conntrackNAT(manip, reply: s.conn.isReply, address, port: port)
                s.step(hook, .natBinding, rewrite: rewrite,
                       "\(why) from conntrack: \(what) now \(address.joined(port: port))")
            }
        }
    }

    /// __nf_conntrack_confirm: the connection enters the table (both tuples findable). A new
    /// connection whose tuples clash with an existing one is dropped.
    func confirm(_ s: inout PathState) {
        guard let e = s.conn.entry, s.conn.info != .invalid, s.conn.info != .untracked, !s.conn.killed else { return }
        if let i = s.conn.tableIndex {
            if s.conn.info != .related { s.host.conntrack.replace(i, with: e) }
            return
        }
        let now = s.host.now
        // Each tuple looked up once (an array literal here was an allocation per new
        // connection): an expired holder is removed, a live one is a clash. Both removals
        // happen before the clash is reported, as when the clash test was a second lookup.
        let heldOriginal = s.host.conntrack.lookup(e.original)?.index, heldReply = s.host.conntrack.lookup(e.reply)?.index
        var clash = false
        func settle(_ held: Int?) {
            guard let held else { return }
            if s.host.conntrack[held].isExpired(at: now) { s.host.conntrack.remove(at: held) } else { clash = true }
        }
        settle(heldOriginal)
        settle(heldReply)
        if clash {
            s.step(nil, .conntrack, "drop: tuple clashes with an existing connection")
            s.finish(.dropped, .conntrack, "conntrack clash on confirm")
            return
        }
        s.conn.tableIndex = s.host.conntrack.insert(e)
        s.step(s.packet.outInterface == nil ? .input : .postrouting, .conntrack, "confirmed: original \(e.original), reply \(e.reply)")
    }

    // MARK: NAT targets

    /// DNAT, SNAT, MASQUERADE, REDIRECT: set up the binding (nf_nat_setup_info); the nat hook
    /// then rewrites the packet. Address ranges are a probabilistic choice: all-paths forks.
    func natTarget(_ target: Target, hook: Hook, rule: PreparedRule, site: RuleSite,
                   _ s: inout PathState, _ work: inout [PathState], _ o: TraceOptions) {
        guard var e = s.conn.entry else { return }
        let cur = e.reply.inverted
        func step(_ st: inout PathState, rewrite: @autoclosure () -> Rewrite? = nil, _ action: @autoclosure () -> String) {
            st.step(hook, .rule(reference(site)), text: rule.text, rewrite: rewrite(), action())
        }
        switch target {
        case .dnat(let range, let random, _):
            // Every address of the range when following all paths (at most 256), else one:
            // the only one, or one drawn as the kernel's nf_nat_range does.
            let entry = e
            func apply(_ st: inout PathState, _ addr: IPAddress, of count: Int) {
                var new = cur
                new.destination = addr
                if let pr = range.ports, cur.proto.hasPorts {
                    new.destinationPort = uniquePort(new, manip: .destination, range: pr, randomAll: random, &st)
                }
                var ee = entry
                ee.reply = new.inverted
                ee.destinationNAT = new != cur
                ee.destinationNATDone = true
                st.conn.entry = ee
                st.probability *= 1.0 / Double(count)
                let dnat = SocketAddress(new.destination, port: new.destinationPort)
                st.dnat = dnat
                step(&st, rewrite: .dnat(new.destination, port: new.destinationPort), "dnat to \(dnat)" + (count > 1 ? " (1 of \(count) addresses)" : ""))
            }
            guard let a = range.firstAddress else {
                apply(&s, cur.destination, of: 1)
                return
            }
            let n = range.addressCount
            guard o.allPaths && n > 1 && n <= 256 && work.count + Int(n) < o.maxPaths else {
                // One address: the path goes on in place, without a copy.
                let addr = n == 1 ? a : (a.advanced(by: UInt128(s.rng.next()) % n) ?? a)
                apply(&s, addr, of: 1)
                return
            }
            let base = s
            for k in 0..<Int(n) {
                var st = k == 0 ? s : base
                apply(&st, a.advanced(by: UInt128(k)) ?? a, of: Int(n))
                if k == 0 { s = st } else {
                    st.pc = s.pc - 1  // re-enter the nat hook: the binding is set, so it only rewrites
                    st.frames = []
                    work.append(st)
                }
            }
        case .redirect(let ports, let random):
            // nf_nat_redirect_ipv4: the primary address of the input device; 127.0.0.1 for
            // locally generated packets.
            var new = cur
            if hook == .output {
                new.destination = cur.destination.family == .ipv4 ? .v4(IPv4Address(127, 0, 0, 1)) : .v6(.loopback)
            } else {
                guard let a = s.host.interfaces.first(where: { $0.name == s.packet.inInterface })?.addresses.first(where: { $0.address.family == cur.destination.family })?.address else {
                    let dev = s.packet.inInterface ?? "?"
                    step(&s, "drop: no address on \(dev) to redirect to")
                    s.finish(.dropped, .rule(site), "REDIRECT found no address on the input interface")
                    return
                }
                new.destination = a
            }
            if let pr = ports { new.destinationPort = uniquePort(new, manip: .destination, range: pr, randomAll: random, &s) }
            e.reply = new.inverted
            e.destinationNAT = new != cur
            e.destinationNATDone = true
            s.conn.entry = e
            s.dnat = SocketAddress(new.destination, port: new.destinationPort)
            let to = s.dnat!
            step(&s, rewrite: .redirect(new.destination, port: new.destinationPort), "redirect to \(to)")
        case .snat(let range, let random, let randomFully, _):
            var address = cur.source
            if let a = range.firstAddress {
                let n = range.addressCount
                address = n == 1 ? a : (a.advanced(by: UInt128(s.rng.next()) % n) ?? a)
            }
            let new = uniqueSource(cur, address: address, ports: range.ports, randomAll: random || randomFully, &s)
            finishSource(new: new, current: cur, entry: &e, path: &s)
            step(&s, rewrite: .snat(new.source, port: new.sourcePort), "snat to \(new.source.joined(port: new.sourcePort))")
        case .masquerade(let ports, let random, let randomFully):
            // nf_nat_masquerade_ipv4: the address inet_select_addr picks on the output device
            // towards the next hop.
            let dev = s.packet.outInterface ?? ""
            let nextHop = s.host.route(to: s.packet.destination)?.nextHop ?? s.packet.destination
            guard let address = s.host.sourceAddress(device: dev, nextHop: nextHop) else {
                step(&s, "drop: \(dev) has no address to masquerade to")
                s.finish(.dropped, .rule(site), "MASQUERADE: \(dev) has no address")
                return
            }
            let new = uniqueSource(cur, address: address, ports: ports, randomAll: random || randomFully, &s)
            finishSource(new: new, current: cur, entry: &e, path: &s)
            step(&s, rewrite: .masquerade(new.source, port: new.sourcePort), "masquerade to \(new.source.joined(port: new.sourcePort))")
        default:
            break
        }
    }

    func finishSource(new: ConntrackTuple, current cur: ConntrackTuple, entry e: inout ConntrackEntry, path s: inout PathState) {
        e.reply = new.inverted
        e.sourceNAT = new != cur
        e.sourceNATDone = true
        s.conn.entry = e
        s.masqueradeMarked = true
        if new != cur { s.snat = SocketAddress(new.source, port: new.sourcePort) }
    }

    /// get_unique_tuple for the source (nf_nat_core.c): keep the original when it is already
    /// in range and unused; otherwise take the new address and keep the port when unused (or in
    /// the given range), else search the port range from a random offset.
    func uniqueSource(_ cur: ConntrackTuple, address: IPAddress, ports: PortRange?, randomAll: Bool,
                              _ s: inout PathState) -> ConntrackTuple {
        var new = cur
        new.source = address
        guard cur.proto.hasPorts else { return new }
        new.sourcePort = uniquePort(new, manip: .source, range: ports, randomAll: randomAll, &s)
        return new
    }

    /// The port choice of get_unique_tuple and nf_nat_l4proto_unique_tuple.
    private func uniquePort(_ tuple: ConntrackTuple, manip: Manip, range: PortRange?, randomAll: Bool,
                            _ s: inout PathState) -> UInt16 {
        // Reads the table in place: a closure capturing a copy of it retained every array of
        // the table and allocated a context, on every new connection.
        // The clock read first: read while the table's access was open, it made Swift copy the
        // table out of the host to end that access (every array retained and released).
        let now = s.host.now
        func taken(_ t: ConntrackTuple) -> Bool {
            let inverted = t.inverted  // computed first: see `Host.conntrack`
            return s.host.conntrack.isTaken(inverted, now: now)
        }
        let port = manip == .source ? tuple.sourcePort : tuple.destinationPort
        if !randomAll {
            if let r = range {
                if r.contains(port) && (r.lower == r.upper || !taken(tuple)) { return port }
            } else if !taken(tuple) {
                return port
            }
        }
        var min: UInt32, size: UInt32
        if let r = range {
            min = UInt32(r.lower); size = UInt32(r.upper) - UInt32(r.lower) + 1
        } else {
            if manip == .destination { return port }  // "If it's dst rewrite, can't change port"
            if port < 512 { min = 1; size = 511 } else if port < 1024 { min = 600; size = 424 } else { min = 1024; size = 64512 }
        }
        var off: UInt32 = (randomAll || manip == .source) ? UInt32(truncatingIfNeeded: s.rng.next()) & 0xFFFF : 0
        var candidate = tuple
        var last = UInt16(min)
        for _ in 0..<Swift.min(size, 128) {
            last = UInt16(min + off % size)
            if manip == .source { candidate.sourcePort = last } else { candidate.destinationPort = last }
            if !taken(candidate) { return last }
            off &+= 1
        }
        return last
    }
}
