/// The address family, spelled as Kubernetes spells `ipFamilies` (`IPv4`, `IPv6`).
public enum IPFamily: String, Hashable, Comparable, Sendable, CaseIterable, Codable {
    case ipv4 = "IPv4"
    case ipv6 = "IPv6"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs == .ipv4 && rhs == .ipv6 }

    /// Bits in an address of this family.
    public var bitWidth: Int { self == .ipv4 ? 32 : 128 }
}

/// An IPv4 or IPv6 address. IPv4 sorts before IPv6; within a family, numerically.
public enum IPAddress: Hashable, Comparable, Sendable {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public var family: IPFamily {
        switch self {
        case .v4: .ipv4
        case .v6: .ipv6
        }
    }

    /// The address as an unsigned number in its family's width, for prefix arithmetic.
    public var bits: UInt128 {
        switch self {
        case .v4(let a): UInt128(a.value)
        case .v6(let a): a.value
        }
    }

    /// Builds an address of `family` from its numeric value (truncated to the family's width).
    public init(family: IPFamily, bits: UInt128) {
        switch family {
        case .ipv4: self = .v4(IPv4Address(UInt32(truncatingIfNeeded: bits)))
        case .ipv6: self = .v6(IPv6Address(bits))
        }
    }

    /// Strict parse: IPv6 when the text has a colon, otherwise IPv4 without leading zeros.
    public init(parsing text: some StringProtocol) throws(AddressError) {
        if text.contains(":") {
            self = .v6(try IPv6Address(parsing: text))
        } else {
            self = .v4(try IPv4Address(parsing: text))
        }
    }

    /// Like `init(parsing:)`, but IPv4 fields with leading zeros are read as decimal, as
    /// Kubernetes' `ParseIPSloppy` does (kube-proxy-rules.md §1.1).
    public init(sloppy text: some StringProtocol) throws(AddressError) {
        if text.contains(":") {
            self = .v6(try IPv6Address(parsing: text))
        } else {
            self = .v4(try IPv4Address(sloppy: text))
        }
    }

    public var v4: IPv4Address? { if case .v4(let a) = self { a } else { nil } }
    public var v6: IPv6Address? { if case .v6(let a) = self { a } else { nil } }

    public var isLoopback: Bool {
        switch self {
        case .v4(let a): a.isLoopback
        case .v6(let a): a.isLoopback
        }
    }

    public var isUnspecified: Bool { bits == 0 }

    /// The address `n` after this one, or nil past the end of the family.
    public func advanced(by n: UInt128) -> IPAddress? {
        let (sum, overflow) = bits.addingReportingOverflow(n)
        if overflow { return nil }
        if family == .ipv4 && sum > UInt128(UInt32.max) { return nil }
        return IPAddress(family: family, bits: sum)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        if lhs.family != rhs.family { return lhs.family < rhs.family }
        return lhs.bits < rhs.bits
    }
}

extension IPAddress: CustomStringConvertible {
    public var description: String {
        switch self {
        case .v4(let a): a.description
        case .v6(let a): a.description
        }
    }

    /// `ip:port`, with IPv6 in brackets (`[fd00::1]:80`), as Go's `net.JoinHostPort` writes it
    /// (`SocketAddress.description`).
    public func joined(port: UInt16) -> String { SocketAddress(self, port: port).description }
}
