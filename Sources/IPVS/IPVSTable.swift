import Wire

/// The IPVS sysctls that change which server a packet reaches (ip_vs_ctl.c:
/// ip_vs_control_net_init_sysctl gives the defaults).
public struct IPVSSysctls: Sendable, Equatable {
    /// `conn_reuse_mode` (default 1): bit 1 reschedules a SYN that hits a TIME_WAIT/CLOSE entry,
    /// bit 2 also FIN_WAIT entries of non-NAT connections.
    public var connReuseMode: Int = 1
    /// `expire_nodest_conn` (default 0; kube-proxy sets 1).
    public var expireNodestConn = false
    /// `expire_quiescent_template` (default 0; kube-proxy sets 1).
    public var expireQuiescentTemplate = false
    /// `sloppy_tcp` (default 0): schedule TCP packets other than SYN.
    public var sloppyTCP = false

    public init(connReuseMode: Int = 1, expireNodestConn: Bool = false, expireQuiescentTemplate: Bool = false, sloppyTCP: Bool = false) {
        self.connReuseMode = connReuseMode
        self.expireNodestConn = expireNodestConn
        self.expireQuiescentTemplate = expireQuiescentTemplate
        self.sloppyTCP = sloppyTCP
    }
}

/// One network namespace's IPVS: virtual services, the connection table, timers and a clock.
///
/// All state is value-typed and index-addressed: services in a `ServiceStore` (a 64-byte record
/// each, their servers, lists and buckets in flat pools), servers by slot inside their service,
/// connections in a flat entry array reached through a `ConnectionIndex` (8-byte tagged slots).
public struct IPVSTable: Sendable {
    public var hashVariant: HashVariant
    public var sysctls: IPVSSysctls
    public var timeouts = IPVSTimeouts()
    /// `1 << conn_tab_bits` as ipvsadm's header prints it (default 12 bits).
    public var connectionTableSize = 4096

    /// The services as the packet path keeps them.
    var store = ServiceStore()
    /// The services as `VirtualService` snapshots, built on access (O(servers) each, allocating:
    /// for the control plane and output, never the packet path).
    public var services: ServiceList { ServiceList(store: store) }
    /// Connection entries by index; `live == false` marks a free index.
    public internal(set) var entries: [ConnectionEntry] = []
    var freeList: [Int32] = []
    var table: ConnectionIndex
    var timers = TimerQueues()
    /// The clock in milliseconds since the table was made.
    public internal(set) var now: Int64 = 0
    /// Totals over all services (`ipvs->tot_stats`).
    public internal(set) var totalStats = IPVSStats()
    /// Live entries (connections and templates).
    public internal(set) var liveConnections = 0
    /// Whether the last `schedule` call consulted the scheduler (false: a template pinned it).
    var schedulerRan = false

    public init(hashVariant: HashVariant = .hash32, sysctls: IPVSSysctls = IPVSSysctls(), expectedConnections: Int = 16) {
        self.hashVariant = hashVariant
        self.sysctls = sysctls
        self.table = ConnectionIndex(capacity: expectedConnections)
        entries.reserveCapacity(expectedConnections)
    }

    // MARK: services

    static func serviceLookupKey(_ key: ServiceKey) -> ConnectionKey {
        let fam: UInt8 = key.family == .ipv4 ? 4 : 6
        if key.fwmark != 0 {
            return ConnectionKey(clientAddress: UInt128(key.fwmark), virtualAddress: 0, clientPort: 0, virtualPort: 0, protocol: 0, family: fam)
        }
        return ConnectionKey(clientAddress: 0, virtualAddress: key.address.bits, clientPort: 0, virtualPort: key.port, protocol: key.protocol.rawValue, family: fam)
    }

    /// The index of the service with this key, or nil.
    public func serviceIndex(_ key: ServiceKey) -> Int32? {
        let i = findService(lookupKey: Self.serviceLookupKey(key))
        return i < 0 ? nil : i
    }

    /// The service whose `serviceLookupKey` is `k`, or -1.
    @inline(__always)
    func findService(lookupKey k: ConnectionKey, hash: UInt64? = nil) -> Int32 {
        store.records.withUnsafeBufferPointer { recs in
            store.index.find(hash: hash ?? k.hashValue64) { recs[Int($0)].lookupKey == k }
        }
    }

