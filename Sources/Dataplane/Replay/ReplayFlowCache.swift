import Netfilter
import Wire

/// Replay's fast path, after Open vSwitch's megaflow cache: a capture is mostly packets of
/// established flows, and a flow's next packet in the same conntrack state walks exactly the
/// hooks its last packet walked, with the same TCP flags or, when no rule read the flags
/// (`DataplanePath.consultedTCPFlags`), with any (an ACK after a PSH-ACK: as a megaflow
/// wildcards the fields no rule looked at). So the last packet's result is kept
/// per flow and direction, with the conntrack entries it touched on each node, and reused while
/// nothing stateful on the path can make it differ:
/// - the path consulted no `statistic`, `recent` or IPVS state (`DataplanePath.consultedState`);
/// - every node already tracked the connection (a first packet walks the nat chains);
/// - each entry is still the same connection, not expired, and this packet leaves its state as
///   it is (`ConntrackTable.advance`).
/// A reused packet refreshes its entries' timeouts, as the kernel does, and costs a probe of
/// the flow index and a few array reads instead of a walk (`Replay.cachedOutcome`).
struct ReplayFlowCache: Sendable {
    /// One node's conntrack entry the flow's packets advance.
    struct Hit: Sendable {
        var node: Int32
        var index: Int32
        var generation: UInt32
        var isReply: Bool
    }

    /// What a reused packet reports.
    struct Result: Sendable {
        var verdict: PathVerdict
        var delivered: FlowKey?
        var routedHops: Int
    }

    /// A kept result: plain values only, so reading one retains nothing. A flow crosses one
    /// or two nodes; their hits are held inline, a third node's and later ones in `overflow`
    /// from `moreStart` on.
    struct Entry: Sendable {
        var valid = false
        var tcpFlags: UInt8 = 0
        /// A rule on the path read the TCP flags: reused only for the same flags.
        var flagsMatter = true
        var hitCount: Int32 = 0
        var moreStart: Int32 = 0
        var first: Hit
        var second: Hit
        var result: Result
    }

    /// By tracked flow, original direction at even slots and reply direction at odd ones.
    private var entries: [Entry] = []
    /// Hits past an entry's second (flows across three nodes or more), appended when stored.
    private var overflow: [Hit] = []

    private func hit(_ slot: Int, _ k: Int) -> Hit {
        k == 0 ? entries[slot].first : k == 1 ? entries[slot].second : overflow[Int(entries[slot].moreStart) + k - 2]
    }

    /// Reuses, or not: each node's entry moves on in place (`ConntrackTable.advance`); when
    /// one node refuses, the nodes already moved on are put back and the packet takes the
    /// full walk.
    ///
    /// - Complexity: O(*h*) for the *h* nodes the flow crosses (one or two): one access to
    ///   each node's table, no copy of an entry, no allocation up to two nodes. Takes the
    ///   packet's protocol and TCP flags only (what the trackers read), not the whole `Packet`.
    mutating func lookup(flow: Int, reply: Bool, proto: IPProtocol, tcpFlags: UInt8, nodes: inout NodeStates, now: Double) -> Result? {
        let slot = flow &* 2 &+ (reply ? 1 : 0)
        guard slot < entries.count, entries[slot].valid, !entries[slot].flagsMatter || entries[slot].tcpFlags == tcpFlags else { return nil }
        let count = Int(entries[slot].hitCount)
        var first: ConntrackEntry.TrackerState?, second: ConntrackEntry.TrackerState?, more: [ConntrackEntry.TrackerState] = []
        for k in 0..<count {
            let h = hit(slot, k)
            guard let saved = Self.advance(&nodes[Int(h.node)].host.conntrack, h, proto: proto, tcpFlags: tcpFlags, now: now) else {
                for j in (0..<k).reversed() {
                    let g = hit(slot, j)
                    nodes[Int(g.node)].host.conntrack.restore(slot: Int(g.index), j == 0 ? first! : j == 1 ? second! : more[j - 2])
                }
                entries[slot].valid = false
                return nil
            }
            if k == 0 { first = saved } else if k == 1 { second = saved } else { more.append(saved) }
        }
        return entries[slot].result
    }

    /// The table is reached in place (`inout`), not through the nodes' getter, which copied the
    /// whole `ConntrackTable`: a retain and release of each of its arrays per packet.
    @inline(__always)
    private static func advance(_ table: inout ConntrackTable, _ h: Hit, proto: IPProtocol, tcpFlags: UInt8,
                                now: Double) -> ConntrackEntry.TrackerState? {
        table.advance(slot: Int(h.index), generation: h.generation, isReply: h.isReply, proto: proto, tcpFlags: tcpFlags, now: now)
    }

    /// Keeps `path`'s result for the flow's next packet in the same direction, when it may be
    /// reused; forgets the old one otherwise.
    mutating func store(flow: Int, reply: Bool, packet: Packet, path: DataplanePath, delivered: FlowKey?, routedHops: Int, nodes: NodeStates) {
        let slot = flow * 2 + (reply ? 1 : 0)
        guard !path.consultedState, !path.visits.isEmpty, path.visits.allSatisfy(\.knownBefore) else {
            if slot < entries.count { entries[slot].valid = false }
            return
        }
        var hits: [Hit] = []
        hits.reserveCapacity(path.visits.count)
        for v in path.visits {
            guard let (i, isReply) = nodes[v.node].host.conntrack.lookup(v.tuple) else {
                if slot < entries.count { entries[slot].valid = false }
                return
            }
            hits.append(Hit(node: Int32(v.node), index: Int32(i), generation: nodes[v.node].host.conntrack.generation(ofSlot: i), isReply: isReply))
        }
        var moreStart = Int32(overflow.count)
        if hits.count > 2 {
            // A stored entry's overflow is reused when it has room; otherwise appended anew (the
            // old run is left: flows across three nodes are rare, and a flow stores at most once
            // per state change).
            if slot < entries.count, entries[slot].hitCount >= Int32(hits.count) {
                moreStart = entries[slot].moreStart
                for k in 2..<hits.count { overflow[Int(moreStart) + k - 2] = hits[k] }
            } else {
                overflow += hits[2...]
            }
        }
        let entry = Entry(valid: true, tcpFlags: packet.tcpFlags, flagsMatter: path.consultedTCPFlags, hitCount: Int32(hits.count), moreStart: moreStart, first: hits[0],
                          second: hits.count > 1 ? hits[1] : hits[0],
                          result: Result(verdict: path.verdict, delivered: delivered, routedHops: routedHops))
        if slot >= entries.count {
            entries += Array(repeating: Entry(first: hits[0], second: hits[0], result: entry.result), count: slot + 1 - entries.count)
        }
        entries[slot] = entry
    }
}
