import Testing
@testable import Cluster
import Wire

@Suite struct RouteTests {
    static let threeNodes = """
    nodes: [{name: a, ip: 172.18.0.2}, {name: b, ip: 172.18.0.3}, {name: c, ip: 172.18.0.4}]
    pods: [{name: p, node: b}]
    """

    @Test func hostGWRoutesEveryOtherNodesPodsViaItsIP() throws {
        let c = try cluster(topology("  cni: host-gw", Self.threeNodes))
        #expect(NodeNetwork(node: c.node(named: "b")!, in: c).routes.map(\.description) == [
            "default via 172.18.0.1 dev eth0",
            "10.244.0.0/24 via 172.18.0.2 dev eth0",
            "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1",
            "10.244.2.0/24 via 172.18.0.4 dev eth0",
            "172.18.0.0/16 dev eth0 proto kernel scope link src 172.18.0.3",
        ])
    }

    @Test func vxlanRoutesOtherNodesPodsOverFlannelOnlink() throws {
        let c = try cluster(topology("  cni: vxlan", Self.threeNodes))
        let net = NodeNetwork(node: c.node(named: "b")!, in: c)
        #expect(net.routes.map(\.description) == [
            "default via 172.18.0.1 dev eth0",
            "10.244.0.0/24 via 10.244.0.0 dev flannel.1 onlink",
            "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1",
            "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink",
            "172.18.0.0/16 dev eth0 proto kernel scope link src 172.18.0.3",
        ])
        #expect(net.interfaces.first { $0.name == "flannel.1" }?.addresses.map { "\($0.0)/\($0.1)" } == ["10.244.1.0/32"])
    }

    @Test func aNodeWithoutPodsHasNoBridgeYet() throws {
        // The bridge plugin creates cni0 with the first pod; until then there is no local route.
        let c = try cluster(topology("", Self.threeNodes))
        let net = NodeNetwork(node: c.node(named: "a")!, in: c)
        #expect(!net.interfaces.contains { $0.name == "cni0" })
        #expect(!net.routes.contains { $0.device == "cni0" })
    }

    @Test func podsRouteEverythingViaTheirGateway() throws {
        let c = try cluster(topology("", Self.threeNodes))
        let net = try #require(PodNetwork(pod: c.pods[0], in: c))
        #expect(net.routes.map(\.description) == [
            "default via 10.244.1.1 dev eth0",
            "10.244.1.0/24 dev eth0 proto kernel scope link src 10.244.1.2",
        ])
    }

    @Test func lookupPicksTheMostSpecificRoute() throws {
        let c = try cluster(topology("", Self.threeNodes))
        let net = NodeNetwork(node: c.node(named: "b")!, in: c)
        #expect(net.lookup(ip("10.244.2.7"))?.gateway == ip("172.18.0.4"))
        #expect(net.lookup(ip("10.244.1.2"))?.device == "cni0")
        #expect(net.lookup(ip("8.8.8.8"))?.destination == nil)
    }

    @Test func ipv6RoutesPrintAsIpDash6Does() throws {
        let c = try cluster(topology("""
          clusterCIDR: fd00:10:244::/56
          serviceCIDR: fd00:10:96::/112
          nodeNetwork: fd00:18::/64
        """, "nodes: [{name: a}, {name: b}]\npods: [{name: p, node: b}]"))
        let net = NodeNetwork(node: c.node(named: "b")!, in: c)
        #expect(net.routes.map(\.description) == [
            "default via fd00:18::1 dev eth0 metric 1024 pref medium",
            "fd00:10:244::/64 via fd00:18::2 dev eth0 metric 1024 pref medium",
            "fd00:10:244:1::/64 dev cni0 proto kernel metric 256 pref medium",
            "fd00:18::/64 dev eth0 proto kernel metric 256 pref medium",
        ])
    }
}
