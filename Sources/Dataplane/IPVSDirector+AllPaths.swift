import IPVS
import Netfilter
import Wire

extension IPVSDirector {
    /// Every real server a new connection of `p` could be scheduled to, each taken by a copy of
    /// the director whose service has only that server at a positive weight for the one
    /// decision (then its weights are put back), with its share: its weight over the sum. For
    /// hashing schedulers (sh, dh, mh) the share is over all clients, as each server owns a
    /// part of the hash space in proportion to its weight.
    ///
    /// nil when the packet belongs to an existing connection or persistence template (no
    /// choice), is not for a virtual service, or there are fewer than two servers to choose.
    public mutating func requestEveryServer(_ p: Packet, explain: Bool) -> [(decision: IPVSDecision, share: Double, hook: any IPVSHook)]? {
        guard p.proto == .tcp || p.proto == .udp || p.proto == .sctp, let ti = tableIndex(p.destination.family) else { return nil }
        let ip = IPVSPacket(protocol: p.proto, source: p.source, sourcePort: p.sourcePort, destination: p.destination,
                            destinationPort: p.destinationPort, tcpFlags: TCPFlags(rawValue: p.tcpFlags), fwmark: p.mark, length: 60)
        let si = tables[ti].findService(ip)
        guard si >= 0 else { return nil }
        let ref = ServiceRef(table: ti, service: si)
        let table = touched[ref] ?? tables[ti].extracting(service: si)
        // An existing connection or a persistence template decides alone.
        if table.connectionIndex(ip.connectionKey) >= 0 { return nil }
        if table.services[0].flags.contains(.persistent) && touched[ref] != nil { return nil }
        let service = table.services[0]
        let live = service.order.map { service.servers[Int($0)] }.filter { $0.available && $0.weight > 0 }
        guard live.count > 1 else { return nil }
        let total = Double(live.reduce(0) { $0 + Int($1.weight) })
        var out: [(decision: IPVSDecision, share: Double, hook: any IPVSHook)] = []
        for chosen in live {
            var copy = self
            var t = table
            for other in live where other.address != chosen.address || other.port != chosen.port {
                try? t.editDestination(service: 0, other.config(weight: 0))
            }
            copy.touched[ref] = t
            let decision = copy.request(p, explain: explain)
            if var after = copy.touched[ref] {
                for other in live where other.address != chosen.address || other.port != chosen.port {
                    try? after.editDestination(service: 0, other.config(weight: other.weight))
                }
                copy.touched[ref] = after
            }
            out.append((decision, Double(chosen.weight) / total, copy))
        }
        return out
    }
}

extension RealServer {
    /// This server's `ipvsadm -e` settings, with `weight`.
    func config(weight: Int32) -> DestinationConfig {
        DestinationConfig(address: address, port: port, weight: weight, upperThreshold: upperThreshold,
                          lowerThreshold: lowerThreshold, forward: forward)
    }
}
