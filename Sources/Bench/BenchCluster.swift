import Cluster
import KubeProxy

/// The generated cluster that `kdp bench` and the package benchmarks (Benchmarks/) measure on:
/// ten nodes, `services` Services of `endpointsPerService` endpoints each, and the proxier of
/// node 1 (the first worker) in IPv4.
public enum BenchCluster {
    public static let nodes = 10
    /// The nodes of the cluster `dataplane.load.100nodes` loads (the same Services and pods).
    public static let sharingNodes = 100

    /// The topology. `podsPerNode` defaults to enough pods for every Service to have its
    /// endpoints, counting at most 5,000 Services (more pods would only slow the build).
    public static func spec(services: Int, endpointsPerService: Int, seed: UInt64, podsPerNode: Int? = nil,
                            nodes: Int = nodes) -> TopologyGenerator.Spec {
        let pods = podsPerNode ?? max(1, (endpointsPerService * min(services, 5_000) + nodes - 1) / nodes)
        return TopologyGenerator.Spec(nodes: nodes, podsPerNode: pods, services: services,
                                      endpointsPerService: endpointsPerService, seed: seed)
    }

    /// Validates, generates and builds the cluster. Cost: the whole topology pipeline (about a
    /// second at 20,000 Services in a release build).
    public static func build(_ spec: TopologyGenerator.Spec, file: String = "generated") throws -> Cluster {
        try spec.validate()
        return try ClusterBuilder.build(TopologyLoader.parse(text: TopologyGenerator.text(spec), file: file))
    }

    /// The measured node's kube-proxy settings.
    public static func proxierConfig(_ cluster: Cluster) -> ProxierConfig {
        ProxierConfig.forNode(cluster.nodes[1], in: cluster, family: .ipv4)
    }
}
