import Foundation
import Testing
@testable import Cluster
@testable import KubeProxy
@testable import Netfilter
import Wire

/// The ipset store IPVS mode hands the Netfilter engine is built from typed members, and equals
/// what parsing its own `ipset save` text gives: same sets, same members, same order.
@Suite struct IPSetStoreTests {
    static let mixed = """
    kind: Topology
    cluster:
      clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
      serviceCIDR: 10.96.0.0/12,fd00:10:96::/112
      nodeNetwork: 172.18.0.0/16,fd00:18::/64
    nodes: [{name: n1}, {name: n2}]
    pods:
      - {name: a1, node: n1, labels: {app: a}, ports: [{name: http, containerPort: 8080}]}
      - {name: a2, node: n2, labels: {app: a}, ports: [{name: http, containerPort: 8080}]}
    services:
      - {name: lb, type: LoadBalancer, ipFamilyPolicy: RequireDualStack, externalTrafficPolicy: Local,
         loadBalancerIPs: [198.51.100.2, "2001:db8::2"], externalIPs: [192.0.2.10],
         loadBalancerSourceRanges: [0.0.0.0/0, 203.0.113.7/32, 203.0.113.0/24, "2001:db8:1::/48"],
         selector: {app: a}, ports: [{name: http, port: 443, targetPort: http}, {name: s, protocol: SCTP, port: 9000}, {name: u, protocol: UDP, port: 53}]}
    """

    func expectStoresAgree(_ cluster: Cluster, _ label: String) throws {
        for node in cluster.nodes {
            for family in cluster.settings.families where node.internalIP(family) != nil {
                let r = IPVSModeCompiler.compile(cluster, config: ProxierConfig.forNode(node, in: cluster, family: family))
                let parsed = try IPSetStore.parse(ipsetSave: r.ipsetSaveText())
                let built = r.ipsetStore()
                #expect(built == parsed, "\(label) \(node.name) \(family.rawValue)")
                #expect(built.sets.values.contains { !$0.members.isEmpty })
            }
        }
    }

    @Test func theShippedTopologiesStoresEqualTheirParsedSaveText() throws {
        let dir = repositoryRoot.appendingPathComponent("topologies")
        for name in ["demo.yaml", "ha-cluster.yaml"] {
            try expectStoresAgree(try ClusterBuilder.load(paths: [dir.appendingPathComponent(name).path]), name)
        }
    }

    @Test func sourceRangesSCTPAndBothFamiliesStoreAsTheyParse() throws {
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: Self.mixed, file: "t.yaml"))
        try expectStoresAgree(cluster, "mixed")
        let r = IPVSModeCompiler.compile(cluster, config: ProxierConfig.forNode(cluster.nodes[0], in: cluster, family: .ipv4))
        let cidrs = try #require(r.ipsetStore().sets["KUBE-LOAD-BALANCER-SOURCE-CIDR"])
        // 0.0.0.0/0 is refused by the kernel; /32 is a host; /24 a network; one each per port.
        #expect(cidrs.members.count == 6)
        #expect(Set(cidrs.members.map { $0.last!.description }) == ["203.0.113.0/24", "203.0.113.7/32"])
        #expect(Set(cidrs.members.compactMap(\.proto)) == [.tcp, .udp, .sctp])
    }
}
