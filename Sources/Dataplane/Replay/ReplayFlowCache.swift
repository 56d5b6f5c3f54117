import Netfilter
import Wire

/// Replay's fast path, after Open vSwitch's megaflow cache: a capture is mostly packets of
/// established flows, and a flow's next packet in the same conntrack state, with the same TCP
/// flags, walks exactly the hooks its last packet walked. So the last packet's result is kept
/// per flow and direction, with the conntrack entries it touched on each node, and reused while
/// nothing stateful on the path can make it differ:
/// - the path consulted no `statistic`, `recent` or IPVS state (`DataplanePath.consultedState`);
/// - every node already tracked the connection (a first packet walks the nat chains);
/// - each entry is still the same connection, not expired, and this packet leaves its state as
///   it is (`ConntrackTable.advance`).
/// A reused packet refreshes its entries' timeouts, as the kernel does, and costs a dictionary
/// lookup and a few array reads instead of a walk.
struct ReplayFlowCache: Sendable {
    /// One node's conntrack entry the flow's packets advance.
    struct Hit: Sendable {
        var node: Int32
        var index: Int32
        var isReply: Bool
        var tuple: ConntrackTuple
    }

    /// What a reused packet reports.
    struct Result: Sendable {
        var verdict: PathVerdict
        var delivered: FlowKey?
        var routedHops: Int
    }

    /// A kept result. A flow crosses one or two nodes: their hits are held inline, so reading
    /// an entry copies no array and retains nothing; a third node's and later go in `more`.
    struct Entry: Sendable {
        var valid = false
        var tcpFlags: UInt8 = 0
        var hitCount = 0
        var first: Hit
        var second: Hit
        var more: [Hit] = []
        var result: Result

        func hit(_ k: Int) -> Hit { k == 0 ? first : k == 1 ? second : more[k - 2] }
    }

    /// By tracked flow, original direction at even slots and reply direction at odd ones.
    private var entries: [Entry] = []

    /// Reuses, or not.
    ///
    /// - Complexity: O(*h*) for the *h* nodes the flow crosses (one or two); no allocation.
    /// Takes the packet's protocol and TCP flags only (what the trackers read): not the whole
    /// `Packet`, which the call would copy.
    mutating func lookup(flow: Int, reply: Bool, proto: IPProtocol, tcpFlags: UInt8, nodes: inout NodeStates, now: Double) -> Result? {
        let slot = flow * 2 + (reply ? 1 : 0)
        guard slot < entries.count, entries[slot].valid, entries[slot].tcpFlags == tcpFlags else { return nil }
        let count = entries[slot].hitCount
        for k in 0..<count {
            let h = entries[slot].hit(k)
            guard nodes[Int(h.node)].host.conntrack.isLive(slot: Int(h.index), now: now, holding: h.tuple) else {
                entries[slot].valid = false
                return nil
            }
        }
        // Each node's tracker sees the packet, in place; if one would change more than the
        // timeout, the nodes already moved on are put back and the packet takes the full walk.
        // (The undos of the first two nodes are held in locals.)
        var first: ConntrackEntry?, second: ConntrackEntry?, more: [ConntrackEntry] = []
        for k in 0..<count {
            let h = entries[slot].hit(k)
            guard let undo = nodes[Int(h.node)].host.conntrack.advance(Int(h.index), isReply: h.isReply, proto: proto,
                                                                        tcpFlags: tcpFlags, now: now) else {
                for j in 0..<k {
                    let g = entries[slot].hit(j)
                    nodes[Int(g.node)].host.conntrack.replace(Int(g.index), with: j == 0 ? first! : j == 1 ? second! : more[j - 2])
                }
                entries[slot].valid = false
                return nil
            }
            if k == 0 { first = undo } else if k == 1 { second = undo } else { more.append(undo) }
        }
        return entries[slot].result
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
            hits.append(Hit(node: Int32(v.node), index: Int32(i), isReply: isReply, tuple: v.tuple))
        }
        let entry = Entry(valid: true, tcpFlags: packet.tcpFlags, hitCount: hits.count, first: hits[0], second: hits.count > 1 ? hits[1] : hits[0],
                          more: hits.count > 2 ? Array(hits[2...]) : [],
                          result: Result(verdict: path.verdict, delivered: delivered, routedHops: routedHops))
        if slot >= entries.count {
            entries += Array(repeating: Entry(first: hits[0], second: hits[0], result: entry.result), count: slot + 1 - entries.count)
        }
        entries[slot] = entry
    }
}
