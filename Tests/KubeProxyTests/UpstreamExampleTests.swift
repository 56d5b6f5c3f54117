import Foundation
import Testing
@testable import Cluster
@testable import KubeProxy
import Wire

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

/// upstream's TestOverallIPTablesRules, through kdp: the manifests and the proxier settings of
/// kube-proxy-example/README.md must give the expected rules byte for byte.
@Suite struct UpstreamExampleTests {
    static func exampleCluster() throws -> Cluster {
        try ClusterBuilder.load(paths: [
            fixtures.appendingPathComponent("upstream-overall-settings.yaml").path,
            fixtures.appendingPathComponent("upstream-overall-manifests.yaml").path,
        ])
    }

    static func exampleConfig(_ cluster: Cluster) -> ProxierConfig {
        var config = ProxierConfig.forNode(cluster.node(named: "test-node")!, in: cluster, family: .ipv4)
        config.clusterCIDRs = [try! Prefix(parsing: "10.0.0.0/8")]
        config.masqueradeMarkText = "0x4000"
        config.nfacct = true
        config.randomFully = false
        return config
    }

    @Test func overallRulesMatchUpstreamByteForByte() throws {
        let cluster = try Self.exampleCluster()
        let ruleset = IPTablesCompiler.compile(cluster, config: Self.exampleConfig(cluster))
        let expected = try String(contentsOf: fixtures.appendingPathComponent("upstream-overall-expected.iptables-save"), encoding: .utf8)
        let got = ruleset.restoreText(order: .canonical)
        if got != expected {
            let g = got.split(separator: "\n", omittingEmptySubsequences: false), e = expected.split(separator: "\n", omittingEmptySubsequences: false)
            for i in 0..<max(g.count, e.count) where (i < g.count ? g[i] : "<none>") != (i < e.count ? e[i] : "<none>") {
                Issue.record("line \(i + 1):\n got:      \(i < g.count ? g[i] : "<none>")\n expected: \(i < e.count ? e[i] : "<none>")")
                break
            }
        }
        #expect(got == expected)
    }

    @Test func realKubeProxySpellsTheMarkWithEightDigits() throws {
        let cluster = try Self.exampleCluster()
        var config = Self.exampleConfig(cluster)
        config.masqueradeMarkText = nil
        let text = IPTablesCompiler.compile(cluster, config: config).restoreText()
        #expect(text.contains("-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000\n"))
        #expect(text.contains("-m mark ! --mark 0x00004000/0x00004000 -j RETURN"))
    }
}

@Suite struct ChainNameTests {
    @Test(arguments: [
        ("ns1/svc1:p80", "XPGD46QRK7WJZT7O"), ("ns2/svc2:p80", "GNZBNJ2PO5MGZ6GT"), ("ns5/svc5:p80", "NUKIZ6OKUXPJNT4C"),
        ("ns2/svc2:p8080", "2VJB64SDSIJUP5T6"), ("ns4/svc4:p8082", "EBDQOQU5SJFXRIL3"),
    ])
    func servicePortHashesMatchUpstream(_ name: String, _ hash: String) {
        #expect(ChainName.servicePortHash(name, "tcp") == hash)
    }

    @Test func endpointHashesMatchUpstream() {
        #expect(ChainName.endpointHash("ns1/svc1:p80", "tcp", "10.180.0.1:80") == "SXIVWICOYRO3J4NJ")
        #expect(ChainName.endpointHash("ns1/svc1:p80", "tcp", "10.0.0.0:80") == "DKGQUZGBKLTPAR56")
    }

    @Test func base32IsRFC4648WithPadding() {
        #expect(ChainName.base32(Array("foobar".utf8)) == "MZXW6YTBOI======")
        #expect(ChainName.base32(Array("f".utf8)) == "MY======")
    }

    @Test func probabilitiesHaveTenDecimals() {
        #expect((1...4).map { Probability.text($0) } == ["1.0000000000", "0.5000000000", "0.3333333333", "0.2500000000"])
        #expect(Probability.text(7) == "0.1428571429")
        #expect(Probability.text(100_001) == "0.0000099999")
    }
}
