/// The schedulers and counters as packets run them, on the flat store: the same loops as
/// ip_vs_rr.c, ip_vs_wrr.c, ip_vs_sh.c, ip_vs_dh.c, ip_vs_mh.c and the lc-family tree, reading a
/// service's record, its servers' pool slots and its list or buckets by integer offset.
/// The control-plane hooks (init, add/del/upd dest, table rebuilds) stay on `VirtualService`.
extension ServiceStore {
    /// `sched->schedule` for service `si`. Returns a slot or -1 (NULL).
    @inline(__always)
    mutating func schedule(_ si: Int32, _ input: ScheduleInput, hash: HashVariant) -> Int32 {
        switch records[Int(si)].scheduler {
        case .rr: return rrSchedule(si)
        case .wrr: return wrrSchedule(si)
        case .lc, .wlc, .sed, .nq: return treePick(si)
        case .sh: return shSchedule(si, input, hash: hash)
        case .dh: return dhSchedule(si, input, hash: hash)
        case .mh: return mhSchedule(si, input)
        }
    }

    /// ip_vs_rr_schedule: scan from the element after the cursor to the end, then (unless the
    /// cursor is the head) wrap and continue up to and including the cursor. The first usable
    /// server wins and becomes the cursor; on failure the cursor stays. The cursor is a list
    /// position (-1 = head), adjusted when the list changes (`VirtualService.schedulerAdded`,
    /// `schedulerDeleted`), so this reads only the list and the servers.
    @inline(__always)
    mutating func rrSchedule(_ si: Int32) -> Int32 {
        let r = records[Int(si)]
        let b = Int(r.base)
        let start = Int(r.cursor)
        var from = start + 1
        var pass = 0
        let n = Int(r.orderCount)
        repeat {
            var pos = from
            while pos < n {
                let d = order[b &+ pos]
                if servers[b &+ Int(d)].usable {
                    records[Int(si)].cursor = Int32(pos)
                    return d
                }
                if pos == start { return -1 }
                pos += 1
            }
            pass += 1
            from = 0
        } while pass < 2 && start >= 0
        return -1
    }

    /// ip_vs_wrr_schedule, including the `last_pass` / `restarted` / `stop` bookkeeping.
    mutating func wrrSchedule(_ si: Int32) -> Int32 {
        var r = records[Int(si)]
        defer { records[Int(si)] = r }
        let b = Int(r.base)
        var dest = Int(r.cursor)
        if r.wrrMw == 0 { return -1 }
        let last = dest
        var stop = -2
        var lastPass = false
        var restarted = false
        let n = Int(r.orderCount)
        while true {
            var pos = dest + 1
            while pos < n {
                let d = order[b + pos]
                let s = servers[b + Int(d)]
                if !s.overloaded && s.weight >= r.wrrCw {
                    r.cursor = Int32(pos)
                    return d
                }
                if pos == stop {
                    r.cursor = Int32(pos)
                    return -1
                }
                pos += 1
            }
            dest = -1
            r.wrrCw -= r.wrrDi
            if r.wrrCw <= 0 {
                r.wrrCw = r.wrrMw
                if lastPass || last < 0 {
                    r.cursor = -1
                    return -1
                }
                restarted = true
            }
            lastPass = r.wrrCw <= r.wrrDi
            if lastPass && restarted && last >= 0 { stop = last }
        }
    }

    /// ip_vs_sh_schedule → ip_vs_sh_get / ip_vs_sh_get_fallback.
    @inline(__always)
    func shSchedule(_ si: Int32, _ input: ScheduleInput, hash: HashVariant) -> Int32 {
        let r = records[Int(si)]
        guard r.bucketBase >= 0 else { return -1 }
        let b = Int(r.base), bb = Int(r.bucketBase)
        let port: UInt16 = r.has(.sched2) ? input.sourcePort : 0
        let fold = input.sourceFold
        let ihash = VirtualService.shHashKey(fold: fold, port: port, offset: 0, hash: hash)
        let d = buckets[bb + ihash]
        if d < 0 { return -1 }
        if servers[b + Int(d)].usable { return d }
        guard r.has(.sched1) else { return -1 }
        for offset in 0..<256 {
            let roffset = UInt32((offset + ihash) & 255)
            let h = VirtualService.shHashKey(fold: fold, port: port, offset: roffset, hash: hash)
            let e = buckets[bb + h]
            if e < 0 { return -1 }
            if servers[b + Int(e)].usable { return e }
        }
        return -1
    }

    /// ip_vs_dh_schedule: the bucket of the packet's destination address, no fallback.
    func dhSchedule(_ si: Int32, _ input: ScheduleInput, hash: HashVariant) -> Int32 {
        let r = records[Int(si)]
        guard r.bucketBase >= 0 else { return -1 }
        let d = buckets[Int(r.bucketBase) + VirtualService.dhHashKey(fold: input.destinationFold, hash: hash)]
        if d < 0 { return -1 }
        let s = servers[Int(r.base) + Int(d)]
        return s.available && s.usable ? d : -1
    }

