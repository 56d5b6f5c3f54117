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
/// with side effects (`recent`, `statistic`, a `set` that may note a missing set) comes before
/// it in the rule. A rule that only notes that kdp did not understand it is never skipped: its
/// note is part of every trace that reaches it.
///
/// A class, shared by reference: only long chains have one, and the chain header stays small.
/// Both keyed lists live in one `DispatchTable` (flat arrays, no hashing of Swift values), so a
/// lookup costs two probes and a binary search of `rest`, whatever the chain's length.
final class DispatchIndex: Sendable {
    /// Chains shorter than this are left linear.
    static let minimumRules = 8
    /// Set in proto-port keys, so they never equal an exact key (whose address sits in bits 24-55).
    static let protoPortTag: UInt64 = 1 << 62

    let count: Int
    /// Exact keys (IPv4 destination << 24 | protocol << 16 | port) and proto-port keys
    /// (`protoPortTag` | protocol << 16 | port), each with its rules in order.
    let table: DispatchTable
    /// How many distinct exact and proto-port keys the chain has.
    let exactKeys: Int, protoPortKeys: Int
    /// Rules with no key, in order.
    let rest: [Int32]
    /// What a lookup compares a packet with, for `kdp verify`'s path conditions.
    let pathConstants: DispatchConstants

    init?(_ rules: [PreparedRule]) {
        count = rules.count
        var exact: [UInt64: [Int32]] = [:], protoPort: [UInt32: [Int32]] = [:], rest: [Int32] = []
        for (i, r) in rules.enumerated() {
            switch Self.key(r) {
            case .exact(let k): exact[k, default: []].append(Int32(i))
            case .protoPort(let k): protoPort[k, default: []].append(Int32(i))
            case .none: rest.append(Int32(i))
            }
        }
        self.rest = rest
        if exact.isEmpty && protoPort.isEmpty { return nil }
        exactKeys = exact.count
        protoPortKeys = protoPort.count
        var lists = exact
        for (k, list) in protoPort { lists[Self.protoPortTag | UInt64(k)] = list }
        table = DispatchTable(lists)
        pathConstants = DispatchConstants(rules: rules, exact: exact, protoPort: protoPort)
    }

    enum Key { case exact(UInt64), protoPort(UInt32), none }

    static func key(_ r: PreparedRule) -> Key {
        var dst: UInt32?, proto: UInt8?, port: UInt16?
        var sideEffects = false
        if case .never? = r.matches.first { return .none }
        for m in r.matches {
            switch m {
            case .destination(let ps, negated: false):
                if ps.count == 1, ps[0].length == 32, case .v4(let a) = ps[0].network { dst = a.value }
            case .proto(let p?, negated: false):
                if p.hasPorts { proto = p.rawValue }
            case .destinationPort(_, let r, negated: false):
                if !sideEffects && r.lower == r.upper && port == nil { port = r.lower }
            case .recent, .statisticNth, .statisticRandom, .set:
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
        let v4: UInt32? = if case .v4(let a) = packet.destination { a.value } else { nil }
        return next(from: from, proto: packet.proto, port: packet.destinationPort, v4Destination: v4)
    }

    /// `next(from:packet:)` on the fields it reads, which the walk already holds as integers:
    /// passing the packet itself from the path copied it (and retained its interface names)
    /// at every chain the index serves.
    func next(from: Int, proto: IPProtocol, port: UInt16, v4Destination: UInt32?) -> Int {
        var best = Self.firstAtLeast(rest, from) ?? count
        if proto.hasPorts {
            let pp = UInt64(proto.rawValue) << 16 | UInt64(port)
            if let i = table.first(Self.protoPortTag | pp, atLeast: from), i < best { best = i }
            if let a = v4Destination, let i = table.first(UInt64(a) << 24 | pp, atLeast: from), i < best { best = i }
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
