import Wire

/// A client→virtual-service packet as IPVS sees it in ip_vs_in_hook.
public struct IPVSPacket: Sendable {
    /// The packet's 5-tuple (Wire's one vocabulary); the fields below read and write it.
    public var flow: FlowKey
    public var tcpFlags: TCPFlags
    /// skb->mark, for fwmark services (0 = none).
    public var fwmark: UInt32
    /// IP packet length (skb->len) for the byte counters.
    public var length: UInt32

    public var `protocol`: IPProtocol {
        get { flow.proto }
        set { flow.proto = newValue }
    }
    public var source: IPAddress {
        get { flow.source }
        set { flow.source = newValue }
    }
    public var sourcePort: UInt16 {
        get { flow.sourcePort }
        set { flow.sourcePort = newValue }
    }
    public var destination: IPAddress {
        get { flow.destination }
        set { flow.destination = newValue }
    }
    public var destinationPort: UInt16 {
        get { flow.destinationPort }
        set { flow.destinationPort = newValue }
    }

    public init(flow: FlowKey, tcpFlags: TCPFlags = [], fwmark: UInt32 = 0, length: UInt32 = 40) {
        self.flow = flow
        self.tcpFlags = tcpFlags
        self.fwmark = fwmark
        self.length = length
    }

    public init(protocol: IPProtocol, source: IPAddress, sourcePort: UInt16, destination: IPAddress, destinationPort: UInt16,
                tcpFlags: TCPFlags = [], fwmark: UInt32 = 0, length: UInt32 = 40) {
        self.init(flow: FlowKey(source: source, sourcePort: sourcePort, destination: destination, destinationPort: destinationPort,
                                proto: `protocol`),
                  tcpFlags: tcpFlags, fwmark: fwmark, length: length)
    }

    public var connectionKey: ConnectionKey { ConnectionKey(flow) }
}

/// What ip_vs_in_hook did with a packet.
public enum InputVerdict: Equatable, Sendable {
    /// Forwarded along `connection`. `scheduled` is true when the scheduler chose the server
    /// for this packet; false when an entry pinned it (the connection's own entry, or for a new
    /// connection of a persistent service, a valid persistence template).
    case forwarded(connection: Int32, scheduled: Bool)
    /// No virtual service, or a TCP packet that may not create a connection (not a SYN, or a
    /// RST): IPVS leaves it alone (NF_ACCEPT) and it continues through the stack.
    case passed
    /// The scheduler found no server: ICMP port unreachable, then NF_DROP (ip_vs_leave).
    case noDestination
    /// An existing entry whose server was deleted, with `expire_nodest_conn=0`: NF_DROP.
    case dropped
}

extension IPVSTable {
    /// ip_vs_service_find: fwmark first, then <protocol, addr, port>, then the port-0 service.
    @inline(__always)
    public func findService(_ p: IPVSPacket) -> Int32 { findService(p, slotKeyHash: Self.serviceSlotKey(p).hashValue64) }

    /// `findService` with `serviceSlotKey(p).hashValue64` already computed.
    @inline(__always)
    func findService(_ p: IPVSPacket, slotKeyHash: UInt64) -> Int32 {
        let fam: UInt8 = p.destination.family == .ipv4 ? 4 : 6
        if p.fwmark != 0 {
            let i = findService(lookupKey: ConnectionKey(clientAddress: UInt128(p.fwmark), virtualAddress: 0, clientPort: 0, virtualPort: 0, protocol: 0, family: fam))
            if i >= 0 { return i }
        }
        let k = Self.serviceSlotKey(p)
        let i = findService(lookupKey: k, hash: slotKeyHash)
        if i >= 0 { return i }
        var k0 = k
        k0.virtualPort = 0
        return findService(lookupKey: k0)
    }

    /// is_new_conn_expected (ip_vs_core.c).
    func isNewConnExpected(_ e: ConnectionEntry) -> Bool {
        if e.control >= 0 { return false }
        guard e.key.protocol == IPProtocol.tcp.rawValue else { return false }
        let s = TCPState(rawValue: e.state)
        return s == .timeWait || s == .close
            || ((sysctls.connReuseMode & 2) != 0 && s == .finWait && e.flags.contains(.noOutput))
    }

