// swift-tools-version: 6.1
// kdp: a Kubernetes networking data-plane emulator. Module map: docs/ARCHITECTURE.md.
// Imports point one way. Netfilter and IPVS import only Wire; Cluster imports Wire and Yams;
// KubeProxy imports Wire, Cluster, Netfilter and IPVS; Dataplane imports all of those;
// IPVSScenarios (kdp ipvs simulate) imports IPVS, Wire and Yams; Bench (kdp bench and
// Benchmarks/) imports everything but IPVSScenarios; Captures imports Wire and CPcap (libpcap);
// Netlink imports Wire and CNetlink (libnl); NodeSnapshot imports Wire, Netlink, Netfilter, IPVS, CNetlink (Verification imports it);
// Materialize (kdp materialize) imports Wire, Cluster, KubeProxy, Dataplane, Netlink;
// kdp imports every library. Tests'
// shared helpers live in Tests/TestSupport (Wire, Netfilter, Captures).
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
        .library(name: "IPVSScenarios", targets: ["IPVSScenarios"]),
        // The measurements `kdp bench` and the package benchmarks in Benchmarks/ share.
        .library(name: "Verification", targets: ["Verification"]),
        .library(name: "Bench", targets: ["Bench"]),
        .library(name: "Captures", targets: ["Captures"]),
        .library(name: "Netlink", targets: ["Netlink"]),
        .library(name: "NodeSnapshot", targets: ["NodeSnapshot"]),
        .library(name: "Materialize", targets: ["Materialize"]),
        .library(name: "NFTables", targets: ["NFTables"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // SHA-256 for kube-proxy's chain names (KUBE-SVC-<base32(sha256)>).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .target(name: "Wire"),
        // libpcap as a system library (SWIFT-NOTES.md): pcap/pcapng in and pcap out for `Captures`.
        .systemLibrary(name: "CPcap", path: "Sources/CPcap", providers: [.apt(["libpcap-dev"])]),
        .target(name: "Captures", dependencies: ["Wire", "CPcap"]),
        // libnl as a system library (SWIFT-NOTES.md): links, addresses, routes, neighbours of a live
        // namespace for `Netlink`; `NodeSnapshot` writes and reads `kdp snapshot` directories.
        .systemLibrary(name: "CNetlink", path: "Sources/CNetlink", pkgConfig: "libnl-route-3.0",
                       providers: [.apt(["libnl-3-dev", "libnl-route-3-dev", "libnl-genl-3-dev"])]),
        .target(name: "Netlink", dependencies: ["Wire", "CNetlink"]),
        .target(name: "NodeSnapshot", dependencies: ["Wire", "Netlink", "Netfilter", "IPVS", "CNetlink"]),
        .target(
            name: "Cluster",
            dependencies: ["Wire", "Yams"],
            resources: [.embedInCode("Resources/demo.yaml")]
        ),
        .target(name: "Netfilter", dependencies: ["Wire"]),
        .target(name: "IPVS", dependencies: ["Wire"]),
        // nft rulesets (`nft list ruleset`, `nft -f`): parse and evaluate; beside Netfilter, Wire only.
        .target(name: "NFTables", dependencies: ["Wire"]),
        .target(name: "IPVSScenarios", dependencies: ["IPVS", "Wire", "Yams"]),
        .target(
            name: "KubeProxy",
            dependencies: ["Wire", "Cluster", "Netfilter", "IPVS", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(name: "Dataplane", dependencies: ["Wire", "Captures", "Cluster", "Netfilter", "IPVS", "KubeProxy", "NFTables"]),
        // `kdp materialize`: the emulated cluster built in real network namespaces through Netlink.
        .target(name: "Materialize", dependencies: ["Wire", "Cluster", "KubeProxy", "Dataplane", "Netlink"]),
        .target(name: "Verification", dependencies: ["Wire", "Cluster", "Netfilter", "Dataplane", "NodeSnapshot"]),
        .target(name: "Bench", dependencies: ["Wire", "Captures", "Cluster", "Netfilter", "IPVS", "KubeProxy", "NFTables", "Dataplane", "Verification"]),
        .executableTarget(
            name: "kdp",
            dependencies: [
                "Wire", "Cluster", "Netfilter", "IPVS", "KubeProxy", "Dataplane", "Verification", "IPVSScenarios", "Bench", "Netlink", "NodeSnapshot", "Materialize", "NFTables",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "Yams",
            ]
        ),
        // Helpers shared by test targets: network-namespace harnesses, generated rulesets, fixtures.
        .target(name: "TestSupport", dependencies: ["Wire", "Netfilter", "Captures", "Cluster", "KubeProxy"], path: "Tests/TestSupport"),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "CapturesTests", dependencies: ["Captures", "Wire", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Wire"], exclude: ["Fixtures"]),
        .testTarget(name: "NetfilterTests", dependencies: ["Netfilter", "Wire", "KubeProxy", "Cluster", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "NFTablesTests", dependencies: ["NFTables", "Wire", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "IPVSTests", dependencies: ["IPVS", "Wire", "Bench"]),
        .testTarget(name: "IPVSScenariosTests", dependencies: ["IPVSScenarios", "IPVS", "Wire"]),
        .testTarget(name: "BenchTests", dependencies: ["Bench", "IPVS", "Wire"]),
        .testTarget(name: "KubeProxyTests", dependencies: ["KubeProxy", "Cluster", "Wire", "Netfilter", "IPVS", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "DataplaneTests", dependencies: ["Dataplane", "Bench", "Captures", "KubeProxy", "Netfilter", "Cluster", "Wire", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "VerificationTests", dependencies: ["Verification", "Dataplane", "Cluster", "Netfilter", "Wire"]),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink", "NodeSnapshot", "Netfilter", "IPVS", "Wire", "TestSupport"]),
        .testTarget(name: "MaterializeTests", dependencies: ["Materialize", "Netlink", "Cluster", "Dataplane", "Wire", "TestSupport"]),
        .testTarget(name: "KdpTests", dependencies: ["kdp", "Cluster", "Dataplane", "Wire", "KubeProxy", "Captures", "TestSupport"], exclude: ["Golden", "Fuzz"]),
    ]
)
