import Testing
@testable import Cluster
import Wire

@Suite struct PodIPAMTests {
    @Test func podsGetAddressesInOrderAfterTheGateway() throws {
        let c = try cluster(topology("", """
        nodes: [{name: n1}]
        pods: [{name: a, node: n1}, {name: b, node: n1}, {name: c, node: n1}]
        """))
        // .0 is the network, .1 the gateway on cni0.
        #expect(c.pods.map(\.ips[0].description) == ["10.244.0.2", "10.244.0.3", "10.244.0.4"])
    }

    @Test func eachNodeAllocatesFromItsOwnRange() throws {
        let c = try cluster(topology("", """
        nodes: [{name: n1}, {name: n2}]
        pods: [{name: a, node: n2}, {name: b, node: n1}, {name: c, node: n2}]
        """))
        #expect(c.pods.map(\.ips[0].description) == ["10.244.1.2", "10.244.0.2", "10.244.1.3"])
    }

    @Test func allocationContinuesAfterTheLastReservedAddress() throws {
        // host-local's round robin: after a pod that asked for .50, the next pod gets .51.
        let c = try cluster(topology("", """
        nodes: [{name: n1}]
        pods: [{name: a, node: n1}, {name: b, node: n1, ip: 10.244.0.50}, {name: c, node: n1}]
        """))
        #expect(c.pods.map(\.ips[0].description) == ["10.244.0.2", "10.244.0.50", "10.244.0.51"])
    }

    @Test func roundRobinWrapsPastTheEndSkippingBroadcastAndGateway() throws {
        let c = try cluster(topology("  nodeCIDRMaskSize: 29", """
        nodes: [{name: n1}]
        pods: [{name: a, node: n1, ip: 10.244.0.6}, {name: b, node: n1}, {name: c, node: n1}]
        """))
        // /29: .0 network, .1 gateway, .7 broadcast; after .6 the range wraps to .2.
        #expect(c.pods.map(\.ips[0].description) == ["10.244.0.6", "10.244.0.2", "10.244.0.3"])
    }

    @Test func automaticAllocationStepsAroundAddressesLaterPodsAskFor() throws {
        let c = try cluster(topology("", """
        nodes: [{name: n1}]
        pods: [{name: a, node: n1}, {name: b, node: n1, ip: 10.244.0.3}]
        """))
        #expect(c.pods.map(\.ips[0].description) == ["10.244.0.2", "10.244.0.3"])
        let d = try cluster(topology("", """
        nodes: [{name: n1}]
        pods: [{name: x, node: n1, ip: 10.244.0.2}, {name: y, node: n1}]
        """))
        #expect(d.pods[1].ips[0].description == "10.244.0.3")
    }

    @Test(arguments: [
        ("10.244.0.0", "10.244.0.0 is the network address of 10.244.0.0/24"),
        ("10.244.0.1", "10.244.0.1 is the gateway of 10.244.0.0/24 (bridge cni0)"),
        ("10.244.0.255", "10.244.0.255 is the broadcast address of 10.244.0.0/24"),
        ("10.244.1.9", "10.244.1.9 is outside the node's pod range 10.244.0.0/24"),
    ])
    func reservedAndForeignAddressesCannotBeRequested(_ address: String, _ why: String) {
        let e = buildError(topology("", "nodes: [{name: n1}, {name: n2}]\npods: [{name: a, node: n1, ip: \(address)}]"))
        #expect(e?.message == "pod default/a on node n1: \(why)")
        #expect(e?.location == InputLocation(file: "test.yaml", line: 6, column: 8))
    }

    @Test func twoPodsAskingForOneAddressIsAnError() {
        let e = buildError(topology("", "nodes: [{name: n1}]\npods: [{name: a, node: n1, ip: 10.244.0.9}, {name: b, node: n1, ip: 10.244.0.9}]"))
        #expect(e?.message == "pod default/b on node n1: 10.244.0.9 is already in use by pod default/a")
    }

    @Test func anExhaustedNodeRangeIsAnError() {
        let e = buildError(topology("  nodeCIDRMaskSize: 30", "nodes: [{name: n1}]\npods: [{name: a, node: n1}, {name: b, node: n1}]"))
        #expect(e?.message == "node n1 pod range 10.244.0.0/30 is exhausted: no address left for pod default/b")
    }

    @Test func hostNetworkPodsTakeTheNodeAddress() throws {
        let c = try cluster(topology("", "nodes: [{name: n1, ip: 172.18.0.9}]\npods: [{name: h, node: n1, hostNetwork: true}, {name: p, node: n1}]"))
        #expect(c.pods[0].ips == [ip("172.18.0.9")])
        #expect(c.pods[1].ips == [ip("10.244.0.2")])  // the host pod used nothing from the range
    }

    @Test func aPodOnAnUnknownNodeNamesTheNodesThatExist() {
        let e = buildError(topology("", "nodes: [{name: n1}, {name: n2}]\npods: [{name: a, node: nx}]"))
        #expect(e?.message == "pod default/a is on unknown node \"nx\" (nodes: n1, n2)")
    }

    @Test func podsWithoutANodeAreSpreadOverWorkers() throws {
        let c = try cluster(topology("", "nodes: [{name: cp, role: control-plane}, {name: w1}, {name: w2}]\npods: [{name: a}, {name: b}, {name: c, node: w1}, {name: d}]"))
        #expect(c.pods.map(\.nodeName) == ["w2", "w1", "w1", "w2"])
        #expect(c.notes.contains("pod default/a had no nodeName; scheduled on w2"))
    }

    @Test func duplicatePodsAreErrors() {
        let e = buildError(topology("", "nodes: [{name: n1}]\npods: [{name: a, node: n1}, {name: a, node: n1}]"))
        #expect(e?.message.hasPrefix("duplicate pod default/a (first at test.yaml:6:") == true)
    }
}
