import IPVS
import Netfilter
import Wire

/// A node's IPVS (one table per IP family, as kube-proxy syncs them; the kernel keeps both in
/// one table, keyed by family, so lookups are the same) plugged into the Netfilter tracer's
/// hooks. Every answer carries how it was reached: the connection entry, the persistence
/// template, or the scheduler's state and why it chose as it did.
public struct IPVSDirector: IPVSHook {
    public private(set) var tables: [IPVSTable] = []

    /// The sysctls kube-proxy's IPVS proxier sets (pkg/proxy/ipvs/proxier.go: NewProxier):
    /// expire_nodest_conn=1 and expire_quiescent_template=1 (and conntrack=1, which the tracer
    /// models by keeping IPVS connections tracked).
    public static let kubeProxySysctls = IPVSSysctls(expireNodestConn: true, expireQuiescentTemplate: true)

    public init(tables: [IPVSTable] = []) { self.tables = tables }

    /// Adds one family's table (a dual-stack node has two).
    public mutating func add(_ table: IPVSTable) { tables.append(table) }

    public var virtualAddresses: [IPAddress] {
        tables.flatMap { t in t.services.filter { $0.key.fwmark == 0 }.map(\.key.address) }
    }

    private func tableIndex(_ family: IPFamily) -> Int? {
        tables.firstIndex { t in t.services.contains { $0.key.family == family } }
    }

    public mutating func request(_ p: Packet) -> IPVSDecision {
        // ip_vs_in_hook: only protocols IPVS balances (ICMP to a VIP goes to the local stack).
        guard p.proto == .tcp || p.proto == .udp || p.proto == .sctp, let ti = tableIndex(p.destination.family) else {
            return .pass(note: nil)
        }
        let ip = IPVSPacket(protocol: p.proto, source: p.source, sourcePort: p.sourcePort, destination: p.destination,
                            destinationPort: p.destinationPort, tcpFlags: TCPFlags(rawValue: p.tcpFlags), fwmark: p.mark, length: 60)
        let table = tables[ti]
        let existing = table.connectionIndex(ip.connectionKey)
        let si = table.findService(ip)
        let before: VirtualService? = si >= 0 ? table.services[Int(si)] : nil
        let input = ScheduleInput(sourceFold: KernelHash.fold(p.source), sourcePort: p.sourcePort,
                                  destinationFold: KernelHash.fold(p.destination))
        let why = before?.explainScheduling(input, hash: table.hashVariant)
        let verdict = tables[ti].input(ip)
        let service = before.map { describe($0) }
        switch verdict {
        case .passed:
            guard let service else { return .pass(note: nil) }
            return .pass(note: "\(service): a TCP packet that is not a SYN and has no IPVS connection is not scheduled; it goes to the local stack")
        case .dropped:
            return .drop(reason: "the IPVS connection's real server was deleted (expire_nodest_conn=0)")
        case .noDestination:
            return .noDestination(explanation: [service ?? "virtual service", why.map { "scheduler: \($0)" } ?? ""].filter { !$0.isEmpty })
        case .forwarded(let ci, let scheduled):
            let t = tables[ti]
            let e = t.entries[Int(ci)]
            let real = e.destinationAddress.joined(port: e.destinationPort)
            var lines = [service ?? "virtual service \(p.destination.joined(port: p.destinationPort))"]
            if scheduled {
                if before?.flags.contains(.persistent) == true {
                    lines.append("persistence: no valid template for this client's network, so the scheduler runs")
                }
                lines.append("scheduler: " + (why ?? "chose"))
                lines.append("chose real server \(real) (new IPVS connection, \(stateName(e)))")
            } else if existing >= 0 && existing == ci {
                lines.append("existing IPVS connection from \(p.source.joined(port: p.sourcePort)) pins real server \(real) (\(stateName(e))); no scheduling")
            } else {
                let control = e.control >= 0 ? t.entries[Int(e.control)] : nil
                let net = control.map { "\($0.key.client)" } ?? "this client"
                lines.append("persistence: the template for \(net) pins real server \(real) (session affinity, timeout \(before?.config.timeout ?? 0) s); no scheduling")
            }
            return .forward(to: e.destinationAddress, port: e.destinationPort, explanation: lines)
        }
    }

    public mutating func reply(_ p: Packet) -> IPVSReply? {
        guard p.proto == .tcp || p.proto == .udp || p.proto == .sctp, let ti = tableIndex(p.source.family),
              let ci = tables[ti].replyConnection(protocol: p.proto, server: p.source, serverPort: p.sourcePort,
                                                  client: p.destination, clientPort: p.destinationPort),
              tables[ti].output(connection: ci, flags: TCPFlags(rawValue: p.tcpFlags), length: 60) else { return nil }
        let e = tables[ti].entries[Int(ci)]
        let virtual = e.key.virtual.joined(port: e.key.virtualPort)
        return IPVSReply(source: e.key.virtual, sourcePort: e.key.virtualPort,
                         explanation: "reply on IPVS connection \(e.key.client.joined(port: e.key.clientPort)) → \(virtual) → \(p.source.joined(port: p.sourcePort)): source \(p.source.joined(port: p.sourcePort)) → \(virtual) (\(stateName(e)))")
    }

    /// `TCP 10.96.0.10:80 rr (3 real servers)`, as ipvsadm -Ln heads a service.
    private func describe(_ s: VirtualService) -> String {
        let persist = s.flags.contains(.persistent) ? " persistent \(s.config.timeout)" : ""
        return "virtual service \(s.key.protocol.name.uppercased()) \(s.key.address.joined(port: s.key.port)) \(s.scheduler.rawValue)\(persist) (\(s.order.count) real server\(s.order.count == 1 ? "" : "s"))"
    }

    private func stateName(_ e: ConnectionEntry) -> String {
        e.tcpState.map { "state \($0.name)" } ?? "\(IPProtocol(rawValue: e.key.protocol).name.uppercased())"
    }
}
