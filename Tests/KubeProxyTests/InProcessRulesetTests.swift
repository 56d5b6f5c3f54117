import Testing
@testable import Cluster
@testable import KubeProxy
@testable import Netfilter
import Wire

/// The compiled rules handed to the engine in process must behave exactly as the same rules
/// written out and parsed back.
@Suite struct InProcessRulesetTests {
    @Test func inProcessAndParsedRulesTraceIdentically() throws {
        let cluster = try ClusterBuilder.load(paths: [])
        var rng = SeededGenerator(seed: 11)
        let destinations = cluster.services.flatMap { s in (s.clusterIPs + s.externalIPs + s.loadBalancerIPs).flatMap { ip in s.ports.map { (ip, $0.port, $0.protocol) } } }
            + cluster.services.flatMap { s in s.ports.compactMap { p in p.nodePort.map { (cluster.nodes[1].internalIPs[0], $0, p.protocol) } } }
        let sources = ["10.244.1.2", "10.244.2.2", "172.18.0.2", "203.0.113.5", "192.0.2.1", "127.0.0.1"].map { try! IPAddress(parsing: $0) }
        for node in cluster.nodes {
            let ruleset = IPTablesCompiler.compile(cluster, config: ProxierConfig.forNode(node, in: cluster, family: .ipv4))
            let built = try ruleset.netfilterRuleset(source: node.name)
            let parsed = try Ruleset.parse(text: ruleset.nodeRestoreText(), file: node.name)
            let host = Host.simple(localAddresses: node.internalIPs)
            for _ in 0..<200 {
                let (dst, port, proto) = destinations[Int.random(in: 0..<destinations.count, using: &rng)]
                let src = sources[Int.random(in: 0..<sources.count, using: &rng)]
                let packet = Packet(source: src, destination: dst, proto: proto, sourcePort: 40000, destinationPort: port,
                                    inInterface: node.internalIPs.contains(src) ? nil : (Bool.random(using: &rng) ? "eth0" : "cni0"))
                let a = Tracer(ruleset: built).trace(packet: packet, host: host, options: TraceOptions(allPaths: true))
                let b = Tracer(ruleset: parsed).trace(packet: packet, host: host, options: TraceOptions(allPaths: true))
                #expect(a.paths.map(\.verdict) == b.paths.map(\.verdict), "\(node.name) \(packet.summary)")
                #expect(a.paths.map(\.dnat) == b.paths.map(\.dnat))
                #expect(a.paths.map(\.probability) == b.paths.map(\.probability))
                #expect(a.paths.map { $0.steps.map(\.action) } == b.paths.map { $0.steps.map(\.action) })
                #expect(a.paths.map { $0.steps.map(\.text) } == b.paths.map { $0.steps.map(\.text) })
            }
        }
    }

    @Test func aRuleTheEngineCannotReadIsAnErrorNamingIt() {
        var table = Ruleset.TableRules(name: .nat, chains: ["KUBE-X"], rules: [.init(chain: "KUBE-X", words: ["-m", "frobnicate", "-j", "ACCEPT"])])
        #expect(throws: RulesetParseError.self) { try Ruleset.build([table], source: "compiled") }
        table.rules = [.init(chain: "KUBE-X", words: ["-j", "KUBE-MISSING"])]
        do {
            _ = try Ruleset.build([table], source: "compiled")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "compiled:1: jump to a chain that does not exist in table nat: 'KUBE-MISSING'")
        }
    }
}
