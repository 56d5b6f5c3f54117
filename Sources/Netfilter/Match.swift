import Wire

/// An interface name as `-i`/`-o`/`--physdev-in` take it: a trailing `+` matches every name
/// with that prefix (`ifname_compare` in ip_tables.c; `veth+`), a bare `+` matches any.
public struct InterfacePattern: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var isWildcard: Bool

    public init(_ text: String) {
        if text.hasSuffix("+") {
            name = String(text.dropLast()); isWildcard = true
        } else {
            name = text; isWildcard = false
        }
    }

    /// No interface (INPUT has no output device, OUTPUT no input device) compares as the
    /// empty name, as ip_tables.c does with `nulldevname`: only `+` matches it.
    public func matches(_ iface: String?) -> Bool {
        let iface = iface ?? ""
        return isWildcard ? iface.hasPrefix(name) : iface == name
    }

    public var description: String { isWildcard ? name + "+" : name }
}

/// Connection tracking states as `-m conntrack --ctstate` / `-m state --state` name them
/// (XT_CONNTRACK_STATE_* in include/uapi/linux/netfilter/xt_conntrack.h).
public struct CtStateSet: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let invalid = CtStateSet(rawValue: 1 << 0)
    public static let established = CtStateSet(rawValue: 1 << 1)
    public static let related = CtStateSet(rawValue: 1 << 2)
    public static let new = CtStateSet(rawValue: 1 << 3)
    public static let untracked = CtStateSet(rawValue: 1 << 4)
    public static let snat = CtStateSet(rawValue: 1 << 5)
    public static let dnat = CtStateSet(rawValue: 1 << 6)

    static let names: [(String, CtStateSet)] = [
        ("INVALID", .invalid), ("ESTABLISHED", .established), ("RELATED", .related), ("NEW", .new),
        ("UNTRACKED", .untracked), ("SNAT", .snat), ("DNAT", .dnat),
    ]
}

/// Address types of `-m addrtype` (RTN_* in include/uapi/linux/rtnetlink.h, as bits).
public struct AddressTypeSet: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let unspec = AddressTypeSet(rawValue: 1 << 0)
    public static let unicast = AddressTypeSet(rawValue: 1 << 1)
    public static let local = AddressTypeSet(rawValue: 1 << 2)
    public static let broadcast = AddressTypeSet(rawValue: 1 << 3)
    public static let anycast = AddressTypeSet(rawValue: 1 << 4)
    public static let multicast = AddressTypeSet(rawValue: 1 << 5)
    public static let blackhole = AddressTypeSet(rawValue: 1 << 6)
    public static let unreachable = AddressTypeSet(rawValue: 1 << 7)
    public static let prohibit = AddressTypeSet(rawValue: 1 << 8)
    public static let throwType = AddressTypeSet(rawValue: 1 << 9)
    public static let nat = AddressTypeSet(rawValue: 1 << 10)
    public static let xresolve = AddressTypeSet(rawValue: 1 << 11)

    static let names: [(String, AddressTypeSet)] = [
        ("UNSPEC", .unspec), ("UNICAST", .unicast), ("LOCAL", .local), ("BROADCAST", .broadcast),
        ("ANYCAST", .anycast), ("MULTICAST", .multicast), ("BLACKHOLE", .blackhole),
        ("UNREACHABLE", .unreachable), ("PROHIBIT", .prohibit), ("THROW", .throwType), ("NAT", .nat),
        ("XRESOLVE", .xresolve),
    ]
}

/// What `-m recent` does with the list (XT_RECENT_* in xt_recent.h).
public enum RecentCommand: String, Hashable, Sendable {
    case set, rcheck, update, remove
}

/// A `-m recent` match (net/netfilter/xt_recent.c `recent_mt`).
public struct RecentMatch: Hashable, Sendable {
    public var name: String = "DEFAULT"
    public var command: RecentCommand = .rcheck
    public var negated = false
    public var seconds: UInt32 = 0
    public var hitCount: UInt32 = 0
    public var reap = false
    public var checkTTL = false
    /// true: remember the destination (`--rdest`); default the source (`--rsource`).
    public var useDestination = false
    /// `--mask`: the address is ANDed with it before lookup (default all ones).
    public var mask: IPAddress?
}

/// Which packet field an ipset dimension reads (`src` or `dst` in `--match-set NAME dir,...`).
public enum SetDirection: String, Hashable, Sendable { case src, dst }

/// Where multiport's ports are compared.
public enum PortSide: Hashable, Sendable { case source, destination, either }