    /// ip_vs_in_hook for one client→server packet: look the entry up, apply the SYN-reuse and
    /// dead-server rules, schedule when there is no entry, count the packet, run the state
    /// machine and re-arm the timer.
    ///
    /// Counter timing (reference §9.10): when a SYN reschedules an old entry, the kernel expires
    /// the old one through its timer, so its counters are still present while the new SYN is
    /// scheduled. kdp schedules first and then expires the old entry, before the new one is
    /// inserted.
    ///
    /// One packet on its own has no batch to hide its cache misses behind, so it overlaps its
    /// own: before the lookup it starts loading the connection slot (for a new connection a miss
    /// all the way to memory, at a million connections) and, for a packet that may create a
    /// connection, walks to its service's record and starts loading its servers and list or
    /// bucket, so these arrive while the slot does (the batch's stages at distance 0). Only
    /// prefetches and reads: the verdict is the same.
    public mutating func input(_ p: IPVSPacket) -> InputVerdict {
        let key = p.connectionKey
        let hash = key.hashValue64
        table.prefetch(hash: hash)
        guard p.protocol != .tcp || p.tcpFlags.contains(.syn) || sysctls.sloppyTCP else {
            return input(p, key: key, hash: hash, serviceHash: nil)
        }
        var a = Lookahead(key: key, hash: hash, serviceHash: Self.serviceSlotKey(p).hashValue64, service: -1)
        prefetchService(for: p, lookahead: &a)
        return input(p, key: key, hash: hash, serviceHash: a.serviceHash)
    }

    /// `input` with the connection key's hash (and possibly the service slot key's) computed.
    @inline(__always)
    mutating func input(_ p: IPVSPacket, key: ConnectionKey, hash: UInt64, serviceHash: UInt64?) -> InputVerdict {
        var cp = findConnection(key, hash: hash)
        let isTCP = p.protocol == .tcp
        let isSyn = isTCP && p.tcpFlags.contains(.syn)
        var pending: Int32 = -1
        if isSyn && cp >= 0 {
            let e = entries[Int(cp)]
            var resched = false
            if sysctls.expireNodestConn && store.server(e.service, e.server).weight == 0 {
                resched = true
            } else if sysctls.connReuseMode != 0 && isNewConnExpected(e) {
                resched = true  // without conntrack there is never an "old conntrack" to drop for
            }
            if resched {
                if e.nControl == 0 { pending = cp }
                cp = -1
            }
        }
        if cp >= 0 {
            let e = entries[Int(cp)]
            if !store.servers[store.serverIndex(e.service, e.server)].available {
                if sysctls.expireNodestConn {
                    pending = cp
                    cp = -1
                } else {
                    return .dropped
                }
            }
        }
        var scheduled = false
        if cp < 0 {
            if isTCP && (p.tcpFlags.contains(.rst) || (!isSyn && !sysctls.sloppyTCP)) {
                if pending >= 0 { expire(connection: pending) }
                return .passed
            }
            let svc = findService(p, slotKeyHash: serviceHash ?? Self.serviceSlotKey(p).hashValue64)
            if svc < 0 {
                if pending >= 0 { expire(connection: pending) }
                return .passed
            }
            cp = schedule(service: svc, packet: p, expiring: pending, hash: hash)
            if cp < 0 { return .noDestination }
            scheduled = schedulerRan
        }
        countIn(connection: cp, length: p.length)
        applyState(connection: cp, flags: p.tcpFlags, direction: .input)
        return .forwarded(connection: cp, scheduled: scheduled)
    }

    /// `input` over a batch, appending one verdict per packet to `verdicts`. The verdicts are
    /// exactly those of calling `input` on each packet in order; the batch only adds prefetches:
    /// `lookahead` packets ahead (at most 15) it hashes the packet and prefetches the
    /// connection-index and service-index slots, and half as far ahead (at least 1) the service's
    /// record, servers, list head and sh bucket (`prefetchService`), so the cache misses of
    /// several packets overlap (what a NIC driver's batch with prefetch does).
    public mutating func input(batch packets: ArraySlice<IPVSPacket>, into verdicts: inout [InputVerdict], lookahead: Int = 6) {
        let far = min(max(1, lookahead), Self.ringSize - 1)
        let near = max(1, far / 2)
        let start = packets.startIndex
        let end = packets.endIndex
        let m = Self.ringSize - 1
        // The hashes of each packet, computed once when it enters the window and used by every
        // prefetch stage and by `input`. An InlineArray lives on the stack: nothing is allocated,
        // and no closure captures (and copies) the table.
        var ring = InlineArray<16, Lookahead>(repeating: Lookahead(key: ConnectionKey.unused, hash: 0, serviceHash: 0, service: -1))
        var k = start
        while k < min(start + far, end) {
            ring[k & m] = lookaheadSlots(packets[k])
            k += 1
        }
        var i = start
        while i < end {
            if i + far < end { ring[(i + far) & m] = lookaheadSlots(packets[i + far]) }
            if i + near < end { prefetchService(for: packets[i + near], lookahead: &ring[(i + near) & m]) }
            let a = ring[i & m]
            verdicts.append(input(packets[i], key: a.key, hash: a.hash, serviceHash: a.serviceHash))
            i += 1
        }
    }

