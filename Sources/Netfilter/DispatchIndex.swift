import Wire

/// The compiled fast path for dispatch chains (KUBE-SERVICES, KUBE-NODEPORTS and their like):
/// the idea of nftables' verdict maps. Rules that require an exact destination address,
/// protocol and destination port are filed under that key, rules that require only protocol
/// and port under that key, and the rest stay in a list. For a packet, the next rule worth
/// trying is the smallest index at or after the current one in the three lists that can hold a
/// match, so evaluation skips rules that cannot match without looking at them.
///
/// It gives the same answers as linear evaluation because a skipped rule fails on a condition
/// the kernel checks before any side effect: `-d` and `-p` are IP-header checks done before
/// every match module (ip_packet_match), and a `--dport` is used as a key only when no match
/// with side effects (`recent`, `statistic`) comes before it in the rule.
struct DispatchIndex: Sendable {
    /// Chains shorter than this are left linear.
    static let minimumRules = 8

    var count: Int
    /// Key: IPv4 destination << 24 | protocol << 16 | port.
    var exact: [UInt64: [Int32]] = [:]
    /// Key: protocol << 16 | port.
    var protoPort: [UInt32: [Int32]] = [:]
    var rest: [Int32] = []
    /// What a lookup compares a packet with, for `kdp verify`'s path conditions.
    var pathConstants = DispatchConstants()

    init?(_ rules: [PreparedRule]) {
        count = rules.count
        var keyed = 0
        for (i, r) in rules.enumerated() {
            switch Self.key(r) {
            case .exact(let k): exact[k, default: []].append(Int32(i)); keyed += 1
            case .protoPort(let k): protoPort[k, default: []].append(Int32(i)); keyed += 1
            case .none: rest.append(Int32(i))
            }
        }
        if keyed == 0 { return nil }
        pathConstants = DispatchConstants(rules: rules, exact: exact, protoPort: protoPort)
    }

    enum Key { case exact(UInt64), protoPort(UInt32), none }

    static func key(_ r: PreparedRule) -> Key {
        var dst: UInt32?, proto: UInt8?, port: UInt16?
        var sideEffects = false
        for m in r.matches {
            switch m {
            case .destination(let ps, negated: false):
                if ps.count == 1, ps[0].length == 32, case .v4(let a) = ps[0].network { dst = a.value }
            case .proto(let p?, negated: false):
                if p.hasPorts { proto = p.rawValue }
            case .destinationPort(_, let r, negated: false):
                if !sideEffects && r.lower == r.upper && port == nil { port = r.lower }
            case .recent, .statisticNth, .statisticRandom:
                sideEffects = true
            default:
                break
            }
        }
        guard let proto, let port else { return .none }
        let pp = UInt32(proto) << 16 | UInt32(port)
        if let dst { return .exact(UInt64(dst) << 24 | UInt64(pp)) }
        return .protoPort(pp)
    }

    /// The first rule index at or after `from` that may match `packet` (`count` when none).
    func next(from: Int, packet: Packet) -> Int {
        var best = Self.firstAtLeast(rest, from) ?? count
        if packet.proto.hasPorts {
            let pp = UInt32(packet.proto.rawValue) << 16 | UInt32(packet.destinationPort)
            if let list = protoPort[pp], let i = Self.firstAtLeast(list, from), i < best { best = i }
            if case .v4(let a) = packet.destination, let list = exact[UInt64(a.value) << 24 | UInt64(pp)],
               let i = Self.firstAtLeast(list, from), i < best { best = i }
        }
        return best
    }

    @inline(__always)
    static func firstAtLeast(_ list: [Int32], _ from: Int) -> Int? {
        var lo = 0, hi = list.count
        let f = Int32(truncatingIfNeeded: from)
        while lo < hi {
            let mid = (lo + hi) >> 1
            if list[mid] < f { lo = mid + 1 } else { hi = mid }
        }
        return lo < list.count ? Int(list[lo]) : nil
    }
}