    /// ip_vs_mh_schedule → ip_vs_mh_get / ip_vs_mh_get_fallback.
    func mhSchedule(_ si: Int32, _ input: ScheduleInput) -> Int32 {
        let r = records[Int(si)]
        guard r.bucketBase >= 0 else { return -1 }
        let b = Int(r.base), bb = Int(r.bucketBase)
        let m = UInt32(HashTableSize.mh)
        let port: UInt16 = r.has(.sched2) ? input.sourcePort : 0
        let fold = input.sourceFold
        let ihash = VirtualService.mhHashKey(fold: fold, port: port, offset: 0, key: MaglevKeys.hash1) % m
        let d = buckets[bb + Int(ihash)]
        if d < 0 { return -1 }
        if servers[b + Int(d)].usable { return d }
        guard r.has(.sched1) else { return -1 }
        for offset in 0..<m {
            let roffset = (offset + ihash) % m
            let h = VirtualService.mhHashKey(fold: fold, port: port, offset: roffset, key: MaglevKeys.hash1) % m
            let e = buckets[bb + Int(h)]
            if e < 0 { return -1 }
            if servers[b + Int(e)].usable { return e }
        }
        return -1
    }

    /// The lc/wlc/sed/nq tree's root (see `LeastLoadTree`).
    func treePick(_ si: Int32) -> Int32 {
        let nodes = trees[Int(si)].nodes
        guard nodes.count > 1 else { return -1 }
        let root = nodes[1]
        let p = records[Int(si)].scheduler == .nq && root.idle >= 0 ? root.idle : root.pos
        return p < 0 ? -1 : order[Int(records[Int(si)].base) + Int(p)]
    }

    /// Repairs the tree path above one server after its counters changed.
    mutating func treeUpdate(_ si: Int32, slot: Int32) {
        let r = records[Int(si)]
        guard r.scheduler.usesLoadTree else { return }
        let p = Int(position[Int(r.base) + Int(slot)])
        guard p >= 0 else { return }
        let leaf = LeastLoadTree.leaf(servers[Int(r.base) + Int(slot)], position: p, scheduler: r.scheduler)
        trees[Int(si)].update(position: p, leaf: leaf)
    }

    // MARK: counters (VirtualService+Accounting, per packet)

    /// ip_vs_bind_dest: count the entry, then set OVERLOAD at the upper threshold.
    @inline(__always)
    mutating func bind(_ si: Int32, slot: Int32, template: Bool, inactive: Bool) {
        let i = serverIndex(si, slot)
        if template {
            servers[i].persistConns += 1
        } else if inactive {
            servers[i].inactiveConns += 1
        } else {
            servers[i].activeConns += 1
        }
        let u = servers[i].upperThreshold
        if u != 0 && Int64(servers[i].totalConns) >= Int64(u) { servers[i].overloaded = true }
        if records[Int(si)].scheduler.usesLoadTree { treeUpdate(si, slot: slot) }
    }

    /// ip_vs_unbind_dest: uncount, then clear OVERLOAD below the lower threshold (or below 3/4
    /// of the upper one when there is no lower threshold, or always when there is neither).
    mutating func unbind(_ si: Int32, slot: Int32, template: Bool, inactive: Bool) {
        let i = serverIndex(si, slot)
        if template {
            servers[i].persistConns -= 1
        } else if inactive {
            servers[i].inactiveConns -= 1
        } else {
            servers[i].activeConns -= 1
        }
        let total = Int64(servers[i].totalConns)
        let l = servers[i].lowerThreshold, u = servers[i].upperThreshold
        if l != 0 {
            if total < Int64(l) { servers[i].overloaded = false }
        } else if u != 0 {
            if total * 4 < Int64(u) * 3 { servers[i].overloaded = false }
        } else {
            servers[i].overloaded = false
        }
        if records[Int(si)].scheduler.usesLoadTree { treeUpdate(si, slot: slot) }
    }

    /// set_tcp_state's move between `inactconns` and `activeconns` (+1: to active).
    @inline(__always)
    mutating func moveActive(_ si: Int32, slot: Int32, by delta: Int32) {
        let i = serverIndex(si, slot)
        servers[i].activeConns += delta
        servers[i].inactiveConns -= delta
        if records[Int(si)].scheduler.usesLoadTree { treeUpdate(si, slot: slot) }
    }

    /// ip_vs_in_stats for the server and the service; false when the server is not AVAILABLE.
    @inline(__always)
    mutating func countIn(_ si: Int32, slot: Int32, length: UInt32) -> Bool {
        let i = serverIndex(si, slot)
        guard servers[i].available else { return false }
        servers[i].stats.inPackets += 1
        servers[i].stats.inBytes += UInt64(length)
        stats[Int(si)].inPackets += 1
        stats[Int(si)].inBytes += UInt64(length)
        return true
    }

    /// ip_vs_out_stats for the server and the service.
    mutating func countOut(_ si: Int32, slot: Int32, length: UInt32) -> Bool {
        let i = serverIndex(si, slot)
        guard servers[i].available else { return false }
        servers[i].stats.outPackets += 1
        servers[i].stats.outBytes += UInt64(length)
        stats[Int(si)].outPackets += 1
        stats[Int(si)].outBytes += UInt64(length)
        return true
    }

    /// ip_vs_conn_stats.
    @inline(__always)
    mutating func countConn(_ si: Int32, slot: Int32) {
        servers[serverIndex(si, slot)].stats.conns += 1
        stats[Int(si)].conns += 1
    }
}
