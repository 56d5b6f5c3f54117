import Wire

/// What the packet path reads of one virtual service, in one 64-byte record: the lookup key, the
/// scheduler and its flags, the rr/wrr state, and where the service's servers, list order and
/// bucket table sit in the store's flat pools (integer offsets, no references).
///
/// `MemoryLayoutTests` pins the 64 bytes: a new connection of an rr or sh service reads this
/// line, then the service's servers (contiguous in one pool) and its list (a dense pool of
/// `Int32`, 8 bytes for a two-server service) or one bucket, and nothing else of the service.
struct ServiceRecord: Sendable {
    /// The virtual address as a number of its family's width (0 for fwmark services).
    var addressBits: UInt128
    var fwmark: UInt32
    var port: UInt16
    var proto: UInt8
    /// 4 or 6.
    var family: UInt8
    var scheduler: SchedulerName
    /// The low byte of `ServiceFlags` (every flag the packet path tests).
    var flags: UInt8
    /// The service's first slot in `ServiceStore.servers`, `order` and `position`.
    var base: Int32
    /// Servers ever added (slots, the trash included).
    var slots: Int32
    /// Slots reserved at `base`; a service outgrowing them moves to the pools' end.
    var capacity: Int32
    /// Available servers, in `order[base ..< base + orderCount]`.
    var orderCount: Int32
    /// The service's first bucket in `ServiceStore.buckets` (sh, dh, mh), or -1.
    var bucketBase: Int32
    /// rr: the cursor; wrr: `cl` (list positions, -1 for the head).
    var cursor: Int32
    var wrrCw: Int32
    var wrrMw: Int32
    var wrrDi: Int32

    /// `IPVSTable.serviceLookupKey` of this service's key.
    @inline(__always)
    var lookupKey: ConnectionKey {
        if fwmark != 0 {
            return ConnectionKey(clientAddress: UInt128(fwmark), virtualAddress: 0, clientPort: 0, virtualPort: 0, protocol: 0, family: family)
        }
        return ConnectionKey(clientAddress: 0, virtualAddress: addressBits, clientPort: 0, virtualPort: port, protocol: proto, family: family)
    }

    @inline(__always)
    func has(_ f: ServiceFlags) -> Bool { UInt32(flags) & f.rawValue != 0 }
}

/// Every virtual service of one table, laid out for the packet path: one 64-byte
/// `ServiceRecord` per service, and flat pools addressed by integer offsets for the servers
/// (`RealServer`, 96 bytes, a service's servers contiguous), the list order and positions
/// (`Int32`) and the sh/dh/mh buckets (`Int32`). What only the control plane or ipvsadm reads
/// (the full config, the counters' totals, the lc/wlc/sed/nq trees) sits in per-service side
/// arrays.
///
/// `VirtualService`, with its own arrays, is the control plane's working form and the public
/// snapshot: `snapshot(_:)` builds one, `write(_:at:)` stores one back. ipvsadm edits go through
/// it (O(servers) each, as before); packets never do.
struct ServiceStore: Sendable {
    var records: [ServiceRecord] = []
    /// The services by `IPVSTable.serviceLookupKey`, with their pool offsets.
    var index = ServiceIndex()
    /// Each service's `base`, mirrored from its record in 4 bytes (40 KiB for 10,000 services,
    /// so it stays in cache): a packet of an existing connection reaches its server from the
    /// entry's (service, slot) without loading the service's record.
    var bases: [Int32] = []
    var configs: [ServiceConfig] = []
    var stats: [IPVSStats] = []
    var trees: [LeastLoadTree] = []
    /// Buckets allocated at each service's `bucketBase` (0 when none).
    var bucketCounts: [Int32] = []
    var servers: [RealServer] = []
    var order: [Int32] = []
    var position: [Int32] = []
    var buckets: [Int32] = []

    var count: Int { records.count }

