import Foundation
import Testing
@testable import Cluster
@testable import Dataplane
@testable import Netfilter
import Wire

/// Traces `from` → `to` on `cluster` (the demo unless given) and returns the trace.
func trace(_ from: String, _ to: String, in cluster: Cluster? = nil, plane: inout Dataplane, allPaths: Bool = false,
           seed: UInt64 = 1, via: String? = nil, sport: UInt16? = nil, reply: Bool = true) throws -> DataplaneTrace {
    let c = plane.cluster
    let source = try TraceTargetParser.source(from, in: c)
    var request = Dataplane.Request(source: source, destination: try TraceTargetParser.destination(to, from: source, in: c))
    request.allPaths = allPaths
    request.seed = seed
    request.via = via
    request.sourcePort = sport
    request.reply = reply
    if let p = request.destination.service?.ports.first(where: { $0.port == request.destination.port }) { request.proto = p.protocol }
    return try plane.trace(request)
}

func demo() throws -> Dataplane { Dataplane(cluster: try ClusterBuilder.load(paths: [])) }

func plane(_ yaml: String) throws -> Dataplane { Dataplane(cluster: try ClusterBuilder.build(TopologyLoader.parse(text: yaml, file: "t.yaml"))) }

/// The nodes a path's steps happened on, in order, without repeats in a row.
func nodesVisited(_ p: DataplanePath) -> [String] {
    var out: [String] = []
    for s in p.steps { if let n = s.node, out.last != n { out.append(n) } }
    return out
}

@Suite struct TraceScenarioTests {
    @Test func podToClusterIPOnAnotherNodeIsDNATedWithSourceKeptAndTheReplyUnDNATed() throws {
        var p = try demo()
        // Seed 1 picks web-2 on worker-2 (another node than the client's worker-1).
        let t = try trace("pod/default/client", "service/default/web:80", plane: &p)
        let path = try #require(t.paths.first)
        #expect(t.paths.count == 1)
        #expect(path.verdict == .delivered)
        #expect(path.deliveredTo == .pod(namespace: "default", name: "web-2"))
        #expect(path.dnat?.description == "10.244.2.3:8080")
        #expect(path.snat == nil && !path.masquerade)
        #expect(path.finalPacket.source == t.packet.source)  // source IP kept
        #expect(nodesVisited(path) == ["worker-1", "worker-2"])
        let reply = try #require(path.reply)
        #expect(reply.reachedClient)
        #expect(reply.path.finalPacket.source.description == "10.105.17.17")
        #expect(reply.path.steps.contains { $0.node == "worker-1" && $0.action.contains("un-NATed") })
    }

    @Test func aPodReachingItselfThroughItsServiceIsMasqueraded() throws {
        var p = try demo()
        // Seed 3 picks web-0 for web-0: hairpin.
        let t = try trace("pod/default/web-0", "service/default/web:80", plane: &p, seed: 3)
        let path = try #require(t.paths.first)
        #expect(path.deliveredTo == .pod(namespace: "default", name: "web-0"))
        #expect(path.masquerade)
        #expect(path.snat?.description.hasPrefix("10.244.1.1:") == true)  // cni0's address, the outgoing interface
        #expect(path.reply?.reachedClient == true)
    }

    @Test func aNodeReachingAClusterIPIsMasqueraded() throws {
        var p = try demo()
        let t = try trace("node/worker-1", "service/default/web:80", plane: &p)
        let path = try #require(t.paths.first)
        #expect(path.verdict == .delivered)
        #expect(path.masquerade)  // not from the cluster CIDR: KUBE-SVC marks it
        #expect(path.steps.contains { $0.text?.contains("! -s 10.244.0.0/16") == true && $0.action.contains("KUBE-MARK-MASQ") })
        #expect(path.reply?.reachedClient == true)
    }

