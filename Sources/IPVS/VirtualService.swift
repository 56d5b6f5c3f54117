import Wire

/// The schedulers kdp models (reference §3). Raw values are the kernel's scheduler names.
public enum SchedulerName: String, Sendable, CaseIterable {
    case rr, wrr, lc, wlc, sed, nq, sh, dh, mh

    /// sh, dh and mh schedule from a bucket table (`sched.table`), not from the list.
    var usesBuckets: Bool {
        switch self {
        case .sh, .dh, .mh: true
        default: false
        }
    }

    /// lc, wlc, sed and nq pick a minimum over the list; kdp keeps a tournament tree for them.
    var usesLoadTree: Bool {
        switch self {
        case .lc, .wlc, .sed, .nq: true
        default: false
        }
    }
}

/// `svc->flags` bits (uapi ip_vs.h: IP_VS_SVC_F_*).
public struct ServiceFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let persistent = ServiceFlags(rawValue: 0x0001)
    public static let onePacket = ServiceFlags(rawValue: 0x0004)
    /// sh-fallback / mh-fallback / flag-1.
    public static let sched1 = ServiceFlags(rawValue: 0x0008)
    /// sh-port / mh-port / flag-2.
    public static let sched2 = ServiceFlags(rawValue: 0x0010)
    /// flag-3.
    public static let sched3 = ServiceFlags(rawValue: 0x0020)

    /// The `-b` names for the scheduler flags, in ipvsadm's order (ipvsadm.c: print_sched_flags).
    public func schedulerFlagNames(for scheduler: SchedulerName) -> [String] {
        let names: (String, String, String)
        switch scheduler {
        case .sh: names = ("sh-fallback", "sh-port", "")
        case .mh: names = ("mh-fallback", "mh-port", "")
        default: names = ("flag-1", "flag-2", "flag-3")
        }
        var out: [String] = []
        if contains(.sched1) { out.append(names.0) }
        if contains(.sched2) { out.append(names.1) }
        if contains(.sched3) { out.append(names.2.isEmpty ? "flag-3" : names.2) }
        return out
    }

    /// Parses one `-b` flag name (ipvsadm.c: parse_sched_flags accepts every spelling for
    /// every scheduler; the names only differ in print).
    public static func parseSchedulerFlag(_ name: String) -> ServiceFlags? {
        switch name {
        case "sh-fallback", "mh-fallback", "flag-1": .sched1
        case "sh-port", "mh-port", "flag-2": .sched2
        case "flag-3": .sched3
        default: nil
        }
    }
}

/// What identifies a virtual service: (protocol, address, port), or a firewall mark.
public struct ServiceKey: Hashable, Sendable {
    public var fwmark: UInt32
    public var family: IPFamily
    public var `protocol`: IPProtocol
    public var address: IPAddress
    public var port: UInt16

    public init(protocol: IPProtocol, address: IPAddress, port: UInt16) {
        self.fwmark = 0
        self.family = address.family
        self.protocol = `protocol`
        self.address = address
        self.port = port
    }

    public init(fwmark: UInt32, family: IPFamily = .ipv4) {
        self.fwmark = fwmark
        self.family = family
        self.protocol = IPProtocol(rawValue: 0)
        self.address = IPAddress(family: family, bits: 0)
        self.port = 0
    }
}

/// Settings of a virtual service, as `ipvsadm -A` gives them.
public struct ServiceConfig: Sendable, Equatable {
    public var key: ServiceKey
    public var scheduler: SchedulerName
    public var flags: ServiceFlags
    /// Persistence timeout in seconds (meaningful with `.persistent`).
    public var timeout: UInt32
    /// IPv4: the netmask as a host-order number (default 255.255.255.255); IPv6: a prefix length
    /// (default 128).
    public var netmask: UInt32

    public init(key: ServiceKey, scheduler: SchedulerName, flags: ServiceFlags = [], timeout: UInt32 = 0, netmask: UInt32? = nil) {
        self.key = key
        self.scheduler = scheduler
        self.flags = flags
        self.timeout = timeout
        self.netmask = netmask ?? (key.family == .ipv4 ? 0xFFFF_FFFF : 128)
    }
}

/// Settings of a real server, as `ipvsadm -a/-e` gives them.
public struct DestinationConfig: Sendable, Equatable {
    public var address: IPAddress
    public var port: UInt16
    public var weight: Int32
    public var upperThreshold: UInt32
    public var lowerThreshold: UInt32
    public var forward: ForwardMethod

    public init(address: IPAddress, port: UInt16, weight: Int32 = 1, upperThreshold: UInt32 = 0, lowerThreshold: UInt32 = 0, forward: ForwardMethod = .masq) {
        self.address = address
        self.port = port
        self.weight = weight
        self.upperThreshold = upperThreshold
        self.lowerThreshold = lowerThreshold
        self.forward = forward
    }
}

/// Per-scheduler state (`svc->sched_data`). One plain struct rather than a protocol existential
/// so the hot path is a switch over `SchedulerName` with no dynamic dispatch.
struct SchedulerState: Sendable {
    /// rr: the list position of the last pick, or -1 for the list head (ip_vs_rr.c: sched_data).
    var rrCursor: Int32 = -1
    /// wrr (ip_vs_wrr.c: struct ip_vs_wrr_mark): cl as a list position (-1 = head), cw, mw, di.
    var wrrCl: Int32 = -1
    var wrrCw: Int32 = 0
    var wrrMw: Int32 = 0
    var wrrDi: Int32 = 1
    /// sh (256), dh (256) or mh (M) buckets holding slots, -1 for NULL.
    var table: [Int32] = []
    /// lc / wlc / sed / nq.
    var tree = LeastLoadTree()
}

