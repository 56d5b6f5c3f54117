import Netfilter
import Wire

/// What replay's flow cache asks of a node's conntrack table.
extension ConntrackTable {
    /// Whether slot `index` still holds the live (unexpired) connection `tuple` belongs to.
    func isLive(_ index: Int, tuple: ConntrackTuple, now: Double) -> Bool {
        guard isLive(slot: index, now: now) else { return false }
        let e = self[index]
        return e.original == tuple || e.reply == tuple
    }

    /// The entry at `index` after one more packet of its connection, as conntrackIn would leave
    /// it (TCP's state machine, UDP's and ICMP's timeouts, SEEN_REPLY), when nothing but its
    /// timeout changes; nil when the packet would change more (then it takes the full walk).
    func advanced(_ index: Int, isReply: Bool, proto: IPProtocol, tcpFlags: UInt8, now: Double) -> ConntrackEntry? {
        let before = self[index]
        var e = before
        if proto == .tcp {
            guard e.tcpState != .none, e.tcpPacket(flags: tcpFlags, reply: isReply, now: now) == .accepted else { return nil }
        } else {
            e.refresh(now: now)
        }
        if isReply { e.seenReply = true }
        // What a walk reads of the entry: its state, its status bits, its NAT binding and mark.
        // The tracker's own bookkeeping (the last packet's kind and direction, the timeout) may
        // change: it is applied all the same, but it decides nothing on the path.
        let same = e.tcpState == before.tcpState && e.assured == before.assured && e.seenReply == before.seenReply
            && e.mark == before.mark && e.original == before.original && e.reply == before.reply
        return same ? e : nil
    }

    /// The table without the connection `tuple` belongs to (a packet the bridge dropped after
    /// netfilter had confirmed it).
    func removing(_ tuple: ConntrackTuple) -> ConntrackTable {
        var t = self
        if let (i, _) = t.lookup(tuple) { t.remove(at: i) }
        return t
    }
}