    @Test func externalToNodePortWithClusterPolicyIsSNATedToTheNodeAndMayCrossNodes() throws {
        var p = try demo()
        let t = try trace("external/203.0.113.7", "node/worker-2:30080", plane: &p, allPaths: true)
        #expect(t.paths.count == 3)
        for path in t.paths {
            #expect(path.verdict == .delivered)
            // MASQUERADE takes the outgoing interface's address: eth0 towards worker-1, cni0 to
            // worker-2's own pods. Either way the client's address is gone.
            let expected = nodesVisited(path) == ["worker-2", "worker-1"] ? "172.18.0.4:" : "10.244.2.1:"
            #expect(path.snat?.description.hasPrefix(expected) == true)
            #expect(path.reply?.reachedClient == true)
        }
        #expect(t.paths.contains { nodesVisited($0) == ["worker-2", "worker-1"] })  // crosses to web-0
    }

    @Test func externalToNodePortWithLocalPolicyDropsWithoutALocalEndpointAndKeepsTheSourceWithOne() throws {
        var p = try demo()
        let lb = p.cluster.service(namespace: "default", name: "web-lb")!
        let np = lb.ports[0].nodePort!
        let far = try trace("external/203.0.113.7", "node/control-plane:\(np)", plane: &p)
        #expect(far.paths[0].verdict == .dropped)
        #expect(far.paths[0].why == "externalTrafficPolicy Local and node control-plane has no local endpoint for default/web-lb (port http)")
        let near = try trace("external/203.0.113.7", "node/worker-1:\(np)", plane: &p)
        #expect(near.paths[0].verdict == .delivered)
        #expect(near.paths[0].deliveredTo == .pod(namespace: "default", name: "web-0"))
        #expect(near.paths[0].finalPacket.source.description == "203.0.113.7")
        #expect(!near.paths[0].masquerade)
    }

    @Test func loadBalancerSourceRangesAdmitTheRangeAndDropOthers() throws {
        var p = try demo()
        let ok = try trace("external/203.0.113.7", "198.51.100.10:80", plane: &p, via: "worker-1")
        #expect(ok.paths[0].verdict == .delivered)
        #expect(ok.paths[0].reply?.reachedClient == true)
        let no = try trace("external/192.0.2.1", "198.51.100.10:80", plane: &p, via: "worker-1")
        #expect(no.paths[0].verdict == .dropped)
        #expect(no.paths[0].why == "source 192.0.2.1 not in loadBalancerSourceRanges of default/web-lb (port http) (203.0.113.0/24)")
    }

    @Test func theCloudHandsAVIPToEachNodeInTurnWithAllPaths() throws {
        var p = try demo()
        let t = try trace("external/203.0.113.7", "198.51.100.10:80", plane: &p, allPaths: true)
        // Three nodes share the VIP (1/3 each); with Local policy control-plane has no endpoint,
        // worker-1 serves web-0, worker-2 splits between web-1 and web-2.
        #expect(abs(t.paths.reduce(0) { $0 + $1.probability } - 1) < 1e-9)
        let delivered = Dictionary(uniqueKeysWithValues: t.paths.filter { $0.verdict == .delivered }.map { ($0.deliveredTo!, $0.probability) })
        #expect(Set(delivered.keys) == [.pod(namespace: "default", name: "web-0"), .pod(namespace: "default", name: "web-1"), .pod(namespace: "default", name: "web-2")])
        #expect(abs(delivered[.pod(namespace: "default", name: "web-0")]! - 1.0 / 3) < 1e-9)
        #expect(abs(delivered[.pod(namespace: "default", name: "web-1")]! - 1.0 / 6) < 1e-9)
        let dropped = t.paths.filter { $0.verdict == .dropped }
        #expect(dropped.count == 1 && dropped[0].why?.contains("node control-plane has no local endpoint") == true)
    }

