import Netfilter
import Wire

/// What replay asks of a node's conntrack table.
extension ConntrackTable {
    /// The table without the connection `tuple` belongs to (a packet the bridge dropped after
    /// netfilter had confirmed it).
    func removing(_ tuple: ConntrackTuple) -> ConntrackTable {
        var t = self
        if let (i, _) = t.lookup(tuple) { t.remove(at: i) }
        return t
    }
}
