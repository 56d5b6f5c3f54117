import Netfilter
import Wire

/// The order in which the kernel lists a hash set's elements (`ipset save`, `ipset list`):
/// bucket by bucket, and within a bucket in the order the elements were added
/// (ip_set_hash_gen.h `mtype_list`). The bucket is `jhash2(element words, initval) & mask`
/// (`HKEY`), where the element is the type's kernel struct in network byte order
/// (ip_set_hash_ip.c, _ipport.c, _ipportip.c, _ipportnet.c) and the mask has `fls(hashsize - 1)`
/// bits. Elements are added in sorted string order, as kube-proxy's first sync adds them
/// (`syncIPSetEntries` walks `activeEntries` sorted), and as a restore of this order re-adds them.
/// The element's words come from the typed member, not from re-reading the entry's text.
enum IPSetHashOrder {
    /// `entries` (each as printed and as the kernel member) in the kernel's listing order.
    /// - Complexity: O(n log n) in the entries.
    static func order(_ entries: [(text: String, member: IPSetMember)], type: IPSetType, family: IPFamily,
                      initval: UInt32) -> [(text: String, member: IPSetMember)] {
        let bits = 32 - (UInt32(KubeIPSet.hashSize - 1)).leadingZeroBitCount  // fls(hashsize - 1)
        let mask = UInt32((1 << bits) - 1)
        return entries.sorted { $0.text < $1.text }.enumerated().map { (i, e) in
            (jhash2(words(e.member, type: type, family: family), initval: initval) & mask, i, e)
        }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
    }

    /// The element struct's bytes, read as the host's (little-endian) 32-bit words.
    static func words(_ m: IPSetMember, type: IPSetType, family: IPFamily) -> [UInt32] {
        let width = family == .ipv4 ? 4 : 16
        func address(_ p: Prefix?) -> [UInt8] {
            guard let a = p?.network, a.family == family else { return Array(repeating: 0, count: width) }
            return (0..<width).reversed().map { UInt8(truncatingIfNeeded: a.bits >> (UInt128($0) * 8)) }
        }
        let port = m.port ?? 0
        let portBytes = [UInt8(port >> 8), UInt8(port & 0xFF)]
        let proto = (m.proto ?? .tcp).rawValue
        let bytes: [UInt8]
        switch type {
        case .hashIP:
            bytes = address(m.first)
        case .hashIPPort:
            // { ip; __be16 port; u8 proto; u8 padding; }
            bytes = address(m.first) + portBytes + [proto, 0]
        case .hashIPPortIP:
            // { ip; ip2; __be16 port; u8 proto; u8 padding; }
            bytes = address(m.first) + address(m.last) + portBytes + [proto, 0]
        case .hashIPPortNet:
            // { ip; ip2 (masked); __be16 port; u8 cidr:7 (prefix length - 1), nomatch:1; u8 proto; }
            let length = m.last?.length ?? family.bitWidth
            bytes = address(m.first) + address(m.last) + portBytes + [UInt8(truncatingIfNeeded: length - 1) & 0x7F, proto]
        default:
            return []
        }
        return stride(from: 0, to: bytes.count, by: 4).map { i in
            UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
        }
    }

    /// include/linux/jhash.h `jhash2`.
    static func jhash2(_ k: [UInt32], initval: UInt32) -> UInt32 {
        func rol(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }
        var a: UInt32 = 0xDEADBEEF &+ (UInt32(k.count) << 2) &+ initval
        var b = a, c = a
        var i = 0
        var length = k.count
        while length > 3 {
            a = a &+ k[i]; b = b &+ k[i + 1]; c = c &+ k[i + 2]
            a = a &- c; a ^= rol(c, 4); c = c &+ b
            b = b &- a; b ^= rol(a, 6); a = a &+ c
            c = c &- b; c ^= rol(b, 8); b = b &+ a
            a = a &- c; a ^= rol(c, 16); c = c &+ b
            b = b &- a; b ^= rol(a, 19); a = a &+ c
            c = c &- b; c ^= rol(b, 4); b = b &+ a
            length -= 3
            i += 3
        }
        if length == 0 { return c }
        if length == 3 { c = c &+ k[i + 2] }
        if length >= 2 { b = b &+ k[i + 1] }
        a = a &+ k[i]
        c ^= b; c = c &- rol(b, 14)
        a ^= c; a = a &- rol(c, 11)
        b ^= a; b = b &- rol(a, 25)
        c ^= b; c = c &- rol(b, 16)
        a ^= c; a = a &- rol(c, 4)
        b ^= a; b = b &- rol(a, 14)
        c ^= b; c = c &- rol(b, 24)
        return c
    }
}
