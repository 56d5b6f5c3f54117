/// An L4 protocol number (the IPv4 protocol / IPv6 next-header field). A struct rather than an
/// enum so that any number round-trips (iptables accepts `-p 47`), with names for the ones
/// Kubernetes and netfilter speak of.
public struct IPProtocol: RawRepresentable, Hashable, Comparable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let icmp = IPProtocol(rawValue: 1)
    public static let tcp = IPProtocol(rawValue: 6)
    public static let udp = IPProtocol(rawValue: 17)
    public static let icmpv6 = IPProtocol(rawValue: 58)
    public static let sctp = IPProtocol(rawValue: 132)

    private static let names: [(IPProtocol, String)] = [
        (.tcp, "tcp"), (.udp, "udp"), (.sctp, "sctp"), (.icmp, "icmp"), (.icmpv6, "icmpv6"),
        (IPProtocol(rawValue: 47), "gre"), (IPProtocol(rawValue: 50), "esp"), (IPProtocol(rawValue: 51), "ah"),
        (IPProtocol(rawValue: 4), "ipip"), (IPProtocol(rawValue: 41), "ipv6"),
    ]

    /// Parses a name in any case (`TCP`, `tcp`; `ipv6-icmp` as iptables also says) or a number.
    public init(parsing text: some StringProtocol) throws(AddressError) {
        let lower = text.lowercased()
        if lower == "ipv6-icmp" { self = .icmpv6; return }
        if let match = Self.names.first(where: { $0.1 == lower }) { self = match.0; return }
        if let n = UInt8(lower) { self.init(rawValue: n); return }
        throw AddressError(text, "unknown protocol")
    }

    /// The lower-case name (`tcp`), or the number when it has none.
    public var name: String { Self.names.first { $0.0 == self }?.1 ?? String(rawValue) }

    /// The Kubernetes API spelling (`TCP`, `UDP`, `SCTP`).
    public var kubernetesName: String { name.uppercased() }

    /// True for protocols with 16-bit source and destination ports.
    public var hasPorts: Bool { self == .tcp || self == .udp || self == .sctp }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension IPProtocol: CustomStringConvertible {
    public var description: String { name }
}
