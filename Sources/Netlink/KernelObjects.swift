import Wire

/// Interface flags (`IFF_*`, `ip link`'s `<UP,LOWER_UP>`).
public struct LinkFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let up = LinkFlags(rawValue: 0x1)
    public static let broadcast = LinkFlags(rawValue: 0x2)
    public static let loopback = LinkFlags(rawValue: 0x8)
    public static let pointToPoint = LinkFlags(rawValue: 0x10)
    public static let running = LinkFlags(rawValue: 0x40)
    public static let noARP = LinkFlags(rawValue: 0x80)
    public static let promiscuous = LinkFlags(rawValue: 0x100)
    public static let multicast = LinkFlags(rawValue: 0x1000)
    public static let lowerUp = LinkFlags(rawValue: 0x10000)

    /// Every flag bit by the names `ip link` prints, in its order; RUNNING, which `ip` leaves
    /// out, last. Every bit the kernel defines has a name, so a snapshot keeps them all.
    public static let names: [(LinkFlags, String)] = [
        (.loopback, "LOOPBACK"), (.broadcast, "BROADCAST"), (.pointToPoint, "POINTOPOINT"), (.multicast, "MULTICAST"),
        (.noARP, "NOARP"), (LinkFlags(rawValue: 0x200), "ALLMULTI"), (.promiscuous, "PROMISC"), (LinkFlags(rawValue: 0x20), "NOTRAILERS"),
        (LinkFlags(rawValue: 0x400), "MASTER"), (LinkFlags(rawValue: 0x800), "SLAVE"), (LinkFlags(rawValue: 0x4), "DEBUG"),
        (LinkFlags(rawValue: 0x8000), "DYNAMIC"), (LinkFlags(rawValue: 0x4000), "AUTOMEDIA"), (LinkFlags(rawValue: 0x2000), "PORTSEL"),
        (LinkFlags(rawValue: 0x20000), "DORMANT"), (LinkFlags(rawValue: 0x40000), "ECHO"), (.up, "UP"), (.lowerUp, "LOWER_UP"), (.running, "RUNNING"),
    ]
}

/// A VXLAN device's parameters (`ip -d link`: `vxlan id 1 local 10.0.0.1 dstport 8472`).
public struct VXLANParameters: Hashable, Sendable {
    /// The VNI.
    public var id: UInt32
    /// The UDP destination port (`dstport`; flannel's 8472, the IANA 4789).
    public var port: UInt16
    /// The local address (`local`), when set.
    public var local: IPAddress?
    public init(id: UInt32, port: UInt16, local: IPAddress? = nil) {
        self.id = id
        self.port = port
        self.local = local
    }
}

/// One network interface as the kernel reports it (RTM_NEWLINK).
public struct KernelLink: Hashable, Sendable {
    public var index: Int
    public var name: String
    /// `IFLA_INFO_KIND`: veth, bridge, vxlan, …; nil for a device without one (loopback, a
    /// physical NIC).
    public var kind: String?
    public var mtu: UInt32
    public var flags: LinkFlags
    /// The bridge (or bond) this link is a port of (`master`).
    public var masterIndex: Int?
    /// `IFLA_LINK`: for a veth its peer's index, for a VXLAN or VLAN its lower device; in the
    /// namespace `linkNetnsID` names when that is set.
    public var parentIndex: Int?
    /// `IFLA_LINK_NETNSID`: the namespace (by this namespace's id for it) of `parentIndex`,
    /// when that is another namespace (a veth whose peer was moved).
    public var linkNetnsID: Int32?
    public var address: EthernetAddress?
    public var vxlan: VXLANParameters?

    public init(index: Int, name: String, kind: String? = nil, mtu: UInt32 = 1500, flags: LinkFlags = [], masterIndex: Int? = nil,
                parentIndex: Int? = nil, linkNetnsID: Int32? = nil, address: EthernetAddress? = nil, vxlan: VXLANParameters? = nil) {
        self.index = index
        self.name = name
        self.kind = kind
        self.mtu = mtu
        self.flags = flags
        self.masterIndex = masterIndex
        self.parentIndex = parentIndex
        self.linkNetnsID = linkNetnsID
        self.address = address
        self.vxlan = vxlan
    }
}

