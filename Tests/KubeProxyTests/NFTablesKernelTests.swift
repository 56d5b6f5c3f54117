import Foundation
import Testing
@testable import Cluster
@testable import KubeProxy
import TestSupport
import Wire

/// nftables mode against the kernel and nft 1.0.6 in a fresh network namespace: `nft -f`
/// loads kdp's transaction text (knftables' `Fake.Dump()` order), and `nft list table` must
/// print exactly kdp's `listText()`. Cases: upstream's TestOverallNFTablesRules, every node of
/// the demo (the embedded default) and of topologies/ha-cluster.yaml, a dual-stack cluster in
/// both families, and every local-traffic detector.
@Suite(.serialized) struct NFTablesKernelTests {
    static let nftMissing: String? = {
        if let why = KernelCheck.missing { return why }
        if (try? Shell.run(["sh", "-c", "command -v nft"]).status) != 0 { return "nft not installed" }
        return nil
    }()
    static var enabled: Bool { KernelCheck.isCI || nftMissing == nil }

    static func unavailable() -> Bool {
        guard let why = nftMissing else { return false }
        if KernelCheck.isCI { Issue.record("nftables kernel check cannot run under CI: \(why)") } else { print("skipping nftables kernel check: \(why)") }
        return true
    }

    /// Loads the table, lists it, compares, and deletes it for the next case.
    func check(_ ruleset: NFTablesRuleset, _ what: String, in ns: NetworkNamespace) throws {
        let load = try ns.exec(["nft", "-f", "-"], input: ruleset.transactionText())
        #expect(load.status == 0, "nft -f rejected \(what): \(load.output)")
        guard load.status == 0 else { return }
        let listed = try ns.exec(["nft", "list", "table", ruleset.family.rawValue, ruleset.tableName])
        #expect(listed.status == 0, "nft list table failed for \(what): \(listed.output)")
        let mine = ruleset.listText()
        if listed.output != mine {
            let a = listed.output.split(separator: "\n", omittingEmptySubsequences: false), b = mine.split(separator: "\n", omittingEmptySubsequences: false)
            for i in 0..<max(a.count, b.count) where (i < a.count ? a[i] : "") != (i < b.count ? b[i] : "") {
                Issue.record("\(what) line \(i + 1):\n nft: \(i < a.count ? a[i] : "<none>")\n kdp: \(i < b.count ? b[i] : "<none>")")
                break
            }
        }
        #expect(listed.output == mine, "\(what)")
        _ = try ns.exec(["nft", "delete", "table", ruleset.family.rawValue, ruleset.tableName])
    }

    func checkCluster(_ cluster: Cluster, _ name: String, families: [IPFamily] = [.ipv4], in ns: NetworkNamespace,
                      edit: (inout ProxierConfig) -> Void = { _ in }) throws {
        for node in cluster.nodes {
            for family in families {
                var (config, options, _) = NFTablesCompiler.config(for: node, in: cluster, family: family)
                edit(&config)
                try check(NFTablesCompiler.compile(cluster, config: config, options: options), "\(name) \(node.name) \(family)", in: ns)
            }
        }
    }

    @Test(.enabled(if: enabled))
    func nftListsUpstreamsOverallRulesAsKdpDoes() throws {
        if Self.unavailable() { return }
        let ns = try NetworkNamespace("nftc-upstream")
        defer { ns.delete() }
        let c = try UpstreamExampleTests.exampleCluster()
        let (config, options) = NFTablesUpstreamTests.fakeProxier(c)
        try check(NFTablesCompiler.compile(c, config: config, options: options), "TestOverallNFTablesRules", in: ns)
    }

    @Test(.enabled(if: enabled))
    func nftListsEveryDemoNodeAsKdpDoes() throws {
        if Self.unavailable() { return }
        let ns = try NetworkNamespace("nftc-demo")
        defer { ns.delete() }
        try checkCluster(try ClusterBuilder.load(paths: []), "demo", in: ns)
        let ha = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("topologies/ha-cluster.yaml")
        try checkCluster(try ClusterBuilder.load(paths: [ha.path]), "ha-cluster", in: ns)
    }

    @Test(.enabled(if: enabled))
    func nftListsADualStackClusterInBothFamiliesAsKdpDoes() throws {
        if Self.unavailable() { return }
        let ns = try NetworkNamespace("nftc-dual")
        defer { ns.delete() }
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: IPVSModeKernelTests.dualStack, file: "dual.yaml"))
        try checkCluster(cluster, "dual-stack", families: [.ipv4, .ipv6], in: ns)
        // nodePortAddresses matching every address: the fib rules instead of @nodeport-ips.
        try checkCluster(cluster, "dual-stack, all nodeport addresses", families: [.ipv4, .ipv6], in: ns) { $0.nodePortAddresses = [] }
    }

    @Test(.enabled(if: enabled), arguments: LocalDetectorMode.allCases)
    func nftListsEveryLocalDetectorAsKdpDoes(_ mode: LocalDetectorMode) throws {
        if Self.unavailable() { return }
        let ns = try NetworkNamespace("nftc-detect")
        defer { ns.delete() }
        try checkCluster(try ClusterBuilder.load(paths: []), "demo \(mode.rawValue)", in: ns) { c in
            c.detectLocalMode = mode
            c.masqueradeAll = mode == .none
        }
    }
}
