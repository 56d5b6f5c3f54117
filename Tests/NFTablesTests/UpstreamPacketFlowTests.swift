import Foundation
@testable import NFTables
import TestSupport
import Testing
import Wire

enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func text(_ name: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }
}

/// A packet flow as upstream's `runPacketFlowTests` states it (pkg/proxy/nftables
/// helpers_test.go): the endpoints every branch reaches ("ip:port, ip:port" in map order),
/// or DROP / REJECT, and whether the packet is masqueraded.
struct PacketFlow: CustomStringConvertible, Sendable {
    var name: String
    var source: String
    var proto: IPProtocol = .tcp
    var destination: String
    var port: UInt16
    var output: String
    var masq = false
    var description: String { name }
}

/// Upstream's test node addresses (`testNodeIPs`): what `fib … type local` sees.
let testNodeIPs: Set<IPAddress> = Set(["192.168.0.2", "192.168.1.2", "192.168.99.11", "2001:db8::1", "2001:db8:1::2"].map { try! IPAddress(parsing: $0) })

/// The walk upstream's nft tracer makes, through the engine: prerouting (filter at -110, then
/// nat), the DNAT applied, forward or input by whether the destination is local, then
/// postrouting; every numgen branch taken. Returns (output, masquerade) as upstream words them.
func flow(_ engine: NFTEngine, source: String, proto: IPProtocol = .tcp, destination: String, port: UInt16) -> (String, Bool) {
    let results = NFTChooser.enumerate { chooser -> (String, Bool) in
        var p = NFTPacket(source: try! IPAddress(parsing: source), destination: try! IPAddress(parsing: destination), proto: proto,
                          destinationPort: port, inInterface: NFTInterfaceName.pack("eth0"))
        var state = NFTDynamicState()
        var steps: [NFTStep]? = nil
        let pre = engine.run(hook: .prerouting, packet: &p, ct: .new, local: testNodeIPs, state: &state, chooser: &chooser, steps: &steps)
        if pre.verdict != .accept { return (pre.verdict == .drop ? "DROP" : "REJECT", false) }
        var endpoint: String?
        if case .dnat(let a, let port)? = pre.nat {
            if let a { p.destination = a }
            if let port { p.destinationPort = port }
            endpoint = SocketAddress(p.destination, port: p.destinationPort).description
        }
        let hook: NFTHook = testNodeIPs.contains(p.destination) ? .input : .forward
        let filter = engine.run(hook: hook, packet: &p, ct: .new, local: testNodeIPs, state: &state, chooser: &chooser, steps: &steps)
        if filter.verdict != .accept { return (filter.verdict == .drop ? "DROP" : "REJECT", false) }
        let post = engine.run(hook: .postrouting, packet: &p, ct: .new, local: testNodeIPs, state: &state, chooser: &chooser, steps: &steps)
        var masq = false
        if case .masquerade? = post.nat { masq = true }
        return (endpoint ?? "ACCEPT", masq)
    }
    let outputs = results.map(\.0.0)
    let masq = results.contains { $0.0.1 }
    if Set(outputs).count == 1 { return (outputs[0], masq) }
    return (outputs.joined(separator: ", "), masq)
}