    @Test func aServiceWithoutEndpointsRejectsWithTheReason() throws {
        var p = try plane("""
        kind: Topology
        nodes: [{name: n1}]
        pods: [{name: c, node: n1}]
        services: [{name: lonely, selector: {app: nothing}, ports: [{port: 80}]}]
        """)
        let t = try trace("pod/default/c", "service/default/lonely:80", plane: &p)
        #expect(t.paths[0].verdict == .rejected)
        #expect(t.paths[0].why == "default/lonely has no endpoints")
        #expect(t.paths[0].decidedBy.description.contains("-j REJECT"))
    }

    @Test func dnsNamesResolveAndHeadlessNamesGoStraightToAPod() throws {
        var p = try demo()
        let byName = try trace("pod/default/client", "web.default.svc.cluster.local:80", plane: &p)
        #expect(byName.notes.contains { $0.hasPrefix("DNS: web.default.svc.cluster.local. A 10.") })
        #expect(byName.paths[0].dnat != nil)
        let headless = try trace("pod/default/client", "web-headless.default.svc.cluster.local:8080", plane: &p)
        #expect(headless.paths[0].deliveredTo == .pod(namespace: "default", name: "web-0"))
        #expect(headless.paths[0].dnat == nil)  // no Service VIP in the way
    }

    @Test func vxlanShowsTheTunnelAndHostGWDoesNot() throws {
        let text = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                                .deletingLastPathComponent().appendingPathComponent("topologies/demo.yaml"), encoding: .utf8)
        var vx = try plane(text.replacingOccurrences(of: "cni: host-gw", with: "cni: vxlan"))
        let t = try trace("pod/default/client", "service/default/web:80", plane: &vx)
        let tunnel = try #require(t.paths[0].steps.first { $0.kind == .tunnel })
        #expect(tunnel.outer?.description == "172.18.0.3 → 172.18.0.4 udp dport 8472 vxlan vni 1")
        #expect(tunnel.packet.destination.description == "10.244.2.3")  // the inner packet
        #expect(t.paths[0].reply?.reachedClient == true)
        var hg = try demo()
        #expect(try trace("pod/default/client", "service/default/web:80", plane: &hg).paths[0].steps.allSatisfy { $0.kind != .tunnel })
    }

    @Test func internalTrafficPolicyLocalServesOnlyNodesWithALocalEndpoint() throws {
        let yaml = """
        kind: Topology
        nodes: [{name: n1}, {name: n2}]
        pods: [{name: c1, node: n1}, {name: c2, node: n2}, {name: s1, node: n1, labels: {app: s}}]
        services: [{name: s, internalTrafficPolicy: Local, selector: {app: s}, ports: [{port: 80}]}]
        """
        var p = try plane(yaml)
        let near = try trace("pod/default/c1", "service/default/s:80", plane: &p)
        #expect(near.paths[0].deliveredTo == .pod(namespace: "default", name: "s1"))
        let far = try trace("pod/default/c2", "service/default/s:80", plane: &p)
        #expect(far.paths[0].verdict == .dropped)
        #expect(far.paths[0].why == "internalTrafficPolicy Local and node n2 has no local endpoint for default/s")
    }

    @Test func sessionAffinityKeepsAClientOnItsEndpointAcrossTraces() throws {
        // On fresh clusters the two seeds pick different endpoints of web-sticky...
        var a = try demo(), b = try demo()
        let alone1 = try trace("pod/default/client", "service/default/web-sticky:80", plane: &a, seed: 5, sport: 40001)
        let alone2 = try trace("pod/default/client", "service/default/web-sticky:80", plane: &b, seed: 3, sport: 40002)
        #expect(alone1.paths[0].deliveredTo != alone2.paths[0].deliveredTo)
        // ...but in one run the second connection follows the first (the `recent` list).
        var p = try demo()
        let first = try trace("pod/default/client", "service/default/web-sticky:80", plane: &p, seed: 5, sport: 40001)
        let second = try trace("pod/default/client", "service/default/web-sticky:80", plane: &p, seed: 3, sport: 40002)
        #expect(second.paths[0].deliveredTo == first.paths[0].deliveredTo)
        #expect(second.paths[0].steps.contains { $0.text?.contains("--rcheck") == true && $0.action.hasPrefix("jump KUBE-SEP-") })
    }

    @Test func allPathsOverThreeEndpointsGivesThreeThirds() throws {
        var p = try demo()
        let t = try trace("pod/default/client", "service/default/web:80", plane: &p, allPaths: true)
        #expect(t.paths.count == 3)
        #expect(Set(t.paths.compactMap(\.deliveredTo)) == [.pod(namespace: "default", name: "web-0"), .pod(namespace: "default", name: "web-1"), .pod(namespace: "default", name: "web-2")])
        // The kernel's thresholds are 31-bit fractions of 1/3 and 1/2: each path is 1/3 within 1e-9.
        for path in t.paths { #expect(abs(path.probability - 1.0 / 3) < 1e-9) }
        #expect(t.paths.allSatisfy { $0.reply?.reachedClient == true })
    }

    @Test func noRouteAndLeavingTheClusterAreNamed() throws {
        var p = try demo()
        let t = try trace("pod/default/client", "8.8.8.8:53", plane: &p, reply: false)
        #expect(t.paths[0].verdict == .leftCluster)
        #expect(t.paths[0].why == "routed out of the cluster towards 8.8.8.8 via 172.18.0.1")
    }
}