/// One virtual service (`struct ip_vs_service`) with its destination list in kernel order.
public struct VirtualService: Sendable {
    public internal(set) var config: ServiceConfig
    /// Every server ever added, by slot; deleted ones stay with `available == false` (the trash).
    public internal(set) var servers: [RealServer] = []
    /// `svc->destinations`, head first: slots of the available servers. New servers go to the
    /// head (ip_vs_ctl.c: __ip_vs_update_dest → list_add_rcu).
    public internal(set) var order: [Int32] = []
    /// slot → index in `order`, or -1.
    var position: [Int32] = []
    var sched = SchedulerState()
    public internal(set) var stats = IPVSStats()

    public var key: ServiceKey { config.key }
    public var scheduler: SchedulerName { config.scheduler }
    public var flags: ServiceFlags { config.flags }

    /// The available servers in kernel list order (what `ipvsadm -Ln --nosort` shows).
    public var destinations: [RealServer] { order.map { servers[Int($0)] } }

    init(config: ServiceConfig, hash: HashVariant) {
        self.config = config
        initScheduler(hash: hash)
    }

    /// An empty shell for `ServiceStore.snapshot`, which fills in the rest (no scheduler init).
    init(stored config: ServiceConfig) {
        self.config = config
    }

    /// The slot of the server with this address and port (available or in the trash).
    public func slot(of address: IPAddress, port: UInt16) -> Int32? {
        for (i, s) in servers.enumerated() where s.port == port && s.address == address { return Int32(i) }
        return nil
    }

    mutating func reindex() {
        if position.count < servers.count { position += Array(repeating: -1, count: servers.count - position.count) }
        for i in position.indices { position[i] = -1 }
        for (p, s) in order.enumerated() { position[Int(s)] = Int32(p) }
    }

    /// Installs a rebuilt sh/dh/mh bucket table.
    mutating func setBuckets(_ table: [Int32]) {
        sched.table = table
    }

    // MARK: scheduler hooks (ip_vs_sched.c and each ip_vs_*.c)

    /// `init_service`.
    mutating func initScheduler(hash: HashVariant) {
        sched = SchedulerState()
        switch config.scheduler {
        case .rr: sched.rrCursor = -1
        case .wrr: wrrInit()
        case .lc, .wlc, .sed, .nq: rebuildTree()
        case .sh: shReassign()
        case .dh: dhReassign()
        case .mh: mhReassign()
        }
    }

    /// `add_dest`, called after the server was linked at the head.
    mutating func schedulerAdded(slot: Int32) {
        switch config.scheduler {
        case .rr:
            // No add hook in the kernel: the cursor keeps pointing at the same server, whose
            // position moved one down; the new head is reached only when the scan wraps.
            if sched.rrCursor >= 0 { sched.rrCursor += 1 }
        case .wrr: wrrDestChanged()
        case .lc, .wlc, .sed, .nq: rebuildTree()
        case .sh: shReassign()
        case .dh: dhReassign()
        case .mh: mhReassign()
        }
    }

    /// `del_dest`, called after the server was unlinked. `formerPosition` is where it sat.
    mutating func schedulerDeleted(slot: Int32, formerPosition: Int) {
        switch config.scheduler {
        case .rr:
            // ip_vs_rr_del_dest: a cursor on the deleted server moves to its predecessor
            // (position - 1, or the head); a cursor below it shifts up with the list.
            if sched.rrCursor >= Int32(formerPosition) { sched.rrCursor -= 1 }
        case .wrr: wrrDestChanged()
        case .lc, .wlc, .sed, .nq: rebuildTree()
        case .sh: shReassign()
        case .dh: dhReassign()
        case .mh: mhReassign()
        }
    }

    /// `upd_dest` (weight, thresholds or forwarding method edited).
    mutating func schedulerUpdated(slot: Int32) {
        switch config.scheduler {
        case .rr: break
        case .wrr: wrrDestChanged()
        case .lc, .wlc, .sed, .nq: treeUpdate(slot: slot)
        case .sh: shReassign()
        case .dh: break  // ip_vs_dh.c has no upd_dest; its table ignores weights anyway
        case .mh: mhReassign()
        }
    }
}

/// What a scheduler may read from the packet: the (folded) source address and port for sh/mh,
/// the destination address for dh.
public struct ScheduleInput: Sendable {
    public var sourceFold: UInt32
    public var sourcePort: UInt16
    public var destinationFold: UInt32

    public init(sourceFold: UInt32, sourcePort: UInt16, destinationFold: UInt32) {
        self.sourceFold = sourceFold
        self.sourcePort = sourcePort
        self.destinationFold = destinationFold
    }

    public init(source: IPAddress, sourcePort: UInt16, destination: IPAddress) {
        self.init(sourceFold: KernelHash.fold(source), sourcePort: sourcePort, destinationFold: KernelHash.fold(destination))
    }
}
