/// Rewriting a captured IP packet's addresses and ports as NAT does (nf_nat_manip_pkt), with
/// every checksum patched by RFC 1624's incremental update: the IPv4 header checksum, and the
/// TCP/UDP checksum whose pseudo-header covers the addresses. Because the update never sums the
/// payload, a packet cut short by the snaplen is rewritten correctly too.
public enum IPPacketNAT {
    /// `bytes` (an IPv4 or IPv6 packet) rewritten to carry `flow`'s addresses and, for TCP,
    /// UDP and SCTP, its ports; the IPv4 TTL (or IPv6 hop limit) lowered by `ttlDecrement`, as
    /// each router on the way does. ICMP errors are rewritten on the outer header only.
    /// Packets too short for the fields they need are returned unchanged.
    ///
    /// - Complexity: O(1) beyond the copy: a fixed number of checksum word updates.
    public static func rewrite(_ bytes: [UInt8], to flow: FlowKey, ttlDecrement: Int = 0) -> [UInt8] {
        var out = bytes
        guard let first = out.first else { return out }
        let isV6 = first >> 4 == 6
        let l4: Int
        let oldSource: IPAddress, oldDestination: IPAddress
        if isV6 {
            guard out.count >= 40 else { return out }
            l4 = out.withUnsafeBytes { raw in
                (try? IPv6Packet(checking: raw).upperLayer().offset) ?? 40
            }
            oldSource = .v6(out.withUnsafeBytes { $0.ipv6(8) })
            oldDestination = .v6(out.withUnsafeBytes { $0.ipv6(24) })
            guard case .v6(let s) = flow.source, case .v6(let d) = flow.destination else { return out }
            put128(&out, 8, s.value)
            put128(&out, 24, d.value)
            out[7] = UInt8(max(0, Int(out[7]) - ttlDecrement))
        } else {
            guard out.count >= 20 else { return out }
            l4 = Int(out[0] & 0xF) * 4
            oldSource = .v4(IPv4Address(be32(out, 12)))
            oldDestination = .v4(IPv4Address(be32(out, 16)))
            guard case .v4(let s) = flow.source, case .v4(let d) = flow.destination else { return out }
            var check = be16(out, 10)
            check = InternetChecksum.update(check, old: be32(out, 12), new: s.value)
            check = InternetChecksum.update(check, old: be32(out, 16), new: d.value)
            let ttl = out[8], newTTL = UInt8(max(0, Int(ttl) - ttlDecrement))
            check = InternetChecksum.update(check, old: UInt16(ttl) << 8 | UInt16(out[9]), new: UInt16(newTTL) << 8 | UInt16(out[9]))
            put32(&out, 12, s.value)
            put32(&out, 16, d.value)
            out[8] = newTTL
            put16(&out, 10, check)
            // A non-first fragment carries no transport header.
            if be16(out, 6) & 0x1FFF != 0 { return out }
        }
        let proto: IPProtocol = isV6
            ? (out.withUnsafeBytes { raw in (try? IPv6Packet(checking: raw).upperLayer().proto) } ?? IPProtocol(rawValue: 0))
            : IPProtocol(rawValue: out[9])
        let checksumOffset: Int
        switch proto {
        case .tcp: checksumOffset = 16
        case .udp: checksumOffset = 6
        case .sctp:
            // SCTP's CRC32c covers the ports but no pseudo-header: a full recompute is needed,
            // which a truncated packet does not allow; ports are rewritten and the CRC kept.
            guard out.count >= l4 + 4 else { return out }
            put16(&out, l4, flow.sourcePort)
            put16(&out, l4 + 2, flow.destinationPort)
            return out
        case .icmpv6:
            // ICMPv6's checksum covers the pseudo-header.
            guard out.count >= l4 + 4 else { return out }
            var c = be16(out, l4 + 2)
            c = InternetChecksum.update(c, old: oldSource, new: flow.source)
            c = InternetChecksum.update(c, old: oldDestination, new: flow.destination)
            put16(&out, l4 + 2, c)
            return out
        default:
            return out
        }
        guard out.count >= l4 + checksumOffset + 2 else { return out }
        var c = be16(out, l4 + checksumOffset)
        // UDP over IPv4 may carry no checksum (0): it stays 0.
        let hasChecksum = !(proto == .udp && !isV6 && c == 0)
        if hasChecksum {
            c = InternetChecksum.update(c, old: oldSource, new: flow.source)
            c = InternetChecksum.update(c, old: oldDestination, new: flow.destination)
            c = InternetChecksum.update(c, old: be16(out, l4), new: flow.sourcePort)
            c = InternetChecksum.update(c, old: be16(out, l4 + 2), new: flow.destinationPort)
            // RFC 768: a computed UDP checksum of 0 is sent as all ones.
            if proto == .udp && c == 0 { c = 0xFFFF }
            put16(&out, l4 + checksumOffset, c)
        }
        put16(&out, l4, flow.sourcePort)
        put16(&out, l4 + 2, flow.destinationPort)
        return out
    }

    @inline(__always) static func be16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) << 8 | UInt16(b[i + 1]) }
    @inline(__always) static func be32(_ b: [UInt8], _ i: Int) -> UInt32 { UInt32(be16(b, i)) << 16 | UInt32(be16(b, i + 2)) }
    @inline(__always) static func put16(_ b: inout [UInt8], _ i: Int, _ v: UInt16) {
        b[i] = UInt8(v >> 8)
        b[i + 1] = UInt8(truncatingIfNeeded: v)
    }
    @inline(__always) static func put32(_ b: inout [UInt8], _ i: Int, _ v: UInt32) {
        put16(&b, i, UInt16(v >> 16))
        put16(&b, i + 2, UInt16(truncatingIfNeeded: v))
    }
    static func put128(_ b: inout [UInt8], _ i: Int, _ v: UInt128) {
        for k in 0..<16 { b[i + k] = UInt8(truncatingIfNeeded: v >> (8 * (15 - k))) }
    }
}