    static var ringSize: Int { 16 }

    /// What the batch knows about a packet ahead of processing it.
    struct Lookahead {
        var key: ConnectionKey
        var hash: UInt64
        var serviceHash: UInt64
        /// The service the service key's tag leads to (a guess for prefetching), or -1.
        var service: Int32
    }

    @inline(__always)
    static func serviceSlotKey(_ p: IPVSPacket) -> ConnectionKey {
        ConnectionKey(clientAddress: 0, virtualAddress: p.destination.bits, clientPort: 0, virtualPort: p.destinationPort,
                      protocol: p.protocol.rawValue, family: p.destination.family == .ipv4 ? 4 : 6)
    }

    /// Far ahead: hash the packet's keys and prefetch the connection and service slots.
    @inline(__always)
    func lookaheadSlots(_ p: IPVSPacket) -> Lookahead {
        let key = p.connectionKey
        let a = Lookahead(key: key, hash: key.hashValue64, serviceHash: Self.serviceSlotKey(p).hashValue64, service: -1)
        table.prefetch(hash: a.hash)
        store.index.prefetch(hash: a.serviceHash)
        return a
    }

    /// Half as far: the service slot (prefetched earlier) names the service and where its
    /// servers and buckets sit; prefetch its record, its counters, its first servers (two
    /// 96-byte servers span at most four lines), its list head and the packet's sh bucket, all
    /// at once: one wait for memory rather than two in a row (the record, then what it points at).
    @inline(__always)
    func prefetchService(for p: IPVSPacket, lookahead a: inout Lookahead) {
        guard let slot = store.index.guess(hash: a.serviceHash) else { return }
        let s = Int(slot.service)
        guard s < store.count else { return }
        a.service = slot.service
        store.records.withUnsafeBufferPointer { b in Prefetch.wholeElement(b, s) }
        store.stats.withUnsafeBufferPointer { b in Prefetch.wholeElement(b, s) }
        let base = Int(slot.base)
        store.servers.withUnsafeBufferPointer { b in
            guard let start = b.baseAddress, base < b.count else { return }
            Prefetch.lines(UnsafeRawPointer(start + base), bytes: min(b.count - base, 2) * MemoryLayout<RealServer>.stride)
        }
        store.order.withUnsafeBufferPointer { b in
            if base < b.count { Prefetch.element(b, base) }
        }
        if slot.bucketBase >= 0 {
            // The sh bucket of the packet's source address (the first one ip_vs_sh_get reads;
            // with sh-port, or for dh and mh, a guess that costs one prefetch).
            let bucket = Int(slot.bucketBase) + VirtualService.shHashKey(fold: KernelHash.fold(p.source), port: 0, offset: 0, hash: hashVariant)
            store.buckets.withUnsafeBufferPointer { b in
                if bucket < b.count { Prefetch.element(b, bucket) }
            }
        }
    }

    /// A server→client packet of a connection, as ip_vs_out_hook sees it: counted and run
    /// through the OUTPUT rows. Only NAT replies pass the director; for other methods this
    /// returns false and changes nothing.
    @discardableResult
    public mutating func output(connection i: Int32, flags: TCPFlags, length: UInt32 = 40) -> Bool {
        guard entries.indices.contains(Int(i)), entries[Int(i)].live else { return false }
        let e = entries[Int(i)]
        guard store.server(e.service, e.server).forward == .masq else { return false }
        if store.countOut(e.service, slot: e.server, length: length) {
            totalStats.outPackets += 1
            totalStats.outBytes += UInt64(length)
        }
        applyState(connection: i, flags: flags, direction: .output)
        return true
    }

    /// ip_vs_in_stats: only while the server is AVAILABLE.
    @inline(__always)
    mutating func countIn(connection i: Int32, length: UInt32) {
        let e = entries[Int(i)]
        guard store.countIn(e.service, slot: e.server, length: length) else { return }
        totalStats.inPackets += 1
        totalStats.inBytes += UInt64(length)
    }

    /// ip_vs_conn_stats, for a new connection on `slot` of service `si`.
    @inline(__always)
    mutating func countConn(service si: Int32, slot: Int32) {
        store.countConn(si, slot: slot)
        totalStats.conns += 1
    }

