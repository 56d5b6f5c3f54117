import Testing
@testable import Cluster
import Wire

@Suite struct NodeCIDRAllocationTests {
    @Test func nodesGetTheLowestFreeSubnetInListOrder() throws {
        let c = try cluster(topology("", """
        nodes: [{name: a}, {name: b}, {name: c}]
        """))
        #expect(c.nodes.map { $0.podCIDRs.map(\.description) } == [["10.244.0.0/24"], ["10.244.1.0/24"], ["10.244.2.0/24"]])
    }

    @Test func nodesThatBringAPodCIDRKeepItAndOthersSkipIt() throws {
        let c = try cluster(topology("", """
        nodes: [{name: a}, {name: b, podCIDR: 10.244.0.0/24}, {name: c}, {name: d, podCIDR: 10.244.2.0/24}]
        """))
        #expect(c.nodes.map(\.podCIDRs[0].description) == ["10.244.1.0/24", "10.244.0.0/24", "10.244.3.0/24", "10.244.2.0/24"])
    }

    @Test func maskSizeSetsTheSubnetSize() throws {
        let c = try cluster(topology("  clusterCIDR: 10.244.0.0/16\n  nodeCIDRMaskSize: 26", "nodes: [{name: a}, {name: b}]"))
        #expect(c.nodes.map(\.podCIDRs[0].description) == ["10.244.0.0/26", "10.244.0.64/26"])
    }

    @Test func subnetsOverlappingTheServiceRangeAreNeverHandedOut() throws {
        // filterOutServiceRange: 10.0.0.0/8 cut in /12s; 10.96.0.0/12 is the service range.
        let c = try cluster(topology("  clusterCIDR: 10.0.0.0/8\n  serviceCIDR: 10.96.0.0/12\n  nodeCIDRMaskSize: 12",
                                     "nodes: [{name: a, podCIDR: 10.0.0.0/12}, {name: b, podCIDR: 10.16.0.0/12}, {name: c, podCIDR: 10.32.0.0/12}, {name: d, podCIDR: 10.48.0.0/12}, {name: e, podCIDR: 10.64.0.0/12}, {name: f, podCIDR: 10.80.0.0/12}, {name: g}]"))
        #expect(c.nodes.last?.podCIDRs.first?.description == "10.112.0.0/12")
    }

    @Test func dualStackNodesGetOneSubnetPerFamily() throws {
        let c = try cluster(topology("""
          clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
          serviceCIDR: 10.96.0.0/12,fd00:10:96::/112
          nodeNetwork: [172.18.0.0/16, "fc00:f853:ccd:e793::/64"]
        """, "nodes: [{name: a}, {name: b}]"))
        #expect(c.nodes[1].podCIDRs.map(\.description) == ["10.244.1.0/24", "fd00:10:244:1::/64"])
        #expect(c.nodes[1].internalIPs.map(\.description) == ["172.18.0.3", "fc00:f853:ccd:e793::3"])
    }

    @Test func exhaustionNamesTheNodeThatFoundNoSubnet() throws {
        let e = buildError(topology("  clusterCIDR: 10.244.0.0/23\n  nodeCIDRMaskSize: 24", "nodes: [{name: a}, {name: b}, {name: c}]"))
        #expect(e?.message.contains("node c") == true)
        #expect(e?.message.contains("no free /24") == true)
        #expect(e?.location?.line == 6)
    }

    @Test func overlappingPodCIDRsLoadAsGivenWithAnInconsistencyNamingBothNodes() throws {
        let c = try cluster(topology("", "nodes: [{name: a, podCIDR: 10.244.0.0/23}, {name: b, podCIDR: 10.244.1.0/24}]"))
        #expect(c.nodes.map(\.podCIDRs[0].description) == ["10.244.0.0/23", "10.244.1.0/24"])
        #expect(c.inconsistencies.map(\.kind) == [.podCIDRsOverlap(node: "b", podCIDR: prefix("10.244.1.0/24"), other: "a", otherPodCIDR: prefix("10.244.0.0/23"))])
        #expect(c.inconsistencies.first?.description.hasPrefix("node b podCIDR 10.244.1.0/24 overlaps node a's 10.244.0.0/23") == true)
        #expect(c.inconsistencies.first?.location?.line == 5)
    }

    @Test func podCIDROutsideTheClusterCIDRLoadsWithAnInconsistency() throws {
        let c = try cluster(topology("", "nodes: [{name: a, podCIDR: 10.9.0.0/24}, {name: b}]"))
        #expect(c.nodes.map(\.podCIDRs[0].description) == ["10.9.0.0/24", "10.244.0.0/24"])
        #expect(c.inconsistencies.map(\.kind) == [.podCIDROutsideClusterCIDR(node: "a", podCIDR: prefix("10.9.0.0/24"), clusterCIDR: prefix("10.244.0.0/16"))])
    }

    @Test func nodeIPInsideThePodRangeLoadsWithAnInconsistency() throws {
        let c = try cluster(topology("", "nodes: [{name: a, ip: 10.244.7.7}]"))
        #expect(c.nodes[0].internalIPs == [ip("10.244.7.7")])
        #expect(c.inconsistencies.map(\.kind) == [.nodeIPInClusterCIDR(node: "a", ip: ip("10.244.7.7"), clusterCIDR: prefix("10.244.0.0/16"))])
        #expect(c.inconsistencies.first?.description.hasPrefix("node a IP 10.244.7.7 is inside the pod range 10.244.0.0/16") == true)
    }

    @Test func nodesWithoutAnAddressGetTheNextOnTheNodeNetwork() throws {
        let c = try cluster(topology("", "nodes: [{name: a}, {name: b, ip: 172.18.0.3}, {name: c}]"))
        #expect(c.nodes.map(\.internalIPs[0].description) == ["172.18.0.2", "172.18.0.3", "172.18.0.4"])
    }

    @Test func duplicateNodeNamesAndIPsAreErrors() {
        #expect(buildError(topology("", "nodes: [{name: a}, {name: a}]"))?.message.hasPrefix("duplicate node \"a\"") == true)
        #expect(buildError(topology("", "nodes: [{name: a, ip: 172.18.0.9}, {name: b, ip: 172.18.0.9}]"))?.message
            == "node b has IP 172.18.0.9, already node a's")
    }
}
