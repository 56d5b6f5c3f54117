// swift-tools-version: 6.1
// kdp: a Kubernetes networking data-plane emulator. Module map: ../shared/design/ARCHITECTURE.md.
// Imports point one way: Wire ← Cluster ← (Netfilter, IPVS) ← KubeProxy ← Dataplane ← kdp.
import PackageDescription

let package = Package(
    name: "kdp",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kdp", targets: ["kdp"]),
        .library(name: "Wire", targets: ["Wire"]),
        .library(name: "Cluster", targets: ["Cluster"]),
        .library(name: "Netfilter", targets: ["Netfilter"]),
        .library(name: "IPVS", targets: ["IPVS"]),
        .library(name: "KubeProxy", targets: ["KubeProxy"]),
        .library(name: "Dataplane", targets: ["Dataplane"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // SHA-256 for kube-proxy's chain names (KUBE-SVC-<base32(sha256)>).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .target(name: "Wire"),
        .target(
            name: "Cluster",
            dependencies: ["Wire", "Yams"],
            resources: [.embedInCode("Resources/demo.yaml")]
        ),
        .target(name: "Netfilter", dependencies: ["Wire"]),
        .target(name: "IPVS", dependencies: ["Wire", "Yams"]),
        .target(
            name: "KubeProxy",
            dependencies: ["Wire", "Cluster", "Netfilter", "IPVS", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(name: "Dataplane", dependencies: ["Wire", "Cluster", "Netfilter", "IPVS", "KubeProxy"]),
        .executableTarget(
            name: "kdp",
            dependencies: [
                "Wire", "Cluster", "Netfilter", "IPVS", "KubeProxy", "Dataplane",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "Yams",
            ]
        ),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Wire"]),
        .testTarget(name: "NetfilterTests", dependencies: ["Netfilter", "Wire", "KubeProxy", "Cluster"], exclude: ["Fixtures"]),
        .testTarget(name: "IPVSTests", dependencies: ["IPVS", "Wire"]),
        .testTarget(name: "KubeProxyTests", dependencies: ["KubeProxy", "Cluster", "Wire", "Netfilter", "IPVS"], exclude: ["Fixtures"]),
        .testTarget(name: "DataplaneTests", dependencies: ["Dataplane", "KubeProxy", "Netfilter", "Cluster", "Wire"]),
        .testTarget(name: "KdpTests", dependencies: ["kdp", "Cluster", "Wire"], exclude: ["Golden"]),
    ]
)