    /// ip_vs_schedule (and ip_vs_sched_persist for persistent services). Returns the new
    /// entry or -1. `expiring` is an old entry with the same key to expire once the scheduler has
    /// run (see `input`).
    mutating func schedule(service si: Int32, packet p: IPVSPacket, expiring: Int32, hash: UInt64? = nil) -> Int32 {
        let r = store.records[Int(si)]
        let input = ScheduleInput(sourceFold: KernelHash.fold(p.source), sourcePort: p.sourcePort,
                                  destinationFold: KernelHash.fold(p.destination))
        if r.has(.persistent) {
            return schedulePersistent(service: si, packet: p, input: input, expiring: expiring, hash: hash)
        }
        // A non-persistent service needs the packet's port to be the service's port.
        if r.fwmark == 0 && p.destinationPort != r.port {
            if expiring >= 0 { expire(connection: expiring) }
            return -1
        }
        let slot = store.schedule(si, input, hash: hashVariant)
        schedulerRan = true
        if expiring >= 0 { expire(connection: expiring) }
        if slot < 0 { return -1 }
        let serverPort = store.server(si, slot).port
        let cp = createEntry(key: p.connectionKey, service: si, server: slot,
                             destinationPort: serverPort != 0 ? serverPort : p.destinationPort, template: false, hash: hash)
        countConn(service: si, slot: slot)
        return cp
    }

    /// The template key for a persistent service (ip_vs_sched_persist).
    func templateKey(service c: ServiceConfig, packet p: IPVSPacket) -> ConnectionKey {
        let fam: UInt8 = p.source.family == .ipv4 ? 4 : 6
        let snet: UInt128
        switch p.source {
        case .v4(let a): snet = UInt128(a.value & c.netmask)
        case .v6(let a): snet = a.value & Prefix.mask(Int(min(c.netmask, 128)), .ipv6)
        }
        var proto = p.protocol.rawValue
        var vaddr = p.destination.bits
        var vport: UInt16 = 0
        if p.destinationPort == c.key.port {
            if c.key.port != 21 { vport = p.destinationPort }  // FTP templates keep port 0
        } else if c.key.fwmark != 0 {
            proto = 0  // IPPROTO_IP
            vaddr = UInt128(c.key.fwmark)
        }
        return ConnectionKey(clientAddress: snet, virtualAddress: vaddr, clientPort: 0, virtualPort: vport, protocol: proto, family: fam)
    }

    /// ip_vs_check_template: a template is used only while its server is AVAILABLE and not
    /// (`expire_quiescent_template` and weight 0). Otherwise it is invalidated: its ports become
    /// 0xffff so it never matches again, and it lives on (keeping `persistconns`) until it expires.
    mutating func checkTemplate(_ ct: Int32) -> Bool {
        let e = entries[Int(ct)]
        let s = store.server(e.service, e.server)
        if s.available && !(sysctls.expireQuiescentTemplate && s.weight == 0) { return true }
        if e.key.virtualPort != 0xFFFF {
            if e.hashed { table.remove(index: ct, hash: e.key.hashValue64) }
            entries[Int(ct)].key.virtualPort = 0xFFFF
            entries[Int(ct)].key.clientPort = 0
            entries[Int(ct)].destinationPort = 0xFFFF
            entries[Int(ct)].hashed = false
        }
        return false
    }

    /// ip_vs_sched_persist: reuse a valid template for the client's network, or schedule and
    /// create one; then create the connection under its control and re-arm the template.
    mutating func schedulePersistent(service si: Int32, packet p: IPVSPacket, input: ScheduleInput, expiring: Int32, hash: UInt64?) -> Int32 {
        let c = store.configs[Int(si)]
        let tkey = templateKey(service: c, packet: p)
        var ct = findConnection(tkey, hash: tkey.hashValue64)
        if ct >= 0 && !entries[Int(ct)].isTemplate { ct = -1 }
        let slot: Int32
        schedulerRan = false
        if ct < 0 || !checkTemplate(ct) {
            schedulerRan = true
            let picked = store.schedule(si, input, hash: hashVariant)
            if picked < 0 {
                if expiring >= 0 { expire(connection: expiring) }
                return -1
            }
            slot = picked
            let s = store.server(si, slot)
            ct = createEntry(key: tkey, service: si, server: slot, destinationPort: tkey.virtualPort == 0 ? 0 : s.port, template: true)
            entries[Int(ct)].timeout = c.timeout
        } else {
            slot = entries[Int(ct)].server
        }
        if expiring >= 0 { expire(connection: expiring) }
        let s = store.server(si, slot)
        var dport = p.destinationPort
        if dport == c.key.port && s.port != 0 { dport = s.port }
        let cp = createEntry(key: p.connectionKey, service: si, server: slot, destinationPort: dport, template: false, hash: hash)
        entries[Int(cp)].control = ct
        entries[Int(ct)].nControl += 1
        rearm(connection: ct)
        countConn(service: si, slot: slot)
        return cp
    }
}
