// swift-tools-version: 6.1
// kdp's microbenchmarks (package-benchmark), kept out of the root package so that
// `swift build` / `swift test` of kdp never compile them. Run with `make bench`. Workloads and
// measured loops come from kdp's `Bench` library, the one `kdp bench` uses.
import PackageDescription

let package = Package(
    name: "kdp-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "kdp", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "ClusterBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Cluster", package: "kdp"),
            ],
            path: "Benchmarks/ClusterBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "NetfilterBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Bench", package: "kdp"),
                .product(name: "KubeProxy", package: "kdp"),
                .product(name: "Netfilter", package: "kdp"),
            ],
            path: "Benchmarks/NetfilterBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "IPVSBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Bench", package: "kdp"),
                .product(name: "IPVS", package: "kdp"),
                .product(name: "Wire", package: "kdp"),
            ],
            path: "Benchmarks/IPVSBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
