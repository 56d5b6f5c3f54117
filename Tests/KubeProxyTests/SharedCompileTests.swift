import Foundation
import Testing
@testable import Cluster
@testable import KubeProxy
import Wire

/// Nodes that share what their kube-proxy output has in common must each still get exactly
/// what their own sync writes.
@Suite struct SharedCompileTests {
    /// A generated cluster: ClusterIP, sticky, NodePort, LoadBalancer Services with Local
    /// policy and source ranges, headless ones.
    static func generated(nodes: Int = 6, services: Int = 160) throws -> Cluster {
        try ClusterBuilder.build(TopologyLoader.parse(
            text: TopologyGenerator.text(TopologyGenerator.Spec(nodes: nodes, podsPerNode: 8, services: services, endpointsPerService: 3, seed: 5)),
            file: "generated"))
    }

    /// The same cluster with node hints on every other slice's endpoints (each endpoint hinted
    /// for its own node), so that topology-aware routing makes ports differ between nodes.
    static func hinted(_ c: Cluster) -> Cluster {
        let slices = c.endpointSlices.enumerated().map { i, s in
            var s = s
            if i % 2 == 0 { s.endpoints = s.endpoints.map { e in var e = e; e.hintsForNodes = e.nodeName.map { [$0] } ?? []; return e } }
            return s
        }
        return Cluster(settings: c.settings, nodes: c.nodes, pods: c.pods, services: c.services, endpointSlices: slices,
                       notes: c.notes, inferred: c.inferred, inconsistencies: c.inconsistencies)
    }

    static func clusters() throws -> [(String, Cluster)] {
        let g = try generated()
        return [
            ("generated", g),
            ("generated, node hints", hinted(g)),
            ("generated, NodeCIDR detector", g.withKubeProxy { $0.detectLocalMode = .nodeCIDR }),
            ("generated, masquerade all", g.withKubeProxy { $0.masqueradeAll = true }),
            ("demo", try ClusterBuilder.load(paths: [])),
            ("upstream", try UpstreamExampleTests.exampleCluster()),
        ]
    }

    @Test func everyNodesSharedOutputIsTheOutputItsOwnSyncWrites() throws {
        for (name, cluster) in try Self.clusters() {
            let shared = IPTablesSharedCompiler(cluster: cluster)
            for node in cluster.nodes {
                for family in cluster.settings.families where node.internalIP(family) != nil {
                    let config = ProxierConfig.forNode(node, in: cluster, family: family)
                    let alone = IPTablesCompiler.compile(cluster, config: config)
                    let output = shared.output(config)
                    #expect(output.ruleset == alone, "\(name): \(node.name) \(family)")
                    #expect(output.ruleset.restoreText() == alone.restoreText())
                }
            }
        }
    }

    @Test func nodesWithTheSameInputsShareTheirServicePortPieces() throws {
        let cluster = try Self.generated()
        let shared = IPTablesSharedCompiler(cluster: cluster)
        let outputs = cluster.nodes.map { shared.output(ProxierConfig.forNode($0, in: cluster, family: .ipv4)) }
        // Preamble and tail are each node's own; the Service ports' pieces between them are
        // mostly the very same objects on every node.
        let first = outputs[0].pieces.dropFirst().dropLast()
        for o in outputs.dropFirst() {
            let mine = o.pieces.dropFirst().dropLast()
            #expect(mine.count == first.count)
            func size(_ p: IPTablesPiece) -> Int { p.rules.filter.rules.count + p.rules.nat.rules.count }
            let same = zip(first, mine).filter { $0 === $1 }.reduce(0) { $0 + size($1.1) }
            let all = mine.reduce(0) { $0 + size($1) }
            #expect(same * 10 >= all * 9, "\(same) of \(all) rules in shared pieces")
        }
        // A port with Local policy has a piece of its own on the nodes with its endpoints.
        let distinct = Set(outputs.flatMap { $0.pieces.dropFirst().dropLast().map(ObjectIdentifier.init) })
        #expect(distinct.count > first.count)
    }
}
