import Foundation
import Testing
@testable import Cluster
@testable import KubeProxy
import Wire
import Crypto

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

/// upstream's TestOverallIPTablesRules, through kdp: its objects as plain manifests (a Node with
/// the test's node IP, Services with 172.30.x ClusterIPs, EndpointSlices, and the proxier's
/// configuration as a kube-proxy ConfigMap), with no kdp settings file, must give the expected
/// rules byte for byte.
@Suite struct UpstreamExampleTests {
    static func exampleCluster() throws -> Cluster {
        try ClusterBuilder.load(paths: [
            fixtures.appendingPathComponent("upstream-overall-node.yaml").path,
            fixtures.appendingPathComponent("upstream-overall-manifests.yaml").path,
        ])
    }

    /// Only what the fake iptables of upstream's test harness differs in: it spells the mark
    /// `0x4000` and has nfacct.
    static func exampleConfig(_ cluster: Cluster) -> ProxierConfig {
        var config = ProxierConfig.forNode(cluster.node(named: "test-node")!, in: cluster, family: .ipv4)
        config.masqueradeMarkText = "0x4000"
        config.nfacct = true
        config.randomFully = false
        return config
    }

    @Test func plainManifestsNeedNoSettings() throws {
        let cluster = try Self.exampleCluster()
        // Taken as given: no default/kubernetes added, svc4's missing NodePort stays missing.
        #expect(cluster.services.map(\.key) == ["ns1/svc1", "ns2/svc2", "ns3/svc3", "ns4/svc4", "ns5/svc5", "ns6/svc6"])
        #expect(cluster.service(namespace: "ns4", name: "svc4")?.ports.first?.nodePort == nil)
        #expect(cluster.service(namespace: "ns2", name: "svc2")?.ports.first?.nodePort == 3001)
        #expect(cluster.settings.serviceCIDRs.map(\.description) == ["172.30.0.40/29"])
        #expect(cluster.settings.kubeProxy.clusterCIDRs?.map(\.description) == ["10.0.0.0/8"])
        #expect(cluster.notes.contains { $0.hasPrefix("serviceCIDR 172.30.0.40/29 inferred from the dump's 6 IPv4 ClusterIPs") })
        // NewFakeProxier's eth0 addresses as the Node's InternalIPs: the first is the node IP,
        // every one is local (as the fake network interfacer lists them).
        let config = Self.exampleConfig(cluster)
        #expect(config.nodeIP == (try IPAddress(parsing: "192.168.0.2")))
        #expect(config.localAddresses.map(\.description).filter { $0.hasPrefix("192.168.") } == ["192.168.0.2", "192.168.1.2", "192.168.99.11"])
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

    /// The fast prefix encoder gives exactly the first characters of the full base32 digest,
    /// for every length kube-proxy uses (8 in nftables names, 16 in iptables chains) and odd ones.
    @Test func hashPrefixIsThePrefixOfTheFullBase32Digest() {
        var rng = SystemRandomNumberGenerator()
        for i in 0..<300 {
            let input = i == 0 ? "" : String((0..<Int.random(in: 1...80, using: &rng)).map { _ in Character(Unicode.Scalar(UInt8.random(in: 32...126, using: &rng))) }) + (i % 7 == 0 ? "é∂" : "")
            let full = ChainName.base32(Array(SHA256.hash(data: Array(input.utf8))))
            for n in [1, 5, 8, 13, 16, 51] {
                #expect(ChainName.hashPrefix(input, characters: n) == String(full.prefix(n)), "\(input) \(n)")
            }
        }
    }

    @Test func probabilitiesHaveTenDecimals() {
        #expect((1...4).map { Probability.text($0) } == ["1.0000000000", "0.5000000000", "0.3333333333", "0.2500000000"])
        #expect(Probability.text(7) == "0.1428571429")
        #expect(Probability.text(100_001) == "0.0000099999")
    }
}
