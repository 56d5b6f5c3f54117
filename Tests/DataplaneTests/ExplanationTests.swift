import Testing
@testable import Cluster
@testable import Dataplane
@testable import Netfilter
import Wire

/// Explanations read the deciding rule's origin when kdp compiled it, and its comment only for
/// rules without one (a foreign dump).
@Suite struct ExplanationTests {
    /// A rule whose comment names the wrong Service and the wrong cause: the origin wins, and
    /// without it the comment is all there is.
    @Test func theOriginIsTrustedOverAMisleadingComment() throws {
        let cluster = try ClusterBuilder.load(paths: [])
        let node = cluster.nodes[0]
        let lb = ServicePortName(namespace: "default", name: "web-lb", port: "http")
        let ruleset = try Ruleset.build([Ruleset.TableRules(name: .filter, chains: [], rules: [
            .init(chain: "INPUT", words: ["-m", "comment", "--comment", "default/decoy:http has no endpoints", "-j", "REJECT"],
                  origin: RuleOrigin(.noLocalEndpoints(.external), servicePort: lb)),
        ])], source: "test")
        let packet = Packet(source: try IPAddress(parsing: "203.0.113.7"), destination: node.internalIPs[0], proto: .tcp,
                            sourcePort: 40000, destinationPort: 30080, inInterface: "eth0")
        let host = Host.simple(localAddresses: node.internalIPs)
        let path = try #require(Tracer(ruleset: ruleset).trace(packet: packet, host: host).paths.first)
        #expect(path.verdict == .rejected)
        #expect(path.origin == RuleOrigin(.noLocalEndpoints(.external), servicePort: lb))
        #expect(Explanation.why(path: path, node: node, packet: packet, cluster: cluster)
            == "externalTrafficPolicy Local and node control-plane has no local endpoint for default/web-lb (port http)")
        var foreign = path
        foreign.end.origin = nil
        #expect(Explanation.why(path: foreign, node: node, packet: packet, cluster: cluster) == "default/decoy (port http) has no endpoints")
    }

    /// On kdp's own rules the origin and the comment agree: every drop and reject of the demo's
    /// traffic explains the same either way.
    @Test func originsAndCommentsAgreeOnTheCompiledRules() throws {
        let cluster = try ClusterBuilder.load(paths: [])
        let plane = Dataplane(cluster: cluster)
        var explained = 0
        for var nodeHost in plane.nodes {
            guard let tracer = try nodeHost.load(.ipv4) else { continue }
            let node = nodeHost.node
            for svc in cluster.services {
                for ip in svc.clusterIPs + svc.externalIPs + svc.loadBalancerIPs + node.internalIPs {
                    for port in svc.ports.flatMap({ [$0.port] + ($0.nodePort.map { [$0] } ?? []) }) {
                        for source in ["203.0.113.7", "192.0.2.1", "10.244.1.2"] {
                            let packet = Packet(source: try IPAddress(parsing: source), destination: ip, proto: .tcp,
                                                sourcePort: 40000, destinationPort: port, inInterface: "eth0")
                            for path in tracer.trace(packet: packet, host: nodeHost.host, options: TraceOptions(allPaths: true)).paths
                            where path.verdict != .accepted && path.origin != nil {
                                var foreign = path
                                foreign.end.origin = nil
                                #expect(Explanation.why(path: path, node: node, packet: packet, cluster: cluster)
                                    == Explanation.why(path: foreign, node: node, packet: packet, cluster: cluster))
                                explained += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(explained > 10)
    }
}
