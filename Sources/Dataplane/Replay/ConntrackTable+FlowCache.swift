import Netfilter

/// What replay's flow cache asks of a node's conntrack table.
extension ConntrackTable {
    /// Whether the entry at `index` is still the connection `tuple` belongs to.
    func isLive(_ index: Int, tuple: ConntrackTuple, now: Double) -> Bool {
        guard index < entries.count else { return false }
        let e = entries[index]
        return e.original == tuple || e.reply == tuple
    }

    /// Whether a packet with `tcpFlags` in this direction would change the entry (its first
    /// reply sets SEEN_REPLY).
    func wouldChange(_ index: Int, isReply: Bool, tcpFlags: UInt8, now: Double) -> Bool {
        isReply && !entries[index].seenReply
    }

    /// The kernel refreshes an entry's timeout with every packet (nf_ct_refresh_acct).
    mutating func refresh(_ index: Int, isReply: Bool, tcpFlags: UInt8, now: Double) {}
}