/// Packet flows through upstream's TestOverallNFTablesRules ruleset (kubernetes 81810de6),
/// with the outcomes upstream's nft tracer gives for its services: svc1 ClusterIP, svc2
/// LoadBalancer with Local policy and no local endpoint, svc3 NodePort, svc4 ExternalIP with
/// two endpoints, svc5 LoadBalancer with source ranges and affinity, svc6 without endpoints.
let overallFlows: [PacketFlow] = [
    PacketFlow(name: "pod to svc1 cluster IP", source: "10.0.0.2", destination: "172.30.0.41", port: 80, output: "10.180.0.1:80"),
    PacketFlow(name: "hairpin to svc1 cluster IP", source: "10.180.0.1", destination: "172.30.0.41", port: 80, output: "10.180.0.1:80", masq: true),
    PacketFlow(name: "external to svc1 cluster IP is masqueraded", source: "203.0.113.2", destination: "172.30.0.41", port: 80, output: "10.180.0.1:80", masq: true),
    PacketFlow(name: "svc1 cluster IP, wrong port", source: "10.0.0.2", destination: "172.30.0.41", port: 443, output: "REJECT"),
    PacketFlow(name: "svc1 cluster IP, UDP", source: "10.0.0.2", proto: .udp, destination: "172.30.0.41", port: 80, output: "REJECT"),
    PacketFlow(name: "unallocated cluster IP", source: "10.0.0.2", destination: "172.30.0.50", port: 80, output: "DROP"),
    PacketFlow(name: "pod to svc2 cluster IP", source: "10.0.0.2", destination: "172.30.0.42", port: 80, output: "10.180.0.2:80"),
    PacketFlow(name: "external to svc2 LB IP, no local endpoints", source: "203.0.113.2", destination: "1.2.3.4", port: 80, output: "DROP"),
    PacketFlow(name: "pod to svc2 LB IP short-circuits", source: "10.0.0.2", destination: "1.2.3.4", port: 80, output: "10.180.0.2:80"),
    PacketFlow(name: "external to svc2 external IP, no local endpoints", source: "203.0.113.2", destination: "192.168.99.22", port: 80, output: "DROP"),
    PacketFlow(name: "external to svc2 NodePort, no local endpoints", source: "203.0.113.2", destination: "192.168.0.2", port: 3001, output: "DROP"),
    PacketFlow(name: "node to svc2 NodePort is masqueraded and short-circuited", source: "192.168.0.2", destination: "192.168.0.2", port: 3001, output: "10.180.0.2:80", masq: true),
    PacketFlow(name: "external to svc3 NodePort", source: "203.0.113.2", destination: "192.168.0.2", port: 3003, output: "10.180.0.3:80", masq: true),
    PacketFlow(name: "NodePort on an address not in nodeport-ips", source: "203.0.113.2", destination: "192.168.1.2", port: 3003, output: "ACCEPT"),
    PacketFlow(name: "pod to svc4 cluster IP, two endpoints", source: "10.0.0.2", destination: "172.30.0.44", port: 80, output: "10.180.0.4:80, 10.180.0.5:80"),
    PacketFlow(name: "external to svc4 external IP", source: "203.0.113.2", destination: "192.168.99.33", port: 80, output: "10.180.0.4:80, 10.180.0.5:80", masq: true),
    PacketFlow(name: "allowed external to svc5 LB IP", source: "203.0.113.2", destination: "5.6.7.8", port: 80, output: "10.180.0.3:80", masq: true),
    PacketFlow(name: "blocked external to svc5 LB IP", source: "203.0.113.130", destination: "5.6.7.8", port: 80, output: "DROP"),
    PacketFlow(name: "svc5 NodePort bypasses LoadBalancerSourceRanges", source: "203.0.113.130", destination: "192.168.0.2", port: 3002, output: "10.180.0.3:80", masq: true),
    PacketFlow(name: "pod to svc5 cluster IP", source: "10.0.0.2", destination: "172.30.0.45", port: 80, output: "10.180.0.3:80"),
    PacketFlow(name: "pod to svc6 cluster IP without endpoints", source: "10.0.0.2", destination: "172.30.0.46", port: 80, output: "REJECT"),
    PacketFlow(name: "pod to an address outside the cluster", source: "10.0.0.2", destination: "8.8.8.8", port: 53, output: "ACCEPT"),
]

@Suite struct UpstreamPacketFlowTests {
    /// The same flows through the three texts of one ruleset: knftables' transaction, and
    /// what the real nft 1.0.6 lists after loading it (with and without handles).
    @Test(arguments: [UpstreamOverall.path, "upstream-overall.list", "upstream-overall.list-handles"])
    func overallRulesetFlowsMatchUpstream(file: String) throws {
        let engine = NFTEngine(try NFTRuleset.parse(Fixtures.text(file), file: file))
        for f in overallFlows {
            let (output, masq) = flow(engine, source: f.source, proto: f.proto, destination: f.destination, port: f.port)
            #expect(output == f.output, "\(file): \(f.name)")
            #expect(masq == f.masq, "\(file): \(f.name): masquerade")
        }
    }
}
