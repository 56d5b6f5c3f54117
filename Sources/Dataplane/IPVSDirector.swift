import IPVS
import Netfilter
import Wire

/// A node's IPVS (one table per IP family, as kube-proxy syncs them; the kernel keeps both in
/// one table, keyed by family, so lookups are the same) plugged into the Netfilter tracer's
/// hooks. Every answer carries how it was reached: the connection entry, the persistence
/// template, or the scheduler's state and why it chose as it did.
public struct IPVSDirector: IPVSHook {
    /// The node's tables as the sync left them; traffic never changes them.
    public private(set) var tables: [IPVSTable] = []
    var families: [Set<IPFamily>] = []
    /// Each service traffic has reached, by (table, service): its own small table holding the
    /// service's state and connections (see `IPVSTable.extracting`), so that copying the
    /// director, as every traced path does, costs a few small tables, not the node's whole one.
    var touched: [ServiceRef: IPVSTable] = [:]
    /// The first clock reading (seconds) and the clock since then in milliseconds: an IPVS
    /// table counts milliseconds from its creation.
    private var epoch: Double?
    private var clock: Int64 = 0

    struct ServiceRef: Hashable, Sendable {
        var table: Int
        var service: Int32
    }

    /// The sysctls kube-proxy's IPVS proxier sets (pkg/proxy/ipvs/proxier.go: NewProxier):
    /// expire_nodest_conn=1 and expire_quiescent_template=1 (and conntrack=1, which the tracer
    /// models by keeping IPVS connections tracked).
    public static let kubeProxySysctls = IPVSSysctls(expireNodestConn: true, expireQuiescentTemplate: true)

    public init(tables: [IPVSTable] = []) {
        for t in tables { add(t) }
    }

    /// Adds one family's table (a dual-stack node has two).
    public mutating func add(_ table: IPVSTable) {
        tables.append(table)
        families.append(Set(table.services.map(\.key.family)))
        var ports: [IPAddress: [PortRange]] = [:]
        for t in tables { for s in t.services where s.key.fwmark == 0 { ports[s.key.address, default: []].append(PortRange(s.key.port)) } }
        addressConstants = SharedHeaderConstants(destinationPrefixes: ports.keys.map { Prefix(containing: $0, length: $0.family.bitWidth) })
        portConstants = ports.mapValues { SharedHeaderConstants(destinationPorts: $0) }
    }

    /// Every virtual address (a lookup compares every packet's destination with them), and
    /// each address's ports (compared only for that destination).
    private var addressConstants = SharedHeaderConstants.none
    private var portConstants: [IPAddress: SharedHeaderConstants] = [:]

    public func headerConstants(for packet: Packet) -> [SharedHeaderConstants] {
        [addressConstants] + (portConstants[packet.destination].map { [$0] } ?? [])
    }

    public var virtualAddresses: [IPAddress] {
        tables.flatMap { t in t.services.filter { $0.key.fwmark == 0 }.map(\.key.address) }
    }

    func tableIndex(_ family: IPFamily) -> Int? { families.firstIndex { $0.contains(family) } }

    public mutating func request(_ p: Packet, explain: Bool) -> IPVSDecision {
        // ip_vs_in_hook: only protocols IPVS balances (ICMP to a VIP goes to the local stack).
        guard p.proto == .tcp || p.proto == .udp || p.proto == .sctp, let ti = tableIndex(p.destination.family) else {
            return .pass(note: nil)
        }
        let ip = IPVSPacket(protocol: p.proto, source: p.source, sourcePort: p.sourcePort, destination: p.destination,
                            destinationPort: p.destinationPort, tcpFlags: TCPFlags(rawValue: p.tcpFlags), fwmark: p.mark, length: 60)
        let si = tables[ti].findService(ip)
        guard si >= 0 else { return .pass(note: nil) }
        let ref = ServiceRef(table: ti, service: si)
        var table = touched.removeValue(forKey: ref) ?? tables[ti].extracting(service: si)
        if table.now < clock { table.advance(to: clock) }
        defer { touched[ref] = table }
        let existing = table.connectionIndex(ip.connectionKey)
        // The service's snapshot (built from the table's flat store, allocating) only to explain.
        let before = explain ? table.services[0] : nil
        let input = ScheduleInput(sourceFold: KernelHash.fold(p.source), sourcePort: p.sourcePort,
                                  destinationFold: KernelHash.fold(p.destination))
        let why = before?.explainScheduling(input, hash: table.hashVariant) ?? ""
        let verdict = table.input(ip)
        let service = before.map(describe) ?? ""
        switch verdict {
        case .passed:
            return .pass(note: "\(service): a TCP packet that is not a SYN and has no IPVS connection is not scheduled; it goes to the local stack")
        case .dropped:
            return .drop(reason: "the IPVS connection's real server was deleted (expire_nodest_conn=0)")
        case .noDestination:
            return .noDestination(explanation: [service, "scheduler: \(why)"])
        case .forwarded(let ci, let scheduled):
            let e = table.entries[Int(ci)]
            guard let before else { return .forward(to: e.destinationAddress, port: e.destinationPort, explanation: []) }
            let real = e.destinationAddress.joined(port: e.destinationPort)
            var lines = [service]
            if scheduled {
                if before.flags.contains(.persistent) {
                    lines.append("persistence: no valid template for this client's network, so the scheduler runs")
                }
                lines.append("scheduler: " + why)
                lines.append("chose real server \(real) (new IPVS connection, \(stateName(e)))")
            } else if existing >= 0 && existing == ci {
                lines.append("existing IPVS connection from \(p.source.joined(port: p.sourcePort)) pins real server \(real) (\(stateName(e))); no scheduling")
            } else {
                let control = e.control >= 0 ? table.entries[Int(e.control)] : nil
                let net = control.map { "\($0.key.client)" } ?? "this client"
                lines.append("persistence: the template for \(net) pins real server \(real) (session affinity, timeout \(before.config.timeout) s); no scheduling")
            }
            return .forward(to: e.destinationAddress, port: e.destinationPort, explanation: lines)
        }
    }

    public mutating func advanceClock(to seconds: Double) {
        let start = epoch ?? seconds
        epoch = start
        let t = Int64((seconds - start) * 1000)
        guard t > clock else { return }
        clock = t
        for (ref, var table) in touched {
            touched[ref] = nil
            table.advance(to: t)
            touched[ref] = table
        }
    }

    public mutating func reply(_ p: Packet, explain: Bool) -> IPVSReply? {
        guard p.proto == .tcp || p.proto == .udp || p.proto == .sctp else { return nil }
        // ip_vs_conn_out_get over every service's connections (a trace touches a few).
        for (ref, var table) in touched {
            guard let ci = table.replyConnection(protocol: p.proto, server: p.source, serverPort: p.sourcePort,
                                                 client: p.destination, clientPort: p.destinationPort) else { continue }
            touched[ref] = nil
            let masq = table.output(connection: ci, flags: TCPFlags(rawValue: p.tcpFlags), length: 60)
            touched[ref] = table
            guard masq else { return nil }
            return reply(p, table.entries[Int(ci)], explain: explain)
        }
        return nil
    }

    private func reply(_ p: Packet, _ e: ConnectionEntry, explain: Bool) -> IPVSReply {
        guard explain else { return IPVSReply(source: e.key.virtual, sourcePort: e.key.virtualPort, explanation: "") }
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