    /// `ipvsadm -A`: creates an empty service.
    @discardableResult
    public mutating func addService(_ config: ServiceConfig) throws(IPVSError) -> Int32 {
        if serviceIndex(config.key) != nil { throw .serviceExists }
        if config.key.fwmark == 0 && !config.key.protocol.hasPorts {
            throw .invalid("protocol \(config.key.protocol) cannot be a virtual service")
        }
        if config.key.family == .ipv6 && config.netmask > 128 { throw .invalid("IPv6 persistence prefix must be 0-128") }
        if config.key.family == .ipv4 && config.flags.contains(.persistent) {
            // A netmask must be contiguous ones (ipvsadm rejects anything else before the kernel sees it).
            let m = config.netmask
            if m != 0 && (~m &+ 1) & ~m != 0 { throw .invalid("illegal virtual server persistent netmask") }
        }
        let index = Int32(store.count)
        store.append(VirtualService(config: config, hash: hashVariant))
        return index
    }

    /// `ipvsadm -E`: changes scheduler, flags or persistence. A scheduler change re-runs
    /// `init_service` with every server already present (so wrr starts from `cw = mw`).
    public mutating func editService(_ index: Int32, config: ServiceConfig) throws(IPVSError) {
        guard store.records.indices.contains(Int(index)) else { throw .noSuchService }
        var svc = store.snapshot(Int(index))
        guard svc.config.key == config.key else { throw .invalid("cannot change a service's address") }
        let schedChanged = svc.config.scheduler != config.scheduler
        svc.config = config
        if schedChanged { svc.initScheduler(hash: hashVariant) }
        store.write(svc, at: Int(index))
    }

    /// `ipvsadm -a`. New servers go to the head of the list; a server still in the trash is
    /// revived with its counters (ip_vs_ctl.c: ip_vs_add_dest, ip_vs_trash_get_dest).
    public mutating func addDestination(service: Int32, _ d: DestinationConfig) throws(IPVSError) {
        guard store.records.indices.contains(Int(service)) else { throw .noSuchService }
        try Self.validate(d)
        var svc = store.snapshot(Int(service))
        if d.address.family != svc.key.family && svc.key.fwmark == 0 {
            throw .invalid("real server \(d.address) is not of the service's address family")
        }
        let slot: Int32
        if let existing = svc.slot(of: d.address, port: d.port) {
            if svc.servers[Int(existing)].available { throw .destinationExists }
            slot = existing
        } else {
            slot = Int32(svc.servers.count)
            svc.servers.append(RealServer(address: d.address, port: d.port, weight: d.weight, upperThreshold: d.upperThreshold,
                                          lowerThreshold: d.lowerThreshold, forward: d.forward))
        }
        Self.update(&svc.servers[Int(slot)], with: d, add: true)
        svc.order.insert(slot, at: 0)
        svc.reindex()
        svc.schedulerAdded(slot: slot)
        store.write(svc, at: Int(service))
    }

    /// `ipvsadm -e`: weight, thresholds and forwarding method; runs the scheduler's `upd_dest`.
    public mutating func editDestination(service: Int32, _ d: DestinationConfig) throws(IPVSError) {
        guard store.records.indices.contains(Int(service)) else { throw .noSuchService }
        try Self.validate(d)
        var svc = store.snapshot(Int(service))
        guard let slot = svc.slot(of: d.address, port: d.port), svc.servers[Int(slot)].available else { throw .noSuchDestination }
        Self.update(&svc.servers[Int(slot)], with: d, add: false)
        svc.schedulerUpdated(slot: slot)
        store.write(svc, at: Int(service))
    }

    /// `ipvsadm -d`: unlinks the server (its connections keep pointing at it, now not
    /// AVAILABLE). With `expire_nodest_conn` the kernel queues work one jiffy later that
    /// deletes every connection on an unavailable server (ip_vs_expire_nodest_conn_flush);
    /// kdp runs it at once.
    public mutating func deleteDestination(service: Int32, address: IPAddress, port: UInt16) throws(IPVSError) {
        guard store.records.indices.contains(Int(service)) else { throw .noSuchService }
        var svc = store.snapshot(Int(service))
        guard let slot = svc.slot(of: address, port: port), svc.servers[Int(slot)].available else { throw .noSuchDestination }
        let pos = Int(svc.position[Int(slot)])
        svc.servers[Int(slot)].available = false
        svc.order.remove(at: pos)
        svc.reindex()
        svc.schedulerDeleted(slot: slot, formerPosition: pos)
        store.write(svc, at: Int(service))
        if sysctls.expireNodestConn { flushNoDestinationConnections() }
    }

