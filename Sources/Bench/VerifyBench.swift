import Cluster
import Dataplane
import Foundation
import Verification

/// `verify.*`: how long `kdp verify` takes and how much memory it holds, on the shipped
/// clusters and on generated ones of growing size, with the number of classes traced (the cost
/// is one trace per class, so seconds per class is the figure that says where time goes).
public enum VerifyBench {
    public struct Run: Encodable, Sendable {
        public var name: String
        public var nodes: Int
        public var pods: Int
        public var services: Int
        public var invariants: [String]
        public var classes: Int
        public var seconds: Double
        /// Seconds to load the cluster and compile every node's rules (not in `seconds`).
        public var loadSeconds: Double
        public var microsecondsPerClass: Double
        /// Resident memory after the run (/proc/self/statm), in bytes.
        public var residentBytes: Int
        public var holds: Bool

        enum CodingKeys: String, CodingKey {
            case name, nodes, pods, services, invariants, classes, seconds, holds
            case loadSeconds = "load_seconds", microsecondsPerClass = "us_per_class", residentBytes = "rss_bytes"
        }
    }

    /// Verifies `cluster` (the invariants given, all by default) and times it.
    public static func measure(_ cluster: Cluster, name: String, invariants: [Invariant] = Invariant.allCases) throws -> Run {
        let start = Date()
        var verifier = try Verifier(cluster: cluster)
        let loaded = Date().timeIntervalSince(start)
        var options = Verifier.Options()
        options.invariants = invariants
        options.maxExamples = 0
        let t0 = Date()
        let report = verifier.verify(options)
        let seconds = Date().timeIntervalSince(t0)
        // Classes traced: the Service invariants share one sweep, counted once.
        var classes = 0, countedServices = false
        for r in report.results {
            switch r.invariant {
            case .serviceEndpoints, .serviceReply, .sourcePreserved:
                if !countedServices { classes += r.classes; countedServices = true }
            default:
                classes += r.classes
            }
        }
        return Run(name: name, nodes: cluster.nodes.count, pods: cluster.pods.count, services: cluster.services.count,
                   invariants: invariants.map(\.rawValue), classes: classes, seconds: seconds, loadSeconds: loaded,
                   microsecondsPerClass: classes > 0 ? seconds / Double(classes) * 1e6 : 0,
                   residentBytes: ReplayBench.residentBytes(), holds: report.holds)
    }

    /// A generated cluster (`kdp generate`'s), built as `kdp` would load it.
    public static func generated(nodes: Int, podsPerNode: Int, services: Int, endpointsPerService: Int = 3, seed: UInt64 = 1) throws -> Cluster {
        let spec = TopologyGenerator.Spec(nodes: nodes, podsPerNode: podsPerNode, services: services, endpointsPerService: endpointsPerService, seed: seed)
        try spec.validate()
        return try ClusterBuilder.build(TopologyLoader.parse(text: TopologyGenerator.text(spec), file: "<generated>"))
    }
}
