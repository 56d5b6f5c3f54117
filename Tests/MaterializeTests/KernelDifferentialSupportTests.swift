import Cluster
import Dataplane
import Foundation
import TestSupport
import Testing
import Wire

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// What the kernel differential rests on, without root: the χ² survival function against
/// tabulated critical values, and the kernel behaviour the differential found kdp missing.
struct KernelDifferentialSupportTests {
    @Test func chiSquareSurvivalMatchesTabulatedCriticalValues() {
        // (statistic, degrees of freedom, upper tail), from the standard χ² table.
        let table: [(Double, Int, Double)] = [
            (3.841, 1, 0.05), (6.635, 1, 0.01), (10.828, 1, 0.001), (5.991, 2, 0.05), (13.816, 2, 0.001),
            (18.307, 10, 0.05), (29.588, 10, 0.001), (124.342, 100, 0.05), (149.449, 100, 0.001), (0.455, 1, 0.5),
        ]
        for (x, df, p) in table {
            let q = ChiSquare.survival(x, degreesOfFreedom: df)
            #expect(abs(q - p) / p < 0.01, "Q(\(df)/2, \(x)/2) = \(q), table \(p)")
        }
        #expect(ChiSquare.survival(0, degreesOfFreedom: 3) == 1)
        #expect(ChiSquare.statistic(observed: [50, 50], probabilities: [0.5, 0.5]) == 0)
        #expect(abs(ChiSquare.statistic(observed: [60, 40], probabilities: [0.5, 0.5]) - 4) < 1e-12)
    }

    /// Found by the differential: a node's packet to a LoadBalancer IP without endpoints
    /// leaves the cluster, and the network (a cloud load balancer) may hand it back to the
    /// same node; the kernel drops it there as a martian (its source is one of the node's own
    /// addresses, fib_validate_source with accept_local=0). kdp delivered it to the Service's
    /// rules, which refused it.
    @Test func aPacketArrivingWithTheNodesOwnAddressAsSourceIsAMartian() throws {
        let cluster = try ClusterBuilder.load(paths: [repositoryRoot.appendingPathComponent("topologies/differential.yaml").path])
        let node = try #require(cluster.nodes.first { $0.name == "node-3" })
        let nodeIP = try #require(node.internalIP(.ipv4))
        var plane = Dataplane(cluster: cluster)
        var own = Dataplane.Request(source: .external(nodeIP), destination: TraceDestination(address: try IPAddress(parsing: "198.51.100.19"), port: 80, spec: "198.51.100.19:80"))
        own.via = "node-3"
        own.allPaths = true
        let dropped = try plane.trace(own)
        #expect(dropped.paths.count == 1 && dropped.paths[0].verdict == .dropped)
        #expect(dropped.paths[0].why?.contains("martian source \(nodeIP)") == true)
        // Another node's address is no martian: that node's rules refuse the Service without endpoints.
        var other = own
        other.via = "node-2"
        #expect(try plane.trace(other).paths.map(\.verdict) == [.rejected])
    }
}
