import CNetlink
import Glibc
import Wire

/// Conversions between libnl's `struct nl_addr` and Wire's typed addresses. libnl owns the
/// address memory of objects it returns (`get_*` calls): those are only read here. Addresses
/// kdp builds are passed to libnl, which takes its own reference, and released at once.
enum NLAddress {
    /// The IP address in `addr`, or nil when it is not AF_INET/AF_INET6 or has no bytes.
    static func ip(_ addr: OpaquePointer?) -> IPAddress? {
        guard let addr, let raw = nl_addr_get_binary_addr(addr) else { return nil }
        let length = Int(nl_addr_get_len(addr))
        let bytes = UnsafeRawBufferPointer(start: raw, count: length)
        switch nl_addr_get_family(addr) {
        case AF_INET where length == 4:
            return .v4(IPv4Address(bytes[0], bytes[1], bytes[2], bytes[3]))
        case AF_INET6 where length == 16:
            var v: UInt128 = 0
            for b in bytes { v = v << 8 | UInt128(b) }
            return .v6(IPv6Address(v))
        default:
            return nil
        }
    }

    /// The prefix `addr` names (address and its prefix length), or nil.
    static func prefix(_ addr: OpaquePointer?) -> Prefix? {
        guard let addr, let ip = ip(addr) else { return nil }
        return Prefix(containing: ip, length: Int(nl_addr_get_prefixlen(addr)))
    }

    /// An Ethernet (6-byte link-layer) address, or nil.
    static func ethernet(_ addr: OpaquePointer?) -> EthernetAddress? {
        guard let addr, nl_addr_get_len(addr) == 6, let raw = nl_addr_get_binary_addr(addr) else { return nil }
        var v: UInt64 = 0
        for b in UnsafeRawBufferPointer(start: raw, count: 6) { v = v << 8 | UInt64(b) }
        return EthernetAddress(v)
    }

    /// A new libnl address for `ip` with `prefixLength` (the host length when nil); the caller
    /// releases it with `nl_addr_put`.
    static func make(_ ip: IPAddress, prefixLength: Int? = nil) -> OpaquePointer {
        var bytes: [UInt8]
        let family: Int32
        switch ip {
        case .v4(let a):
            family = AF_INET
            bytes = withUnsafeBytes(of: a.value.bigEndian) { Array($0) }
        case .v6(let a):
            family = AF_INET6
            bytes = (0..<16).map { UInt8(truncatingIfNeeded: a.value >> UInt128(8 * (15 - $0))) }
        }
        let addr = bytes.withUnsafeMutableBytes { nl_addr_build(family, $0.baseAddress, $0.count) }!
        nl_addr_set_prefixlen(addr, Int32(prefixLength ?? ip.family.bitWidth))
        return addr
    }

    /// A new libnl link-layer address; the caller releases it with `nl_addr_put`.
    static func make(_ mac: EthernetAddress) -> OpaquePointer {
        var bytes = (0..<6).map { UInt8(truncatingIfNeeded: mac.value >> UInt64(8 * (5 - $0))) }
        return bytes.withUnsafeMutableBytes { nl_addr_build(AF_LLC, $0.baseAddress, $0.count) }!
    }

    /// The text libnl's string from a C call, or nil.
    static func string(_ p: UnsafePointer<CChar>?) -> String? { p.map { String(cString: $0) } }
}
