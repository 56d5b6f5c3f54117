import Bench
import Benchmark
import KubeProxy
import Netfilter

/// Parsing a node's iptables-save text: the issue #3 target is 200,000 rules "well under a
/// second". The text is what kube-proxy leaves on one node of a generated 10-node cluster with
/// 20,000 Services of 2 endpoints (about 209,000 rules), the cluster `kdp bench --services 20000`
/// generates but with pods for every endpoint (4,000 a node).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .peakMemoryResident, .mallocCountTotal], maxDuration: .seconds(60), maxIterations: 5)

    let cluster = try! BenchCluster.build(BenchCluster.spec(services: 20_000, endpointsPerService: 2, seed: 1, podsPerNode: 4000))
    let saveText = try! IPTablesCompiler.compile(cluster, config: BenchCluster.proxierConfig(cluster)).saveText()
    let rules = saveText.split(separator: "\n").count { $0.hasPrefix("-A ") }

    Benchmark("netfilter.parse.iptables-save.\(rules / 1000)k-rules") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try Ruleset.parse(text: saveText, file: "node.rules"))
        }
    }
}