    static func validate(_ d: DestinationConfig) throws(IPVSError) {
        if d.weight < 0 { throw .outOfRange("weight") }
        if d.lowerThreshold > d.upperThreshold { throw .outOfRange("lower threshold above upper threshold") }
    }

    /// The field updates of __ip_vs_update_dest.
    static func update(_ s: inout RealServer, with d: DestinationConfig, add: Bool) {
        s.weight = d.weight
        if add || d.weight != 0 { s.lastWeight = d.weight }
        s.forward = d.forward
        s.available = true
        if d.upperThreshold == 0 || d.upperThreshold > s.upperThreshold { s.overloaded = false }
        s.upperThreshold = d.upperThreshold
        s.lowerThreshold = d.lowerThreshold
    }

    /// Makes room for `n` more connection entries up front (memory touched now, not on the
    /// packet path), as the kernel's slab cache would already hold it.
    public mutating func reserveConnections(_ n: Int) {
        guard n > 0 else { return }
        let dead = ConnectionEntry(key: ConnectionKey.unused, destinationAddress: .v4(.zero), destinationPort: 0, state: 0, flags: [],
                                   service: 0, server: 0, control: -1, nControl: 0, timeout: 0, expires: 0, live: false, hashed: false)
        let start = entries.count
        entries.reserveCapacity(start + n)
        let capacity = entries.capacity
        entries.withUnsafeMutableBufferPointer { b in
            // The spare capacity after the live entries is not touched yet.
            if let base = b.baseAddress {
                let spare = UnsafeMutableRawPointer(base + b.count)
                adviseHugePages(spare, bytes: (capacity - b.count) * MemoryLayout<ConnectionEntry>.stride)
            }
        }
        for _ in 0..<n { entries.append(dead) }
        freeList.reserveCapacity(freeList.count + n)
        // Popped from the end: hand out the lowest index first.
        for i in stride(from: start + n - 1, through: start, by: -1) { freeList.append(Int32(i)) }
        table.reserve(liveConnections + n)
        timers.reserve(n)
    }

    // MARK: queries

    /// The entry index for a key, or -1.
    @inline(__always)
    public func connectionIndex(_ key: ConnectionKey) -> Int32 { findConnection(key, hash: key.hashValue64) }

    /// ip_vs_conn_in_get: the hashed entry with this key, or -1.
    @inline(__always)
    func findConnection(_ key: ConnectionKey, hash: UInt64) -> Int32 {
        entries.withUnsafeBufferPointer { table.find(key, hash: hash, entries: $0) }
    }

    /// Live entries in index order.
    public var liveEntries: [ConnectionEntry] { entries.filter(\.live) }

    /// The real server an entry points at.
    public func server(of entry: ConnectionEntry) -> RealServer {
        store.server(entry.service, entry.server)
    }

    /// Sets a server's traffic counters (ipvsadm --stats input).
    mutating func setStats(service si: Int32, slot: Int32, _ stats: IPVSStats) {
        store.servers[store.serverIndex(si, slot)].stats = stats
    }

    /// Sets a service's traffic counters (ipvsadm --stats input).
    mutating func setStats(service si: Int32, _ stats: IPVSStats) {
        store.stats[Int(si)] = stats
    }
}

extension IPVSTable {
    /// A table holding only service `si` as it is now (config, servers, counters, scheduler
    /// state) and no connections. The data plane keeps one per service a trace touches, so a
    /// traced path copies a few small tables rather than a node's whole IPVS table on every
    /// packet. A connection or persistence template belongs to the one service that made it, so
    /// scheduling in the extract answers as the whole table would. Meant for tables as a sync
    /// leaves them, without connections: the service's connections are not carried over.
    public func extracting(service si: Int32) -> IPVSTable {
        var t = IPVSTable(hashVariant: hashVariant, sysctls: sysctls)
        t.timeouts = timeouts
        t.connectionTableSize = connectionTableSize
        t.now = now
        t.store.append(store.snapshot(Int(si)))
        return t
    }
}

/// The services of an `IPVSTable` as `VirtualService` snapshots: `table.services[i]` builds
/// service `i`'s snapshot from the flat store (allocating its arrays). A value: it holds the
/// store as it was when `services` was read.
public struct ServiceList: RandomAccessCollection, Sendable {
    let store: ServiceStore
    public var startIndex: Int { 0 }
    public var endIndex: Int { store.count }
    public subscript(i: Int) -> VirtualService { store.snapshot(i) }
}
