import Testing
@testable import Cluster
@testable import Dataplane
@testable import Netfilter
import Wire

@Suite struct TraceEdgeCaseTests {
    static let dualStack = """
    kind: Topology
    cluster:
      clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
      serviceCIDR: 10.96.0.0/12,fd00:10:96::/112
      nodeNetwork: 172.18.0.0/16,fd00:18::/64
    nodes: [{name: n1}, {name: n2}]
    pods:
      - {name: c, node: n1}
      - {name: s, node: n2, labels: {app: s}, ports: [{name: http, containerPort: 8080}]}
      - {name: exporter, node: n2, hostNetwork: true, ports: [{name: metrics, containerPort: 9100}]}
    services:
      - {name: s, ipFamilyPolicy: RequireDualStack, selector: {app: s}, ports: [{name: http, port: 80, targetPort: http}]}
    """

    @Test func ipv6ServiceTrafficIsDNATedAndUnNATedLikeIPv4() throws {
        var p = try plane(Self.dualStack)
        let svc = p.cluster.service(namespace: "default", name: "s")!
        let v6 = try #require(svc.clusterIP(.ipv6))
        let t = try trace("pod/default/c", "[\(v6)]:80", plane: &p)
        let path = try #require(t.paths.first)
        #expect(path.verdict == .delivered)
        #expect(path.deliveredTo == .pod(namespace: "default", name: "s"))
        #expect(path.dnat?.description == "[fd00:10:244:1::2]:8080")
        #expect(path.reply?.reachedClient == true)
        #expect(path.reply?.path.finalPacket.source == v6)
    }

    @Test func aNodeReachesAPodOnAnotherNodeFromItsOwnAddressThroughFlannelsMasquerade() throws {
        var p = try plane(Self.dualStack)
        let t = try trace("node/n1", "pod/default/s:8080", plane: &p)
        #expect(t.paths[0].verdict == .delivered)
        #expect(t.paths[0].dnat == nil)
        // flanneld's `! -s NETWORK -d NETWORK -j MASQUERADE --random-fully` ("anything headed
        // towards flannel from the host"): the address stays the node's own, the port is drawn.
        #expect(t.paths[0].masquerade && t.paths[0].snat?.description.hasPrefix("172.18.0.2:") == true)
        #expect(t.paths[0].finalPacket.source.description == "172.18.0.2")
        #expect(t.paths[0].reply?.reachedClient == true)
        // Without --ip-masq there is no NAT at all in the flat network.
        var plain = try plane(Self.dualStack.replacingOccurrences(of: "  nodeNetwork: 172.18.0.0/16,fd00:18::/64", with: "  nodeNetwork: 172.18.0.0/16,fd00:18::/64\n  flannel: {ipMasq: false}"))
        let u = try trace("node/n1", "pod/default/s:8080", plane: &plain)
        #expect(u.paths[0].verdict == .delivered && u.paths[0].snat == nil && !u.paths[0].masquerade)
        #expect(u.paths[0].finalPacket.sourcePort == u.packet.sourcePort)
    }

    @Test func aHostNetworkPodReceivesOnItsNodesAddress() throws {
        var p = try plane(Self.dualStack)
        let t = try trace("pod/default/c", "172.18.0.3:9100", plane: &p)
        #expect(t.paths[0].verdict == .delivered)
        #expect(t.paths[0].deliveredTo == .pod(namespace: "default", name: "exporter"))
        #expect(t.paths[0].reply?.reachedClient == true)
    }

    @Test func podToPodOnTheSameNodeStaysOnTheBridge() throws {
        var p = try demo()
        let t = try trace("pod/default/web-1", "pod/default/web-2:8080", plane: &p)
        #expect(t.paths[0].verdict == .delivered)
        #expect(Set(t.paths[0].steps.compactMap(\.node)) == ["worker-2"])
    }

    @Test func garbageTargetsAreErrorsNeverCrashes() throws {
        let cluster = try ClusterBuilder.load(paths: [])
        var rng = SeededGenerator(seed: 7)
        let pieces = ["pod/", "node/", "service/", "external/", "default/", "web", ":", "::", "[", "]", "80", "99999", "-1", "/", ".",
                      "10.96.0.10", "fd00::1", "svc.cluster.local", "", " ", "%", "web-lb:http", "0", "http"]
        for _ in 0..<3000 {
            let n = Int.random(in: 1...5, using: &rng)
            let text = (0..<n).map { _ in pieces[Int.random(in: 0..<pieces.count, using: &rng)] }.joined()
            if let s = try? TraceTargetParser.source(text, in: cluster) {
                _ = try? TraceTargetParser.destination(text, from: s, in: cluster)
            }
            _ = try? TraceTargetParser.destination(text, from: .external(.v4(IPv4Address(192, 0, 2, 1))), in: cluster)
        }
    }
}
