/// A CIDR prefix: a network address and a length. The address is always the network address
/// (host bits zero); `init(parsing:)` rejects text with host bits set unless told otherwise,
/// because Kubernetes validation does the same for podCIDR and serviceCIDR.
public struct Prefix: Hashable, Comparable, Sendable {
    public let network: IPAddress
    public let length: Int

    public var family: IPFamily { network.family }

    /// Builds the prefix of `length` that contains `address` (host bits are cleared).
    public init(containing address: IPAddress, length: Int) {
        precondition(length >= 0 && length <= address.family.bitWidth)
        self.length = length
        self.network = IPAddress(family: address.family, bits: address.bits & Self.mask(length, address.family))
    }

    /// The netmask of `length` in `family`, as a number of the family's width.
    public static func mask(_ length: Int, _ family: IPFamily) -> UInt128 {
        let width = family.bitWidth
        if length == 0 { return 0 }
        let ones: UInt128 = length == 128 ? .max : ((1 << UInt128(length)) - 1) << UInt128(128 - length)
        return width == 128 ? ones : ones >> 96
    }

    public var mask: UInt128 { Self.mask(length, family) }
    public var hostBits: Int { family.bitWidth - length }

    /// Parses `a.b.c.d/n` or `x::y/n`. A bare address is a host prefix (/32 or /128) only when
    /// `allowBareAddress` is set, as iptables allows for `-s`/`-d`.
    public init(
        parsing text: some StringProtocol, sloppy: Bool = false,
        allowHostBits: Bool = false, allowBareAddress: Bool = false
    ) throws(AddressError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let address: IPAddress
        do {
            address = sloppy ? try IPAddress(sloppy: parts[0]) : try IPAddress(parsing: parts[0])
        } catch {
            throw AddressError(text, "not a CIDR (\(error.reason))")
        }
        let length: Int
        if parts.count == 2 {
            guard let n = Int(parts[1]), parts[1].allSatisfy(\.isASCII), n >= 0, n <= address.family.bitWidth
            else {
                throw AddressError(text, "prefix length must be 0-\(address.family.bitWidth)")
            }
            length = n
        } else if allowBareAddress {
            length = address.family.bitWidth
        } else {
            throw AddressError(text, "not a CIDR (missing /length)")
        }
        self.init(containing: address, length: length)
        if !allowHostBits && network != address {
            throw AddressError(text, "host bits are set (the network is \(self))")
        }
    }

    /// - Complexity: O(1): for IPv4 a 32-bit mask and compare (route lookups and rule matches
    ///   call this per packet, so the 128-bit path is kept for IPv6 only).
    @inlinable
    public func contains(_ address: IPAddress) -> Bool {
        switch (network, address) {
        case (.v4(let n), .v4(let a)):
            let m: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
            return a.value & m == n.value
        case (.v6(let n), .v6(let a)):
            let m: UInt128 = length == 0 ? 0 : ~UInt128(0) << UInt128(128 - length)
            return a.value & m == n.value
        default:
            return false
        }
    }

    /// True when `other` lies wholly inside this prefix.
    public func contains(_ other: Prefix) -> Bool {
        other.family == family && other.length >= length && contains(other.network)
    }

    public func overlaps(_ other: Prefix) -> Bool { contains(other) || other.contains(self) }

    /// The number of addresses, or nil when it does not fit (an IPv6 /0).
    public var addressCount: UInt128? { hostBits >= 128 ? nil : 1 << UInt128(hostBits) }

    /// The last address of the prefix (the broadcast address for IPv4).
    public var lastAddress: IPAddress {
        IPAddress(family: family, bits: network.bits | (~mask & Self.mask(family.bitWidth, family)))
    }

    /// The `n`-th address counting from the network address (0), or nil past the end.
    public func address(at n: UInt128) -> IPAddress? {
        if let count = addressCount, n >= count { return nil }
        return IPAddress(family: family, bits: network.bits | n)
    }

    /// How many subnets of `newLength` this prefix splits into, or nil when too many to count.
    public func subnetCount(newLength: Int) -> UInt128? {
        guard newLength >= length, newLength <= family.bitWidth else { return 0 }
        let bits = newLength - length
        return bits >= 128 ? nil : 1 << UInt128(bits)
    }

    /// The `index`-th subnet of `newLength` in address order, or nil past the end.
    public func subnet(_ index: UInt128, newLength: Int) -> Prefix? {
        guard newLength >= length, newLength <= family.bitWidth else { return nil }
        if let count = subnetCount(newLength: newLength), index >= count { return nil }
        let shift = family.bitWidth - newLength
        let offset = shift >= 128 ? 0 : index << UInt128(shift)
        return Prefix(containing: IPAddress(family: family, bits: network.bits | offset), length: newLength)
    }

    /// Where a subnet of this prefix sits in `subnet(_:newLength:)` order.
    public func subnetIndex(of subnet: Prefix) -> UInt128? {
        guard contains(subnet) else { return nil }
        let shift = family.bitWidth - subnet.length
        return (subnet.network.bits - network.bits) >> UInt128(shift)
    }

    /// Address order, then shorter prefix first.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.network != rhs.network ? lhs.network < rhs.network : lhs.length < rhs.length
    }
}

extension Prefix: CustomStringConvertible {
    public var description: String { "\(network)/\(length)" }
}
