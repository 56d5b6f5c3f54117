import Testing
@testable import Cluster
import Wire

/// A well-formed cluster whose ranges contradict each other loads as given; each contradiction is
/// a typed `ClusterInconsistency` with the place the input says it (issue 14).
@Suite struct ClusterInconsistencyTests {
    @Test func aConsistentClusterHasNone() throws {
        #expect(try ClusterBuilder.load(paths: []).inconsistencies.isEmpty)
        #expect(try ClusterBuilder.load(paths: [repositoryRoot.appendingPathComponent("topologies/ha-cluster.yaml").path]).inconsistencies.isEmpty)
    }

    @Test func identicalPodCIDRsAreKeptOnBothNodesWithTheirPodsAndRoutes() throws {
        let c = try cluster(topology("", """
        nodes: [{name: a, podCIDR: 10.244.1.0/24}, {name: b, podCIDR: 10.244.1.0/24}, {name: c}]
        pods: [{name: x, node: a}, {name: y, node: b}]
        """))
        #expect(c.nodes.map(\.podCIDRs[0].description) == ["10.244.1.0/24", "10.244.1.0/24", "10.244.0.0/24"])
        #expect(c.inconsistencies.map(\.kind) == [.podCIDRsOverlap(node: "b", podCIDR: prefix("10.244.1.0/24"), other: "a", otherPodCIDR: prefix("10.244.1.0/24"))])
        // host-local on each node hands out the same first address: the clash is the cluster's.
        #expect(c.pods.map(\.ips) == [[ip("10.244.1.2")], [ip("10.244.1.2")]])
        // Node c routes the range to both a and b; a has its bridge route and a route to b.
        let onC = NodeNetwork(node: c.nodes[2], in: c).routes.filter { $0.destination == prefix("10.244.1.0/24") }
        #expect(Set(onC.compactMap(\.gateway)) == [c.nodes[0].internalIPs[0], c.nodes[1].internalIPs[0]])
        let onA = NodeNetwork(node: c.nodes[0], in: c).routes.filter { $0.destination == prefix("10.244.1.0/24") }
        #expect(onA.count == 2 && onA.contains { $0.device == NodeNetwork.bridgeName })
    }

