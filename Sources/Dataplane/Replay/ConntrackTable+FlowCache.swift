import Netfilter
import Wire

/// What replay's flow cache asks of a node's conntrack table.
extension ConntrackTable {
    /// Moves the entry at `index` on by one more packet of its connection, in place, as
    /// conntrackIn would (TCP's state machine, UDP's and ICMP's timeouts, SEEN_REPLY), when
    /// nothing but its timeout and the tracker's bookkeeping changes; returns the entry as it
    /// was, for the caller to put back if another node refuses. When the packet would change
    /// more, the entry is left as it was and the result is nil (the packet takes the full walk).
    ///
    /// - Complexity: O(1); one copy of the entry (the undo), none of the table.
    mutating func advance(_ index: Int, isReply: Bool, proto: IPProtocol, tcpFlags: UInt8, now: Double) -> ConntrackEntry? {
        var undo: ConntrackEntry?
        update(index) { e in
            let before = e
            if proto == .tcp {
                guard e.tcpState != .none, e.tcpPacket(flags: tcpFlags, reply: isReply, now: now) == .accepted else {
                    e = before
                    return
                }
            } else {
                e.refresh(now: now)
            }
            if isReply { e.seenReply = true }
            // What a walk reads of the entry: its state, its status bits, its NAT binding and
            // mark (the tuples never change here). The tracker's own bookkeeping (the last
            // packet's kind and direction, the timeout) may change: it decides nothing on the path.
            if e.tcpState == before.tcpState && e.assured == before.assured && e.seenReply == before.seenReply && e.mark == before.mark {
                undo = before
            } else {
                e = before
            }
        }
        return undo
    }

    /// The table without the connection `tuple` belongs to (a packet the bridge dropped after
    /// netfilter had confirmed it).
    func removing(_ tuple: ConntrackTuple) -> ConntrackTable {
        var t = self
        if let (i, _) = t.lookup(tuple) { t.remove(at: i) }
        return t
    }
}
