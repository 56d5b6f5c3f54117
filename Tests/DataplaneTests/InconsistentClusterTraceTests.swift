import Testing
@testable import Cluster
@testable import Dataplane
@testable import Netfilter
import Wire

/// Traces through clusters whose ranges contradict each other: nothing crashes, nothing is
/// corrected, and each node keeps answering for its own pods.
@Suite struct InconsistentClusterTraceTests {
    static let identical = """
    kind: Topology
    cluster: {cni: CNI}
    nodes:
      - {name: a, podCIDR: 10.244.1.0/24}
      - {name: b, podCIDR: 10.244.1.0/24}
      - {name: c, podCIDR: 10.244.2.0/24}
    pods: [{name: x, node: a}, {name: y, node: b}, {name: z, node: c}]
    """

    @Test func identicalPodCIDRsSendTheSharedAddressToOneOfTheNodesAndItsOwnPodAnswers() throws {
        // Listing y first makes b's pod the address's first holder: a's bridge must still find x.
        let yFirst = Self.identical.replacingOccurrences(of: "pods: [{name: x, node: a}, {name: y, node: b}", with: "pods: [{name: y, node: b}, {name: x, node: a}")
        for (cni, text) in [("host-gw", Self.identical), ("vxlan", Self.identical), ("host-gw", yFirst), ("vxlan", yFirst)] {
            var p = try plane(text.replacingOccurrences(of: "CNI", with: cni))
            #expect(p.cluster.inconsistencies.count == 1)
            let x = try #require(p.cluster.pod(namespace: "default", name: "x")), y = try #require(p.cluster.pod(namespace: "default", name: "y"))
            #expect(x.ips == y.ips)  // host-local on each node handed out the same address
            let t = try trace("pod/default/z", "\(x.ips[0]):8080", plane: &p)
            let path = try #require(t.paths.first)
            #expect(path.verdict == .delivered, "\(cni)")
            // Whichever node c's route picks, the pod delivered to is that node's own.
            guard case .pod(_, let name)? = path.deliveredTo else { Issue.record("\(cni): \(String(describing: path.deliveredTo))"); continue }
            let node = try #require(p.cluster.pod(namespace: "default", name: name)?.nodeName)
            #expect(nodesVisited(path).last == node)
            #expect(path.reply?.reachedClient == true)
        }
    }

    @Test func theReplyToAPodWhoseAddressAnotherNodeAlsoHoldsGoesToTheWrongNode() throws {
        var p = try plane(Self.identical.replacingOccurrences(of: "CNI", with: "host-gw"))
        // y (on b) reaches z; z's node routes the reply for the shared address to a, whose
        // conntrack never saw the connection: KUBE-FORWARD drops it as INVALID.
        let t = try trace("pod/default/y", "pod/default/z:8080", plane: &p)
        let path = try #require(t.paths.first)
        #expect(path.verdict == .delivered && path.deliveredTo == .pod(namespace: "default", name: "z"))
        let reply = try #require(path.reply)
        #expect(!reply.reachedClient)
        #expect(reply.path.verdict == .dropped)
        #expect(nodesVisited(reply.path) == ["c", "a"])
        #expect(reply.path.steps.last?.text == "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP")
    }

    @Test func aPodCIDROutsideTheClusterCIDRIsRoutedButItsPodsAreNotPodsToTheRules() throws {
        var p = try plane("""
        kind: Topology
        nodes: [{name: a, podCIDR: 10.9.0.0/24}, {name: b}]
        pods: [{name: x, node: a}, {name: y, node: b}]
        """)
        #expect(p.cluster.inconsistencies.map(\.kind) == [.podCIDROutsideClusterCIDR(node: "a", podCIDR: try Prefix(parsing: "10.9.0.0/24"), clusterCIDR: try Prefix(parsing: "10.244.0.0/16"))])
        // y → x: y's node sees a destination outside flannel's network and masquerades it.
        let t = try trace("pod/default/y", "pod/default/x:8080", plane: &p)
        let path = try #require(t.paths.first)
        #expect(path.verdict == .delivered)
        #expect(path.masquerade)
        #expect(path.steps.contains { $0.node == "b" && $0.chain == "FLANNEL-POSTRTG" && $0.text?.contains("! -d 224.0.0.0/4") == true })
    }
}