    @Test func aPodCIDRInTheServiceRangeIsNamed() throws {
        let c = try cluster(topology("", "nodes: [{name: a, podCIDR: 10.96.5.0/24}]"))
        #expect(c.inconsistencies.map(\.kind) == [
            .podCIDROverlapsServiceCIDR(node: "a", podCIDR: prefix("10.96.5.0/24"), serviceCIDR: prefix("10.96.0.0/12")),
            .podCIDROutsideClusterCIDR(node: "a", podCIDR: prefix("10.96.5.0/24"), clusterCIDR: prefix("10.244.0.0/16")),
        ])
    }

    @Test func aClusterCIDRInsideTheServiceRangeLoadsWhenNodesBringTheirPodCIDRs() throws {
        let c = try cluster(topology("  clusterCIDR: 10.100.0.0/16", "nodes: [{name: a, podCIDR: 10.100.1.0/24}]"))
        let kinds = c.inconsistencies.map(\.kind)
        #expect(kinds.first == .clusterCIDRInsideServiceCIDR(clusterCIDR: prefix("10.100.0.0/16"), serviceCIDR: prefix("10.96.0.0/12")))
        #expect(kinds.contains(.podCIDROverlapsServiceCIDR(node: "a", podCIDR: prefix("10.100.1.0/24"), serviceCIDR: prefix("10.96.0.0/12"))))
        #expect(c.nodes[0].podCIDRs == [prefix("10.100.1.0/24")])
    }

    @Test func nodeAddressesInAPodCIDROrTheServiceRangeAreNamed() throws {
        let c = try cluster(topology("", "nodes: [{name: a, ip: 10.244.1.9}, {name: b, podCIDR: 10.244.1.0/24}, {name: d, ip: 10.96.0.9}]"))
        #expect(c.inconsistencies.map(\.kind) == [
            .nodeIPInServiceCIDR(node: "d", ip: ip("10.96.0.9"), serviceCIDR: prefix("10.96.0.0/12")),
            .nodeIPInPodCIDR(node: "a", ip: ip("10.244.1.9"), owner: "b", podCIDR: prefix("10.244.1.0/24")),
        ])
        #expect(c.inconsistencies[1].description == "node a IP 10.244.1.9 is inside node b's podCIDR 10.244.1.0/24: that address is routed to b's pods")
    }

    @Test func aDumpsNodeAddressesMayShareThePodRangeButNotAPodCIDR() throws {
        let nodes = """
        apiVersion: v1
        kind: Node
        metadata: {name: a}
        spec: {podCIDR: 10.244.1.0/24}
        status: {addresses: [{type: InternalIP, address: 10.244.9.1}]}
        """
        #expect(try cluster(nodes).inconsistencies.isEmpty)
        let inside = try cluster(nodes.replacingOccurrences(of: "10.244.9.1", with: "10.244.1.1"))
        #expect(inside.inconsistencies.map(\.kind) == [.nodeIPInPodCIDR(node: "a", ip: ip("10.244.1.1"), owner: "a", podCIDR: prefix("10.244.1.0/24"))])
    }

    @Test func aDumpsOverlappingPodCIDRsLoad() throws {
        let c = try cluster("""
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: Node, metadata: {name: a}, spec: {podCIDR: 10.244.1.0/24}, status: {addresses: [{type: InternalIP, address: 172.18.0.2}]}}
        - {apiVersion: v1, kind: Node, metadata: {name: b}, spec: {podCIDR: 10.244.1.0/25}, status: {addresses: [{type: InternalIP, address: 172.18.0.3}]}}
        """)
        #expect(c.inconsistencies.map(\.kind) == [.podCIDRsOverlap(node: "b", podCIDR: prefix("10.244.1.0/25"), other: "a", otherPodCIDR: prefix("10.244.1.0/24"))])
    }

    @Test func aPodCIDROutsideFlannelsOwnNetworkIsNamedOnlyWithIPMasq() throws {
        let c = try cluster(topology("  flannel: {network: 10.244.0.0/24}", "nodes: [{name: a}, {name: b}]"))
        #expect(c.inconsistencies.map(\.kind) == [.podCIDROutsideFlannelNetwork(node: "b", podCIDR: prefix("10.244.1.0/24"), network: prefix("10.244.0.0/24"))])
        let off = try cluster(topology("  flannel: {network: 10.244.0.0/24, ipMasq: false}", "nodes: [{name: a}, {name: b}]"))
        #expect(off.inconsistencies.isEmpty)
    }

    @Test func flannelSettingsAreReadAndCheckedInTopologies() throws {
        let c = try cluster(topology("  flannel: {ipMasq: false, ipMasqRandomFullyDisable: true, iptablesForwardRules: false, network: 10.0.0.0/8}", "nodes: []"))
        #expect(!c.settings.flannel.ipMasq && c.settings.flannel.ipMasqRandomFullyDisable && !c.settings.flannel.iptablesForwardRules)
        #expect(c.settings.flannelNetwork(for: .ipv4) == prefix("10.0.0.0/8"))
        #expect(try cluster(topology("", "nodes: []")).settings.flannelNetwork(for: .ipv4) == prefix("10.244.0.0/16"))
        #expect(buildError(topology("  flannel: {ipmasq: true}", "nodes: []"))?.message.hasPrefix("unknown key \"ipmasq\" in flannel") == true)
    }

    @Test func aDumpsFlannelNetworkIsFlannelsAndIPMasqIsAssumedAndSaid() throws {
        let c = try cluster("""
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: kube-flannel-cfg, namespace: kube-flannel}
        data:
          net-conf.json: '{"Network": "10.42.0.0/16", "Backend": {"Type": "vxlan"}}'
        """)
        #expect(c.settings.flannel.networks == [prefix("10.42.0.0/16")])
        #expect(c.notes.contains("flannel.ipMasq true assumed: kube-flannel.yml runs flanneld with --ip-masq; the input has no DaemonSet kube-flannel-ds to show flanneld's flags"))
    }
}
