import Wire

/// How the director sends packets to a real server (`IP_VS_CONN_F_FWD_MASK` values, uapi ip_vs.h).
/// Anything but Masq sets `IP_VS_CONN_F_NOOUTPUT` on its connections, because the director never
/// sees the replies (ip_vs_ctl.c: __ip_vs_update_dest), so their TCP state runs on the
/// input-only table.
public enum ForwardMethod: UInt8, Sendable, CaseIterable {
    case masq = 0
    case local = 1
    case tunnel = 2
    case route = 3

    /// The `Forward` column of `ipvsadm -L` (ipvsadm.c: fwd_name).
    public var ipvsadmName: String {
        switch self {
        case .masq: "Masq"
        case .local: "Local"
        case .tunnel: "Tunnel"
        case .route: "Route"
        }
    }

    /// The `-S` switch (ipvsadm.c: fwd_switch): Local saves as `-g`, like Route.
    public var saveSwitch: String {
        switch self {
        case .masq: "-m"
        case .tunnel: "-i"
        case .local, .route: "-g"
        }
    }

    /// True when the director sees server→client packets (only NAT).
    public var seesReplies: Bool { self == .masq }
}

/// Traffic counters as `struct ip_vs_stats` keeps them (ip_vs_core.c: ip_vs_in_stats,
/// ip_vs_out_stats, ip_vs_conn_stats).
public struct IPVSStats: Sendable, Equatable {
    public var conns: UInt64 = 0
    public var inPackets: UInt64 = 0
    public var outPackets: UInt64 = 0
    public var inBytes: UInt64 = 0
    public var outBytes: UInt64 = 0

    public init(conns: UInt64 = 0, inPackets: UInt64 = 0, outPackets: UInt64 = 0, inBytes: UInt64 = 0, outBytes: UInt64 = 0) {
        self.conns = conns
        self.inPackets = inPackets
        self.outPackets = outPackets
        self.inBytes = inBytes
        self.outBytes = outBytes
    }
}

/// One real server (`struct ip_vs_dest`) of one virtual service.
///
/// A deleted server keeps its slot (the kernel moves it to the per-netns trash while
/// connections still reference it) with `available == false`; adding the same addr:port again
/// revives the same object with its live counters (ip_vs_ctl.c: ip_vs_trash_get_dest).
public struct RealServer: Sendable, Equatable {
    // Field order is layout: the address is kept as bits plus a family byte (an IPAddress is 17
    // bytes padded to 32) and the one-byte fields go last, so a server is 96 bytes, not 112,
    // and a two-server service's array spans a cache line less (pinned by MemoryLayoutTests).
    /// `address` as a number of its family's width.
    let addressBits: UInt128
    public internal(set) var stats = IPVSStats()
    public internal(set) var weight: Int32
    /// The latest non-zero weight (set on add even when 0); only mh reads it.
    public internal(set) var lastWeight: Int32
    public internal(set) var upperThreshold: UInt32
    public internal(set) var lowerThreshold: UInt32
    /// Settable package-wide so the benchmark can move the kernel-scan reference's picks.
    public package(set) var activeConns: Int32 = 0
    public internal(set) var inactiveConns: Int32 = 0
    public internal(set) var persistConns: Int32 = 0
    /// `ntohl(addr)` (or the IPv6 fold), precomputed for the hashing schedulers.
    let addressFold: UInt32
    public let port: UInt16
    /// 4 or 6.
    let addressFamily: UInt8
    public internal(set) var forward: ForwardMethod
    /// `IP_VS_DEST_F_OVERLOAD`.
    public internal(set) var overloaded = false
    /// `IP_VS_DEST_F_AVAILABLE`: in the service's list (not in the trash).
    public internal(set) var available = true

    init(address: IPAddress, port: UInt16, weight: Int32, upperThreshold: UInt32, lowerThreshold: UInt32, forward: ForwardMethod) {
        self.addressBits = address.bits
        self.addressFamily = address.family == .ipv4 ? 4 : 6
        self.port = port
        self.weight = weight
        self.lastWeight = weight
        self.upperThreshold = upperThreshold
        self.lowerThreshold = lowerThreshold
        self.forward = forward
        self.addressFold = KernelHash.fold(address)
    }

    public var address: IPAddress { IPAddress(family: addressFamily == 4 ? .ipv4 : .ipv6, bits: addressBits) }

    /// `ip_vs_dest_totalconns`: templates are not part of the total.
    @inlinable public var totalConns: Int32 { activeConns &+ inactiveConns }

    /// Schedulable: not OVERLOAD and weight > 0 (the test every scheduler makes).
    @inlinable public var usable: Bool { !overloaded && weight > 0 }

    /// `ip_vs_dest_conn_overhead`: `(active << 8) + inactive`, computed in a C `int`.
    @inlinable public var connOverhead: Int32 { (activeConns &<< 8) &+ inactiveConns }

    /// `addr:port` as ipvsadm prints it.
    public var endpoint: String { address.joined(port: port) }
}
