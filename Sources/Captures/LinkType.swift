import CPcap

/// A capture's link-layer header type, as libpcap names it (`pcap_datalink`, a DLT_ value).
///
/// The values are libpcap's DLT_ numbers on this platform (DLT_RAW is 12 and DLT_LOOP 108 on
/// Linux); libpcap maps the file's LINKTYPE_ value (RAW is 101 in the file) to them on read and
/// back on write, so kdp never spells the file numbers itself.
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// BSD loopback: a 4-byte address family in the writer's host byte order.
    public static let null = LinkType(rawValue: DLT_NULL)
    /// Ethernet (with 802.1Q/QinQ tags, decoded by `Wire`).
    public static let ethernet = LinkType(rawValue: DLT_EN10MB)
    /// Bare IPv4 or IPv6, told apart by the version nibble.
    public static let raw = LinkType(rawValue: DLT_RAW)
    /// OpenBSD loopback: like `null`, but the family is in network byte order.
    public static let loop = LinkType(rawValue: DLT_LOOP)
    /// Linux cooked capture v1 (16-byte header): `tcpdump -i any -y LINUX_SLL`.
    public static let linuxSLL = LinkType(rawValue: DLT_LINUX_SLL)
    /// Linux cooked capture v2 (20-byte header): what `tcpdump -i any` writes on libpcap 1.10.
    public static let linuxSLL2 = LinkType(rawValue: DLT_LINUX_SLL2)
    /// Bare IPv4 only.
    public static let ipv4 = LinkType(rawValue: DLT_IPV4)
    /// Bare IPv6 only.
    public static let ipv6 = LinkType(rawValue: DLT_IPV6)

    /// libpcap's name for the type (`EN10MB`, `LINUX_SLL2`...), or `DLT <n>` when it has none.
    public var description: String {
        if let name = pcap_datalink_val_to_name(rawValue) { return String(cString: name) }
        return "DLT \(rawValue)"
    }
}
