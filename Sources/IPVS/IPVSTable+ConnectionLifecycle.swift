import Wire

/// Creating, binding, re-arming and expiring connection entries (ip_vs_conn.c).
extension IPVSTable {
    /// ip_vs_conn_new + ip_vs_bind_dest: a new entry starts in state NONE with a 3 s timeout,
    /// its flags take the server's conn_flags (always INACTIVE, NOOUTPUT unless Masq), and it is
    /// counted in `inactconns` (templates in `persistconns`).
    mutating func createEntry(key: ConnectionKey, service: Int32, server slot: Int32, destinationPort: UInt16, template: Bool,
                              hash: UInt64? = nil) -> Int32 {
        // Two fields, not a copy of the whole 96-byte server (pinned by MemoryLayoutTests).
        let si = store.serverIndex(service, slot)
        let forward = store.servers[si].forward
        let address = store.servers[si].address
        var flags: ConnectionFlags = [.inactive]
        if template { flags.insert(.template) }
        if forward != .masq { flags.insert(.noOutput) }
        let e = ConnectionEntry(key: key, destinationAddress: address, destinationPort: destinationPort, state: 0, flags: flags,
                                service: service, server: slot, control: -1, nControl: 0, timeout: 3,
                                expires: now + 3000, live: true, hashed: true)
        let index: Int32
        if let free = freeList.popLast() {
            index = free
            entries[Int(free)] = e
        } else {
            index = Int32(entries.count)
            entries.append(e)
        }
        let old = entries.withUnsafeBufferPointer { table.insert(key, index, hash: hash ?? key.hashValue64, entries: $0) }
        if old >= 0 { entries[Int(old)].hashed = false }  // the kernel's chain would find the new one first
        liveConnections += 1
        // bind(index), from the values just written: a new entry is always INACTIVE.
        store.bind(service, slot: slot, template: template, inactive: true)
        return index
    }

    /// ip_vs_bind_dest (see `ServiceStore.bind`).
    @inline(__always)
    mutating func bind(connection i: Int32) {
        let e = entries[Int(i)]
        store.bind(e.service, slot: e.server, template: e.isTemplate, inactive: e.flags.contains(.inactive))
    }

    /// ip_vs_unbind_dest (see `ServiceStore.unbind`).
    @inline(__always)
    mutating func unbind(connection i: Int32) {
        let e = entries[Int(i)]
        store.unbind(e.service, slot: e.server, template: e.isTemplate, inactive: e.flags.contains(.inactive))
    }

    /// ip_vs_conn_put: (re)arm the entry's timer with its current timeout.
    @inline(__always)
    mutating func rearm(connection i: Int32) {
        let timeout = Int64(entries[Int(i)].timeout) * 1000
        let t = now + timeout
        entries[Int(i)].expires = t
        timers.push(.init(expires: t, entry: i), timeout: timeout)
        if timers.count > 2 * liveConnections + 4096 { compactTimers() }
    }

    /// Drops stale timer records (re-armed or freed entries) once they outnumber live ones, so a
    /// long replay's heap stays proportional to the table.
    ///
    /// Duplicates go too: re-arming an entry while the clock stands still (a scenario's events
    /// all happen at one instant) pushes records with the same expiry, each of which would still
    /// look current. Keeping them made every later re-arm compact again, which was quadratic
    /// (20,000 connects of one client took 14.6 s). Only the first record of each entry is kept:
    /// it is the one that fires first (queues are scanned in the order `pop` breaks ties), and the
    /// others would be skipped when they surfaced, so the firing order is unchanged.
    ///
    /// - Complexity: O(*r*) for *r* records; afterwards at most one record per live entry, so the
    ///   next compaction is at least `liveConnections + 4096` re-arms away.
    mutating func compactTimers() {
        var kept: [Int32] = []
        kept.reserveCapacity(liveConnections)
        entries.withUnsafeMutableBufferPointer { e in
            timers.compact { r in
                let i = Int(r.entry)
                guard e[i].live, e[i].expires == r.expires, !e[i].timerKept else { return false }
                e[i].timerKept = true
                kept.append(r.entry)
                return true
            }
        }
        for i in kept { entries[Int(i)].timerKept = false }
    }

