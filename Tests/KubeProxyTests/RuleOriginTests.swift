import Testing
@testable import Cluster
@testable import KubeProxy
@testable import Netfilter
import Wire

/// Every rule kdp compiles says which Service port it serves and why it exists, and that origin
/// reaches the rules the Netfilter engine evaluates.
@Suite struct RuleOriginTests {
    static let web = ServicePortName(namespace: "default", name: "web", port: "http")

    @Test func theDemosClusterIPJumpServesDefaultWebHTTP() throws {
        let cluster = try ClusterBuilder.load(paths: [])
        let node = cluster.nodes[1]
        let compiled = IPTablesCompiler.compile(cluster, config: ProxierConfig.forNode(node, in: cluster, family: .ipv4))
        let svc = try #require(cluster.service(namespace: "default", name: "web"))
        let info = try #require(ServicePortInfo(service: svc, port: svc.ports[0], family: .ipv4))
        let jump = try #require(compiled.nat.rules.first { $0.chain == .services && $0.words.last == info.clusterChain.rawValue })
        #expect(jump.origin == RuleOrigin(.clusterIP, servicePort: Self.web))

        // The same origin on the rule the engine evaluates, built in process.
        let built = try compiled.netfilterRuleset(source: node.name)
        let rules = try #require(built.table(.nat)?.chain("KUBE-SERVICES")?.rules)
        let engineJump = try #require(rules.first { $0.target == .jump(info.clusterChain.rawValue) })
        #expect(engineJump.origin == RuleOrigin(.clusterIP, servicePort: Self.web))
        // The endpoint chains: selection in KUBE-SVC, hairpin and DNAT in each KUBE-SEP.
        let svcRules = try #require(built.table(.nat)?.chain(info.clusterChain.rawValue)?.rules)
        #expect(svcRules.filter { if case .jump(let c) = $0.target { c.hasPrefix("KUBE-SEP-") } else { false } }
            .allSatisfy { $0.origin == RuleOrigin(.endpointSelection, servicePort: Self.web) })
        let dnats = compiled.nat.rules.filter { $0.words.contains("DNAT") && $0.origin?.servicePort == Self.web }
        #expect(dnats.count == 3 && dnats.allSatisfy { $0.origin?.purpose == .endpointDNAT })
    }

    @Test func everyCompiledRuleHasAnOriginInBothModesAndParsedRulesHaveNone() throws {
        let cluster = try ClusterBuilder.load(paths: [])
        for node in cluster.nodes {
            let config = ProxierConfig.forNode(node, in: cluster, family: .ipv4)
            let iptables = IPTablesCompiler.compile(cluster, config: config)
            let ipvs = IPVSModeCompiler.compile(cluster, config: config)
            for rs in [try iptables.netfilterRuleset(source: node.name), try ipvs.netfilterRuleset(source: node.name)] {
                let rules = rs.tables.flatMap { $0.chains.flatMap(\.rules) }
                #expect(!rules.isEmpty && rules.allSatisfy { $0.origin != nil }, "\(node.name)")
            }
            let parsed = try Ruleset.parse(text: iptables.nodeRestoreText(), file: node.name)
            #expect(parsed.tables.flatMap { $0.chains.flatMap(\.rules) }.allSatisfy { $0.origin == nil })
        }
    }

    @Test func dropAndRejectRulesSayWhoseTrafficTheyStop() throws {
        let cluster = try ClusterBuilder.load(paths: [])
        let controlPlane = cluster.nodes[0]
        let compiled = IPTablesCompiler.compile(cluster, config: ProxierConfig.forNode(controlPlane, in: cluster, family: .ipv4))
        let lb = ServicePortName(namespace: "default", name: "web-lb", port: "http")
        // web-lb has externalTrafficPolicy Local and no endpoint on the control plane.
        let drops = compiled.filter.rules.filter { $0.origin?.servicePort == lb && $0.words.last == "DROP" }
        #expect(drops.contains { $0.chain == .externalServices && $0.origin?.purpose == .noLocalEndpoints(.external) })
        #expect(drops.contains { $0.chain == .proxyFirewall && $0.origin?.purpose == .loadBalancerFirewall })
        #expect(compiled.jumps.allSatisfy { $0.origin == RuleOrigin(.hookJump) })
    }

    @Test func servicePortNamesPrintAsKubeProxyDoes() {
        #expect(Self.web.description == "default/web:http")
        #expect(ServicePortName(namespace: "ns", name: "svc", port: "").description == "ns/svc")
    }
}