/// An address's scope (`RT_SCOPE_*`), also a route's.
public struct Scope: Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let universe = Scope(rawValue: 0)
    public static let site = Scope(rawValue: 200)
    public static let link = Scope(rawValue: 253)
    public static let host = Scope(rawValue: 254)
    public static let nowhere = Scope(rawValue: 255)

    /// The name `ip` prints (`/etc/iproute2/rt_scopes`: universe prints as `global`), else the
    /// number.
    public var name: String {
        switch rawValue {
        case 0: "global"
        case 200: "site"
        case 253: "link"
        case 254: "host"
        case 255: "nowhere"
        default: String(rawValue)
        }
    }

    public init?(name: String) {
        switch name {
        case "global", "universe": self = .universe
        case "site": self = .site
        case "link": self = .link
        case "host": self = .host
        case "nowhere": self = .nowhere
        default:
            guard let n = UInt8(name) else { return nil }
            self.init(rawValue: n)
        }
    }
}

/// An interface address (RTM_NEWADDR).
public struct KernelAddress: Hashable, Sendable {
    public var interfaceIndex: Int
    public var address: IPAddress
    public var prefixLength: Int
    /// The peer of a point-to-point address (`peer`), when it has one.
    public var peer: IPAddress?
    public var broadcast: IPAddress?
    public var scope: Scope
    /// `IFA_F_*` (secondary 0x1, nodad 0x2, permanent 0x80, noprefixroute 0x200, …).
    public var flags: UInt32
    /// `IFA_LABEL` (IPv4: `eth0:1`-style aliases; defaults to the interface name).
    public var label: String?

    public init(interfaceIndex: Int, address: IPAddress, prefixLength: Int, peer: IPAddress? = nil, broadcast: IPAddress? = nil,
                scope: Scope = .universe, flags: UInt32 = 0, label: String? = nil) {
        self.interfaceIndex = interfaceIndex
        self.address = address
        self.prefixLength = prefixLength
        self.peer = peer
        self.broadcast = broadcast
        self.scope = scope
        self.flags = flags
        self.label = label
    }

    public static let secondaryFlag: UInt32 = 0x1
    public static let permanentFlag: UInt32 = 0x80
}

/// A route's type (`RTN_*`).
public struct RouteType: Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let unicast = RouteType(rawValue: 1)
    public static let local = RouteType(rawValue: 2)
    public static let broadcast = RouteType(rawValue: 3)
    public static let anycast = RouteType(rawValue: 4)
    public static let multicast = RouteType(rawValue: 5)
    public static let blackhole = RouteType(rawValue: 6)
    public static let unreachable = RouteType(rawValue: 7)
    public static let prohibit = RouteType(rawValue: 8)
    public static let throwRoute = RouteType(rawValue: 9)
    public static let nat = RouteType(rawValue: 10)

    static let table = ["unspec", "unicast", "local", "broadcast", "anycast", "multicast", "blackhole", "unreachable", "prohibit", "throw", "nat", "xresolve"]
    /// `ip route`'s word for it.
    public var name: String { Int(rawValue) < Self.table.count ? Self.table[Int(rawValue)] : String(rawValue) }
    public init?(name: String) {
        if let i = Self.table.firstIndex(of: name) { self.init(rawValue: UInt8(i)) } else if let n = UInt8(name) { self.init(rawValue: n) } else { return nil }
    }
}

/// Who installed a route (`RTPROT_*`, `/etc/iproute2/rt_protos`).
public struct RouteProtocol: Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let kernel = RouteProtocol(rawValue: 2)
    public static let boot = RouteProtocol(rawValue: 3)
    public static let `static` = RouteProtocol(rawValue: 4)

    static let names: [UInt8: String] = [
        0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static", 8: "gated", 9: "ra", 10: "mrt", 11: "zebra", 12: "bird",
        13: "dnrouted", 14: "xorp", 15: "ntk", 16: "dhcp", 17: "mrouted", 18: "keepalived", 42: "babel", 99: "openr",
        186: "bgp", 187: "isis", 188: "ospf", 189: "rip", 192: "eigrp",
    ]
    public var name: String { Self.names[rawValue] ?? String(rawValue) }
    public init?(name: String) {
        if let hit = Self.names.first(where: { $0.value == name }) { self.init(rawValue: hit.key) } else if let n = UInt8(name) { self.init(rawValue: n) } else { return nil }
    }
}

