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
    struct Hit: Sendable {
        var node: Int
        var index: Int
        var isReply: Bool
        var tuple: ConntrackTuple
    }

    struct Entry: Sendable {
        var tcpFlags: UInt8
        var hits: [Hit]
        var verdict: PathVerdict
        var delivered: FlowKey?
        var routedHops: Int
    }

    /// By tracked flow, original direction at even slots and reply direction at odd ones.
    private var entries: [Entry?] = []

    /// Reuses, or not.
    ///
    /// - Complexity: O(*h*) for the *h* nodes the flow crosses (one or two).
    mutating func lookup(flow: Int, reply: Bool, packet: Packet, nodes: inout NodeStates, now: Double) -> Entry? {
        let slot = flow * 2 + (reply ? 1 : 0)
        guard slot < entries.count, let e = entries[slot], e.tcpFlags == packet.tcpFlags else { return nil }
        for h in e.hits where !nodes[h.node].host.conntrack.isLive(slot: h.index, now: now, holding: h.tuple) {
            entries[slot] = nil
            return nil
        }
        // Each node's tracker sees the packet, in place; if one would change more than the
        // timeout, the nodes already moved on are put back and the packet takes the full walk.
        // (A flow crosses one or two nodes: their undos are held in locals, no allocation.)
        var first: ConntrackEntry?, second: ConntrackEntry?, more: [ConntrackEntry] = []
        for (k, h) in e.hits.enumerated() {
            guard let undo = nodes[h.node].host.conntrack.advance(h.index, isReply: h.isReply, proto: packet.proto,
                                                                   tcpFlags: packet.tcpFlags, now: now) else {
                for (j, g) in e.hits.prefix(k).enumerated() {
                    nodes[g.node].host.conntrack.replace(g.index, with: j == 0 ? first! : j == 1 ? second! : more[j - 2])
                }
                entries[slot] = nil
                return nil
            }
            if k == 0 { first = undo } else if k == 1 { second = undo } else { more.append(undo) }
        }
        return e
    }

    /// Keeps `path`'s result for the flow's next packet in the same direction, when it may be
    /// reused; forgets the old one otherwise.
    mutating func store(flow: Int, reply: Bool, packet: Packet, path: DataplanePath, delivered: FlowKey?, routedHops: Int, nodes: NodeStates) {
        let slot = flow * 2 + (reply ? 1 : 0)
        if slot >= entries.count { entries += Array(repeating: nil, count: slot + 1 - entries.count) }
        entries[slot] = nil
        guard !path.consultedState, !path.visits.isEmpty, path.visits.allSatisfy(\.knownBefore) else { return }
        var hits: [Hit] = []
        hits.reserveCapacity(path.visits.count)
        for v in path.visits {
            guard let (i, isReply) = nodes[v.node].host.conntrack.lookup(v.tuple) else { return }
            hits.append(Hit(node: v.node, index: i, isReply: isReply, tuple: v.tuple))
        }
        entries[slot] = Entry(tcpFlags: packet.tcpFlags, hits: hits, verdict: path.verdict, delivered: delivered, routedHops: routedHops)
    }
}