/// One condition of a rule. `negated` is iptables' `!`.
///
/// Cases hold integers and prefixes so that evaluation compares numbers, never text.
public enum Match: Hashable, Sendable {
    case source([Prefix], negated: Bool)
    case destination([Prefix], negated: Bool)
    /// `-s`/`-d` with a netmask that is not a prefix (`10.0.0.1/255.255.0.255`), which
    /// iptables-nft accepts: (address & mask) == value.
    case sourceMasked(value: UInt32, mask: UInt32, negated: Bool)
    case destinationMasked(value: UInt32, mask: UInt32, negated: Bool)
    /// nil protocol is `all` (or 0).
    case proto(IPProtocol?, negated: Bool)
    case inInterface(InterfacePattern, negated: Bool)
    case outInterface(InterfacePattern, negated: Bool)
    /// `-f`: only non-first fragments; kdp's packets are never fragments.
    case fragment(negated: Bool)
    /// tcp/udp/sctp `--sport`/`--dport` (xt_tcpudp.c): only for that protocol.
    case sourcePort(IPProtocol, PortRange, negated: Bool)
    case destinationPort(IPProtocol, PortRange, negated: Bool)
    /// `--tcp-flags MASK COMP` (`--syn` is SYN,RST,ACK,FIN SYN).
    case tcpFlags(mask: UInt8, compare: UInt8, negated: Bool)
    case multiport([PortRange], side: PortSide, negated: Bool)
    indirect case icmpType(type: UInt8?, code: ClosedRange<UInt8>, negated: Bool)
    /// `-m comment`: always true; the text is kept for traces.
    case comment(String)
    /// `--mode random`: the kernel's threshold out of 2^31 (xt_statistic.c).
    case statisticRandom(threshold: UInt32, negated: Bool)
    /// `--mode nth --every N --packet P`; `id` keys the shared counter.
    case statisticNth(every: UInt32, packet: UInt32, negated: Bool, id: Int)
    case mark(value: UInt32, mask: UInt32, negated: Bool)
    case connmark(value: UInt32, mask: UInt32, negated: Bool)
    case ctState(CtStateSet, negated: Bool)
    indirect case ctOrigSource([Prefix], negated: Bool)
    indirect case ctOrigDestination([Prefix], negated: Bool)
    indirect case ctReplySource([Prefix], negated: Bool)
    indirect case ctReplyDestination([Prefix], negated: Bool)
    case ctOrigSourcePort(PortRange, negated: Bool)
    case ctOrigDestinationPort(PortRange, negated: Bool)
    case ctReplySourcePort(PortRange, negated: Bool)
    case ctReplyDestinationPort(PortRange, negated: Bool)
    indirect case ctProto(IPProtocol?, negated: Bool)
    case ctDirectionOriginal(Bool)
    indirect case addrType(source: AddressTypeSet?, sourceNegated: Bool, destination: AddressTypeSet?,
                  destinationNegated: Bool, limitInputInterface: Bool, limitOutputInterface: Bool)
    indirect case recent(RecentMatch)
    indirect case set(name: String, directions: [SetDirection], negated: Bool, returnNomatch: Bool)
    indirect case physdev(PhysdevMatch)
    /// `-m ipvs`: whether the packet belongs to an IPVS connection, and which virtual service.
    indirect case ipvs(IPVSMatch)
    /// `-m owner`: the sending socket's owner (xt_owner.c).
    indirect case owner(OwnerMatch)
    /// Matches that always hold in kdp: `nfacct` (counts only) and `limit` (rate not emulated).
    indirect case alwaysTrue(module: String)
    /// From lenient parsing: never matches.
    indirect case never(reason: String)
}

/// `-m physdev` (xt_physdev.c): only bridged packets have physical devices.
public struct PhysdevMatch: Hashable, Sendable {
    public var physIn: InterfacePattern?, physInNegated = false
    public var physOut: InterfacePattern?, physOutNegated = false
    public var isIn: Bool?, isOut: Bool?, isBridged: Bool?
}

/// `-m ipvs` (xt_ipvs.c). Each optional field is a condition; `*Negated` inverts it.
public struct IPVSMatch: Hashable, Sendable {
    public var ipvs: Bool?
    public var vproto: IPProtocol?, vprotoNegated = false
    public var vaddr: Prefix?, vaddrNegated = false
    public var vport: UInt16?, vportNegated = false
    public var vdirOriginal: Bool?
}
