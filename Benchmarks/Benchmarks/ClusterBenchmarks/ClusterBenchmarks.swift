import Benchmark
import Cluster

/// Loading and allocating clusters: the issue #2 target is a 5,000-node, 150,000-pod,
/// 10,000-service topology in under 10 s and 4 GiB.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .peakMemoryResident, .mallocCountTotal], maxDuration: .seconds(60), maxIterations: 5)

    let large = TopologyGenerator.Spec(nodes: 5000, podsPerNode: 30, services: 10_000, endpointsPerService: 2, seed: 1)
    let largeText = TopologyGenerator.text(large)

    Benchmark("cluster.parse.5000n-150000p-10000s", configuration: .init(maxIterations: 3)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try TopologyLoader.parse(text: largeText, file: "generated.yaml"))
        }
    }

    let largeInput = try! TopologyLoader.parse(text: largeText, file: "generated.yaml")
    Benchmark("cluster.build.5000n-150000p-10000s", configuration: .init(maxIterations: 3)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try ClusterBuilder.build(largeInput))
        }
    }

    let small = TopologyGenerator.text(.init(nodes: 50, podsPerNode: 20, services: 200, endpointsPerService: 3))
    Benchmark("cluster.load.50n-1000p-200s") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try ClusterBuilder.build(TopologyLoader.parse(text: small, file: "small.yaml")))
        }
    }

}
