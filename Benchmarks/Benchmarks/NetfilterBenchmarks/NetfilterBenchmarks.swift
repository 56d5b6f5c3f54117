import Benchmark
import Cluster
import KubeProxy
import Netfilter

/// Parsing a node's iptables-save text: the issue #3 target is 200,000 rules "well under a
/// second". The text is what kube-proxy leaves on one node of a generated 10-node cluster with
/// 20,000 Services of 2 endpoints (about 209,000 rules), as `kdp bench --services 20000` uses.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .peakMemoryResident, .mallocCountTotal], maxDuration: .seconds(60), maxIterations: 5)

    let spec = TopologyGenerator.Spec(nodes: 10, podsPerNode: 4000, services: 20_000, endpointsPerService: 2, seed: 1)
    let cluster = try! ClusterBuilder.build(TopologyLoader.parse(text: TopologyGenerator.text(spec), file: "generated.yaml"))
    let config = ProxierConfig.forNode(cluster.nodes[1], in: cluster, family: .ipv4)
    let saveText = try! IPTablesCompiler.compile(cluster, config: config).saveText()
    let rules = saveText.split(separator: "\n").count { $0.hasPrefix("-A ") }

    Benchmark("netfilter.parse.iptables-save.\(rules / 1000)k-rules") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try Ruleset.parse(text: saveText, file: "node.rules"))
        }
    }
}