@Suite struct TraceTargetTests {
    let cluster = try! ClusterBuilder.load(paths: [])

    func error(_ from: String, _ to: String) -> String? {
        do {
            let s = try TraceTargetParser.source(from, in: cluster)
            _ = try TraceTargetParser.destination(to, from: s, in: cluster)
            return nil
        } catch { return error.message }
    }

    @Test func unknownPodsServicesAndPortsSayWhatExists() {
        #expect(error("pod/default/nope", "service/default/web:80") == "no pod default/nope; pods in default: client, web-0, web-1, web-2")
        #expect(error("pod/default/client", "service/default/nope:80") == "no service default/nope; services in default: kubernetes, web, web-nodeport, web-lb, web-lb-open, web-external, web-canary, web-sticky, web-headless")
        #expect(error("pod/default/client", "service/default/web:81") == "no port 81 on service default/web; its ports: http (80/TCP)"
                || error("pod/default/client", "service/default/web:81") == "service default/web has no port 81; its ports: http (80/TCP)")
        #expect(error("pod/default/client", "node/worker-9:30080") == "no node \"worker-9\"; nodes: control-plane, worker-1, worker-2")
        #expect(error("pod/default/client", "node/worker-1")?.contains("give the NodePort") == true)
        #expect(error("pod/default/client", "nothing.default.svc.cluster.local:80")?.contains("does not resolve") == true)
        #expect(error("banana", "service/default/web:80")?.hasPrefix("--from \"banana\"") == true)
        #expect(error("pod/default/client", "service/default/web-headless")?.contains("headless") == true)
    }

    @Test func portNamesAndDefaultsResolve() throws {
        let s = try TraceTargetParser.source("default/client", in: cluster)
        #expect(try TraceTargetParser.destination("service/default/web:http", from: s, in: cluster).port == 80)
        #expect(try TraceTargetParser.destination("service/default/web", from: s, in: cluster).port == 80)
        #expect(try TraceTargetParser.destination("pod/default/web-1", from: s, in: cluster).port == 8080)
        #expect(try TraceTargetParser.destination("10.96.0.10:53", from: s, in: cluster).service?.name == "kube-dns")
        #expect(try TraceTargetParser.source("10.244.1.2", in: cluster) == .pod(cluster.pod(namespace: "default", name: "client")!))
        #expect(try TraceTargetParser.source("172.18.0.3", in: cluster) == .node(cluster.node(named: "worker-1")!))
    }
}
