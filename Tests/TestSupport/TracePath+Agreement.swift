import Netfilter

extension TracePath {
    /// Everything a path reports, steps included (rule numbers and actions), and the state it
    /// leaves on the host: what a compiled or shared evaluation must give exactly as the
    /// linear reference does.
    public func agrees(with other: TracePath) -> Bool {
        probability == other.probability && verdict == other.verdict && decidedBy == other.decidedBy && reason == other.reason
            && dnat == other.dnat && snat == other.snat && masquerade == other.masquerade && deliveredTo == other.deliveredTo
            && finalPacket == other.finalPacket && steps == other.steps && host.recent == other.host.recent
            && host.nthCounters == other.host.nthCounters && host.conntrack == other.host.conntrack
    }
}