    /// Adds a service (its servers, list and scheduler state as `v` holds them).
    mutating func append(_ v: VirtualService) {
        let cap = max(2, v.servers.count)
        let base = Int32(servers.count)
        grow(by: cap)
        let k = v.config.key
        records.append(ServiceRecord(addressBits: k.address.bits, fwmark: k.fwmark, port: k.port, proto: k.protocol.rawValue,
                                     family: k.family == .ipv4 ? 4 : 6, scheduler: v.config.scheduler, flags: 0, base: base, slots: 0,
                                     capacity: Int32(cap), orderCount: 0, bucketBase: -1, cursor: -1, wrrCw: 0, wrrMw: 0, wrrDi: 1))
        bases.append(base)
        index.insert(service: Int32(records.count - 1), hash: records[records.count - 1].lookupKey.hashValue64, base: base, bucketBase: -1)
        configs.append(v.config)
        stats.append(v.stats)
        trees.append(v.sched.tree)
        bucketCounts.append(0)
        write(v, at: records.count - 1)
    }

    /// Appends `n` unused slots to the server, order and position pools.
    private mutating func grow(by n: Int) {
        let filler = RealServer(address: .v4(.zero), port: 0, weight: 0, upperThreshold: 0, lowerThreshold: 0, forward: .masq)
        servers.append(contentsOf: repeatElement(filler, count: n))
        order.append(contentsOf: repeatElement(-1, count: n))
        position.append(contentsOf: repeatElement(-1, count: n))
    }

    /// Service `i` as a `VirtualService` with its own arrays. Allocates: off the packet path.
    func snapshot(_ i: Int) -> VirtualService {
        let r = records[i]
        let b = Int(r.base)
        var v = VirtualService(stored: configs[i])
        v.servers = Array(servers[b ..< b + Int(r.slots)])
        v.order = Array(order[b ..< b + Int(r.orderCount)])
        v.position = Array(position[b ..< b + Int(r.slots)])
        if r.scheduler == .wrr {
            v.sched.wrrCl = r.cursor
        } else {
            v.sched.rrCursor = r.cursor
        }
        v.sched.wrrCw = r.wrrCw
        v.sched.wrrMw = r.wrrMw
        v.sched.wrrDi = r.wrrDi
        if r.bucketBase >= 0 {
            let bb = Int(r.bucketBase)
            v.sched.table = Array(buckets[bb ..< bb + Int(bucketCounts[i])])
        }
        v.sched.tree = trees[i]
        v.stats = stats[i]
        return v
    }

    /// Stores `v` as service `i` (whose key it must keep), moving the service to the pools' end
    /// when it has outgrown its slots.
    mutating func write(_ v: VirtualService, at i: Int) {
        var r = records[i]
        let n = v.servers.count
        if n > Int(r.capacity) {
            let cap = max(n, 2 * Int(r.capacity))
            r.base = Int32(servers.count)
            r.capacity = Int32(cap)
            grow(by: cap)
        }
        let b = Int(r.base)
        for (k, s) in v.servers.enumerated() { servers[b + k] = s }
        for (k, p) in v.position.prefix(n).enumerated() { position[b + k] = p }
        for k in v.position.count ..< n { position[b + k] = -1 }
        for (k, s) in v.order.enumerated() { order[b + k] = s }
        r.slots = Int32(n)
        r.orderCount = Int32(v.order.count)
        r.scheduler = v.config.scheduler
        r.flags = UInt8(truncatingIfNeeded: v.config.flags.rawValue)
        r.cursor = v.config.scheduler == .wrr ? v.sched.wrrCl : v.sched.rrCursor
        r.wrrCw = v.sched.wrrCw
        r.wrrMw = v.sched.wrrMw
        r.wrrDi = v.sched.wrrDi
        let table = v.sched.table
        if table.isEmpty {
            r.bucketBase = -1
        } else {
            if r.bucketBase < 0 || Int(bucketCounts[i]) != table.count {
                r.bucketBase = Int32(buckets.count)
                bucketCounts[i] = Int32(table.count)
                buckets.append(contentsOf: table)
            } else {
                let bb = Int(r.bucketBase)
                for (k, s) in table.enumerated() { buckets[bb + k] = s }
            }
        }
        records[i] = r
        bases[i] = r.base
        index.update(service: Int32(i), hash: r.lookupKey.hashValue64, base: r.base, bucketBase: r.bucketBase)
        configs[i] = v.config
        stats[i] = v.stats
        trees[i] = v.sched.tree
    }

    /// The pool index of `slot` of service `si`.
    @inline(__always)
    func serverIndex(_ si: Int32, _ slot: Int32) -> Int { Int(bases[Int(si)]) &+ Int(slot) }

    @inline(__always)
    func server(_ si: Int32, _ slot: Int32) -> RealServer { servers[serverIndex(si, slot)] }
}