    /// ip_vs_conn_expire, as when the entry's timer fires: an entry that still controls others
    /// is postponed by 60 s *and its timeout becomes 60 s* (reference §6 quirk); otherwise it is
    /// unlinked, detached from its template and unbound from its server.
    public mutating func expire(connection i: Int32) {
        guard entries.indices.contains(Int(i)), entries[Int(i)].live else { return }
        if entries[Int(i)].nControl > 0 {
            entries[Int(i)].timeout = 60
            rearm(connection: i)
            return
        }
        let e = entries[Int(i)]
        if e.hashed { table.remove(index: i, hash: e.key.hashValue64) }
        if e.control >= 0 {
            entries[Int(e.control)].nControl -= 1
            entries[Int(i)].control = -1
        }
        unbind(connection: i)
        entries[Int(i)].live = false
        entries[Int(i)].hashed = false
        freeList.append(i)
        liveConnections -= 1
    }

    /// Advances the clock, firing every timer that falls due, in time order, each at its own time.
    public mutating func advance(byMilliseconds ms: Int64) {
        advance(to: now + ms)
    }

    public mutating func advance(bySeconds s: Int64) { advance(to: now + s * 1000) }

    public mutating func advance(to t: Int64) {
        while let top = timers.top, top.expires <= t {
            _ = timers.pop()
            let e = entries[Int(top.entry)]
            guard e.live, e.expires == top.expires else { continue }  // re-armed or gone
            if top.expires > now { now = top.expires }
            expire(connection: top.entry)
        }
        if t > now { now = t }
    }

    /// ip_vs_expire_nodest_conn_flush: delete every entry whose server is no longer AVAILABLE
    /// and that controls nothing, then its template if that now controls nothing.
    mutating func flushNoDestinationConnections() {
        for i in entries.indices {
            let e = entries[i]
            guard e.live, !store.server(e.service, e.server).available, e.nControl == 0 else { continue }
            let ct = e.control
            expire(connection: Int32(i))
            if ct >= 0, entries[Int(ct)].live, entries[Int(ct)].nControl == 0 { expire(connection: ct) }
        }
    }

    /// set_tcp_state / udp_state_transition for one packet, then the timer is re-armed.
    /// Reads and writes only the fields it needs (not the whole 96-byte entry).
    mutating func applyState(connection i: Int32, flags f: TCPFlags, direction: PacketDirection) {
        let ii = Int(i)
        if entries[ii].key.protocol == IPProtocol.tcp.rawValue {
            var flags = entries[ii].flags
            let control = entries[ii].control
            var inputOnly = false
            if flags.contains(.noOutput) {
                if direction == .output { flags.remove(.noOutput) } else { inputOnly = true }
            }
            let old = TCPState(rawValue: entries[ii].state)!
            let new = TCPStateTable.next(old, flags: f, direction: direction, inputOnly: inputOnly)
            var moved = 0
            if new != old {
                if !flags.contains(.inactive) && !new.isActive {
                    flags.insert(.inactive); moved = -1
                } else if flags.contains(.inactive) && new.isActive {
                    flags.remove(.inactive); moved = 1
                }
                if new == .established && control >= 0 && entries[Int(control)].isTemplate {
                    entries[Int(control)].state = TemplateState.assured.rawValue  // ip_vs_control_assure_ct
                }
            }
            entries[ii].flags = flags
            entries[ii].state = new.rawValue
            entries[ii].timeout = timeouts.tcp(new)
            if moved != 0 { store.moveActive(entries[ii].service, slot: entries[ii].server, by: Int32(moved)) }
        } else {
            entries[Int(i)].timeout = timeouts.udp
        }
        rearm(connection: i)
    }
}