/// One next hop of a route.
public struct NextHop: Hashable, Sendable {
    public var interfaceIndex: Int?
    public var gateway: IPAddress?
    /// `RTNH_F_ONLINK`: the gateway is taken as on the link even outside its subnets.
    public var onlink: Bool
    /// The multipath weight (`ip route`'s `weight`, rtnh_hops + 1); 1 for a single hop.
    public var weight: Int
    public init(interfaceIndex: Int?, gateway: IPAddress? = nil, onlink: Bool = false, weight: Int = 1) {
        self.interfaceIndex = interfaceIndex
        self.gateway = gateway
        self.onlink = onlink
        self.weight = weight
    }
}

/// Route metrics (`RTAX_*`) by the names `ip route` prints.
public enum RouteMetric {
    public static let names: [Int: String] = [
        2: "mtu", 3: "window", 4: "rtt", 5: "rttvar", 6: "ssthresh", 7: "cwnd", 8: "advmss", 9: "reordering",
        10: "hoplimit", 11: "initcwnd", 12: "features", 13: "rto_min", 14: "initrwnd", 15: "quickack", 16: "congctl", 17: "fastopen_no_cookie",
    ]
}

/// A route, from any table (RTM_NEWROUTE).
public struct KernelRoute: Hashable, Sendable {
    /// 254 main, 255 local, 253 default, others by number.
    public var table: UInt32
    public var destination: Prefix
    public var type: RouteType
    public var scope: Scope
    public var proto: RouteProtocol
    /// The route's metric (`ip route`'s `metric`, RTA_PRIORITY).
    public var priority: UInt32
    /// The preferred source (`src`).
    public var preferredSource: IPAddress?
    public var nextHops: [NextHop]
    /// RTAX metrics set on the route (mtu, advmss, …), by `RTAX_*` number.
    public var metrics: [Int: UInt32]
    /// TOS / DSCP selector (`tos`), 0 for any.
    public var tos: UInt8

    public init(table: UInt32 = 254, destination: Prefix, type: RouteType = .unicast, scope: Scope = .universe, proto: RouteProtocol = .boot,
                priority: UInt32 = 0, preferredSource: IPAddress? = nil, nextHops: [NextHop] = [], metrics: [Int: UInt32] = [:], tos: UInt8 = 0) {
        self.table = table
        self.destination = destination
        self.type = type
        self.scope = scope
        self.proto = proto
        self.priority = priority
        self.preferredSource = preferredSource
        self.nextHops = nextHops
        self.metrics = metrics
        self.tos = tos
    }

    public static let mainTable: UInt32 = 254
    public static let localTable: UInt32 = 255
}

/// A neighbour (ARP/NDP) entry, or a bridge or VXLAN forwarding-database entry (family
/// AF_BRIDGE: `bridge fdb`).
public struct KernelNeighbour: Hashable, Sendable {
    /// AF_INET (2), AF_INET6 (10) or AF_BRIDGE (7).
    public var family: Int32
    public var interfaceIndex: Int
    /// The IP address (an FDB entry's remote VTEP, `dst`, for VXLAN).
    public var destination: IPAddress?
    public var linkAddress: EthernetAddress?
    /// `NUD_*` (reachable 0x2, stale 0x4, permanent 0x80, noarp 0x40, …).
    public var state: UInt16
    /// `NTF_*` (self 0x2, master 0x4, …).
    public var flags: UInt8
    /// The bridge of an FDB entry (`master`).
    public var masterIndex: Int?
    public var vlan: Int?

    public init(family: Int32, interfaceIndex: Int, destination: IPAddress? = nil, linkAddress: EthernetAddress? = nil, state: UInt16 = 0x80,
                flags: UInt8 = 0, masterIndex: Int? = nil, vlan: Int? = nil) {
        self.family = family
        self.interfaceIndex = interfaceIndex
        self.destination = destination
        self.linkAddress = linkAddress
        self.state = state
        self.flags = flags
        self.masterIndex = masterIndex
        self.vlan = vlan
    }

    public static let bridgeFamily: Int32 = 7
    public static let permanentState: UInt16 = 0x80
    public static let selfFlag: UInt8 = 0x2
    public var isFDB: Bool { family == Self.bridgeFamily }
}
