import Foundation
import Testing
@testable import Cluster
@testable import KubeProxy
import TestSupport
import Wire

/// upstream's pkg/proxy/nftables/proxier_test.go (81810de6) through kdp: each test's Services
/// and EndpointSlices as manifests on NewFakeProxier's node, compiled by `NFTablesCompiler`,
/// compared as upstream's `assertNFTablesTransactionEqual` compares knftables' `Fake.Dump()`.
@Suite struct NFTablesUpstreamTests {
    static let nftFixtures = fixtures.appendingPathComponent("nftables")

    static func cluster(_ manifests: String) throws -> Cluster {
        try ClusterBuilder.load(paths: [
            fixtures.appendingPathComponent("upstream-overall-node.yaml").path,
            manifests.hasPrefix("/") ? manifests : nftFixtures.appendingPathComponent(manifests).path,
        ])
    }

    /// NewFakeProxier: test-node (192.168.0.2), the ClusterCIDR detector on 10.0.0.0/8,
    /// Service CIDR 172.30.0.0/16, nodePortAddresses 192.168.0.2/32 (and 2001:db8::1/128),
    /// masquerade mark written `0x4000`.
    static func fakeProxier(_ cluster: Cluster, family: IPFamily = .ipv4) -> (ProxierConfig, NFTablesCompiler.Options) {
        var config = ProxierConfig.forNode(cluster.node(named: "test-node")!, in: cluster, family: family)
        config.masqueradeMarkText = "0x4000"
        config.clusterCIDRs = [try! Prefix(parsing: family == .ipv4 ? "10.0.0.0/8" : "fd00:10::/64")]
        config.nodePortAddresses = [try! Prefix(parsing: "192.168.0.2/32"), try! Prefix(parsing: "2001:db8::1/128")]
        let serviceCIDR = try! Prefix(parsing: family == .ipv4 ? "172.30.0.0/16" : "fd00:10:96::/112")
        return (config, NFTablesCompiler.Options(serviceCIDRs: [serviceCIDR]))
    }

    static func compile(_ manifests: String) throws -> NFTablesRuleset {
        let c = try cluster(manifests)
        let (config, options) = fakeProxier(c)
        return NFTablesCompiler.compile(c, config: config, options: options)
    }

    /// `baseRules`: the overall fixture up to its first Service.
    static var baseRules: String {
        let overall = UpstreamNFTablesRules.overallExpected
        guard let r = overall.range(of: "\n\n# svc1\n") else { return "" }
        return String(overall[..<r.lowerBound]) + "\n"
    }

    static func expectUpstreamEqual(_ expected: String, _ got: String, sourceLocation: SourceLocation = #_sourceLocation) {
        if let diff = UpstreamNFTablesRules.firstDifference(expected, got) {
            Issue.record("\(diff)", sourceLocation: sourceLocation)
        }
        #expect(UpstreamNFTablesRules.transactionsEqual(expected, got), sourceLocation: sourceLocation)
    }

    @Test func overallRulesMatchUpstreamTestOverallNFTablesRules() throws {
        let c = try UpstreamExampleTests.exampleCluster()
        let (config, options) = Self.fakeProxier(c)
        let text = NFTablesCompiler.compile(c, config: config, options: options).transactionText()
        Self.expectUpstreamEqual(UpstreamNFTablesRules.overallExpected, text)
    }

    /// The comparison really is upstream's: it fails on any changed, missing or extra line.
    @Test func upstreamComparisonCatchesOneChangedLine() throws {
        let c = try UpstreamExampleTests.exampleCluster()
        let (config, options) = Self.fakeProxier(c)
        let text = NFTablesCompiler.compile(c, config: config, options: options).transactionText()
        let changed = text.replacingOccurrences(of: "numgen random mod 2", with: "numgen random mod 3")
        #expect(!UpstreamNFTablesRules.transactionsEqual(UpstreamNFTablesRules.overallExpected, changed))
        #expect(!UpstreamNFTablesRules.transactionsEqual(UpstreamNFTablesRules.overallExpected, text + "add rule ip kube-proxy services drop\n"))
    }

    /// knftables' `Fake.Dump()` order: table, chains, sets, maps (each by name, Go's byte
    /// order), then rules chain by chain, then elements set by set in insertion order.
    @Test func transactionIsInFakeDumpOrder() throws {
        let c = try UpstreamExampleTests.exampleCluster()
        let (config, options) = Self.fakeProxier(c)
        let lines = NFTablesCompiler.compile(c, config: config, options: options).transactionText().split(separator: "\n")
        let kinds = lines.map { $0.split(separator: " ")[1] }
        let rank = ["table": 0, "chain": 1, "set": 2, "map": 3, "rule": 4, "element": 5]
        #expect(kinds.map { rank[String($0)]! } == kinds.map { rank[String($0)]! }.sorted())
        let chains = lines.filter { $0.hasPrefix("add chain ") }.map { String($0.split(separator: " ")[4]) }
        #expect(chains == chains.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(chains.firstIndex(of: "service-ULMVA6XW-ns1/svc1/tcp/p80")! < chains.firstIndex(of: "service-endpoints-check")!)
        #expect(lines[0] == "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }")
        #expect(lines.contains("add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }"))
        // Elements of one map in the order kube-proxy added them: svc2's external IP before its LB IP.
        let noEndpoint = lines.filter { $0.hasPrefix("add element ip kube-proxy no-endpoint-services ") }
        #expect(noEndpoint.first?.contains("192.168.99.22") == true)
    }

    @Test(arguments: [
        ("repeated-initial", "TestSyncProxyRulesRepeated, first sync"),
        ("repeated-no-endpoints", "TestSyncProxyRulesRepeated, svc4 without endpoints"),
        ("repeated-two-endpoints", "TestSyncProxyRulesRepeated, svc3 with two endpoints"),
        ("startup", "TestSyncProxyRulesStartup"),
    ])
    func fullSyncStatesMatchUpstream(_ name: String, _ what: String) throws {
        let text = try Self.compile(name + ".yaml").transactionText()
        let expected = Self.baseRules + UpstreamNFTablesRules.fixture("\(name).nft")
        Self.expectUpstreamEqual(expected, text)
    }

    @Test func badIPsAreWrittenCanonicallyAsTestBadIPs() throws {
        let text = try Self.compile("bad-ips.yaml").transactionText()
        Self.expectUpstreamEqual(Self.baseRules + UpstreamNFTablesRules.fixture("bad-ips.nft"), text)
    }

    @Test(arguments: [
        ("testing", "service", "http", "tcp", "P4ZYZVCF-testing/service/tcp/http"),
        ("testing", "service", "https", "tcp", "LZBRENCP-testing/service/tcp/https"),
        ("very-long-namespace-name-abcdefghijklmnopqrstuvwxyz0123456789xx",
         "very-long-service-name-why-would-you-even-do-this-i-mean-really",
         "port-443-providing-the-hypertext-transmission-protocol-with-tls", "sctp",
         "KR6NACJP-very-long-namespace-name-abcdefghijklmnopqrstuvwxyz0123456789xx/very-long-service-name-why-would-you-even-do-this-i-mean-really/sctp/port-443-providing-the-hypertext-transmission-protocol-with-tls"),
    ])
    func servicePortChainNameBaseMatchesUpstream(_ ns: String, _ name: String, _ port: String, _ proto: String, _ expected: String) {
        #expect(NFTablesName.servicePortBase(.init(namespace: ns, name: name, port: port), protocolName: proto) == expected)
    }

    static let longNS = "very-long-namespace-name-abcdefghijklmnopqrstuvwxyz0123456789xx"
    static let longSvc = "very-long-service-name-why-would-you-even-do-this-i-mean-really"
    static let longPort = "port-443-providing-the-hypertext-transmission-protocol-with-tls"

    @Test(arguments: [
        ("testing", "service", "http", "tcp", "10.180.0.1", UInt16(80), "JO2XBXZR-testing/service/tcp/http__10.180.0.1/80"),
        ("testing", "service", "http", "tcp", "10.180.0.2", UInt16(80), "5S6H3H22-testing/service/tcp/http__10.180.0.2/80"),
        ("testing", "service", "http", "tcp", "fd80:abcd:12::a1b2:c3d4:e5f6:9999", UInt16(80),
         "U7E2ET36-testing/service/tcp/http__fd80.abcd.12..a1b2.c3d4.e5f6.9999/80"),
        (longNS, longSvc, longPort, "sctp", "1234:5678:9abc:def0::abc:1234", UInt16(443),
         "5YS7AFEA-\(longNS)/\(longSvc)/sctp/\(longPort)__1234.5678.9abc.def0..abc.1234/443"),
        (longNS, longSvc, longPort, "sctp", "1234:5678:9abc:def0::abcd:1234:5678", UInt16(443),
         "CI6C53Q3-\(longNS)/\(longSvc)/sctp/\(longPort)__1234.5678.9abc.def0..abcd.1234..."),
        (longNS, longSvc, longPort, "sctp", "1234:5678:9abc:def0::abcd:1234:8765", UInt16(443),
         "2FLXFK6X-\(longNS)/\(longSvc)/sctp/\(longPort)__1234.5678.9abc.def0..abcd.1234..."),
    ])
    func endpointChainNameBaseMatchesUpstream(_ ns: String, _ name: String, _ port: String, _ proto: String, _ ip: String, _ epPort: UInt16, _ expected: String) throws {
        let endpoint = ip.contains(":") ? "[\(ip)]:\(epPort)" : "\(ip):\(epPort)"
        let got = NFTablesName.endpointBase(.init(namespace: ns, name: name, port: port), protocolName: proto, endpoint: endpoint)
        #expect(got == expected)
    }
}

/// The ruleset texts upstream checks only through packet flows (TestLoadBalancer,
/// TestNoEndpointsReject, the IPv6 family, every local-traffic detector), pinned as the
/// proxier writes them.
@Suite struct NFTablesRuleTextTests {
    static func compile(_ yaml: String, family: IPFamily = .ipv4, edit: (inout ProxierConfig) -> Void = { _ in }) throws -> NFTablesRuleset {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-nftc-\(UUID().uuidString).yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let c = try NFTablesUpstreamTests.cluster(file.path)
        var (config, options) = NFTablesUpstreamTests.fakeProxier(c, family: family)
        edit(&config)
        return NFTablesCompiler.compile(c, config: config, options: options)
    }

    static func rules(_ r: NFTablesRuleset, _ chain: String) -> [String] {
        r.chain(named: chain)?.rules.map { rule in rule.comment.map { "\(rule.text) comment \"\($0)\"" } ?? rule.text } ?? []
    }

    static let loadBalancer = """
    apiVersion: v1
    kind: Service
    metadata: {name: svc1, namespace: ns1}
    spec:
      type: LoadBalancer
      clusterIP: "172.30.0.41"
      loadBalancerSourceRanges: ["192.168.0.0/24", " 203.0.113.0/25"]
      ports: [{name: "p80", port: 80, protocol: TCP, nodePort: 3001}]
    status:
      loadBalancer:
        ingress: [{ip: "1.2.3.4"}, {ip: "5.6.7.8"}]
    ---
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
    addressType: IPv4
    ports: [{name: "p80", port: 80, protocol: TCP}]
    endpoints:
    - addresses: ["10.180.0.1"]
    """

    /// TestLoadBalancer: the node IP is inside a source range, so the LB IPs are allowed as
    /// sources too (a node reaching its own VIP).
    @Test func sourceRangesCoveringTheNodeAllowTheVIPs() throws {
        let r = try Self.compile(Self.loadBalancer)
        #expect(Self.rules(r, "firewall-ULMVA6XW-ns1/svc1/tcp/p80") == ["ip saddr != { 192.168.0.0/24 , 203.0.113.0/25 , 1.2.3.4 , 5.6.7.8 } drop"])
        let fw = r.container(named: "firewall-ips")!.elements.map { $0.key.joined(separator: " . ") + " : " + $0.value.joined() }
        #expect(fw == ["1.2.3.4 . tcp . 80 : goto firewall-ULMVA6XW-ns1/svc1/tcp/p80", "5.6.7.8 . tcp . 80 : goto firewall-ULMVA6XW-ns1/svc1/tcp/p80"])
    }

    /// TestNoEndpointsReject: every address of a Service without endpoints goes to the reject
    /// chain, nothing to `service-ips`.
    @Test func serviceWithoutEndpointsRejectsOnEveryAddress() throws {
        let r = try Self.compile("""
        apiVersion: v1
        kind: Service
        metadata: {name: svc1, namespace: ns1}
        spec:
          type: LoadBalancer
          clusterIP: "172.30.0.41"
          externalIPs: ["192.168.99.11"]
          ports: [{name: "p80", port: 80, protocol: TCP, nodePort: 3001}]
        status:
          loadBalancer:
            ingress: [{ip: "1.2.3.4"}]
        """)
        let noEP = r.container(named: "no-endpoint-services")!.elements.map { "\($0.key.joined(separator: " . ")) \($0.comment ?? "") \($0.value.joined())" }
        #expect(noEP == ["172.30.0.41 . tcp . 80 ns1/svc1:p80 goto reject-chain", "192.168.99.11 . tcp . 80 ns1/svc1:p80 goto reject-chain",
                         "1.2.3.4 . tcp . 80 ns1/svc1:p80 goto reject-chain"])
        #expect(r.container(named: "no-endpoint-nodeports")!.elements.map { $0.key + $0.value } == [["tcp", "3001", "goto reject-chain"]])
        #expect(r.container(named: "service-ips")!.elements.isEmpty)
        #expect(!r.chains.contains { $0.name.hasPrefix("service-ULMVA6XW") || $0.name.hasPrefix("external-") })
    }

    static let localPolicy = """
    apiVersion: v1
    kind: Service
    metadata: {name: svc1, namespace: ns1}
    spec:
      type: LoadBalancer
      externalTrafficPolicy: Local
      clusterIP: "172.30.0.41"
      ports: [{name: "p80", port: 80, protocol: TCP, nodePort: 3001}]
    status:
      loadBalancer:
        ingress: [{ip: "1.2.3.4"}]
    ---
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
    addressType: IPv4
    ports: [{name: "p80", port: 80, protocol: TCP}]
    endpoints:
    - addresses: ["10.180.0.1"]
    - addresses: ["10.180.2.1"]
      nodeName: test-node
    """

    /// TestExternalTrafficPolicyLocal: a `local-` policy chain with the node's endpoint, the
    /// external chain's short-circuits, then `goto local-…`.
    @Test func externalPolicyLocalGoesToTheLocalChain() throws {
        let r = try Self.compile(Self.localPolicy)
        let ext = "external-ULMVA6XW-ns1/svc1/tcp/p80"
        #expect(Self.rules(r, ext) == [
            "ip saddr 10.0.0.0/8 goto service-ULMVA6XW-ns1/svc1/tcp/p80 comment \"short-circuit pod traffic\"",
            "fib saddr type local jump mark-for-masquerade comment \"masquerade local traffic\"",
            "fib saddr type local goto service-ULMVA6XW-ns1/svc1/tcp/p80 comment \"short-circuit local traffic\"",
            "goto local-ULMVA6XW-ns1/svc1/tcp/p80",
        ])
        let local = Self.rules(r, "local-ULMVA6XW-ns1/svc1/tcp/p80")
        #expect(local.count == 1 && local[0].hasPrefix("numgen random mod 1 vmap { 0 : goto endpoint-") && local[0].contains("__10.180.2.1/80"))
        #expect(Self.rules(r, "service-ULMVA6XW-ns1/svc1/tcp/p80").last?.hasPrefix("numgen random mod 2 vmap") == true)
    }

    /// Every `--detect-local-mode`: the ClusterIP masquerade rule and the pod short-circuit
    /// use the detector's nft words (pkg/proxy/util/localdetector.go); None writes neither.
    @Test(arguments: [
        (LocalDetectorMode.clusterCIDR, "ip saddr != 10.0.0.0/8", "ip saddr 10.0.0.0/8"),
        (.nodeCIDR, "ip saddr != 10.244.0.0/24", "ip saddr 10.244.0.0/24"),
        (.bridgeInterface, "iifname != cni0", "iifname cni0"),
        (.interfaceNamePrefix, "iifname != veth*", "iifname veth*"),
        (.none, "", ""),
    ])
    func everyLocalDetectorWritesItsWords(_ mode: LocalDetectorMode, _ ifNotLocal: String, _ ifLocal: String) throws {
        let r = try Self.compile(Self.localPolicy) { c in
            c.detectLocalMode = mode
            c.nodePodCIDRs = [try! Prefix(parsing: "10.244.0.0/24")]
        }
        let svc = Self.rules(r, "service-ULMVA6XW-ns1/svc1/tcp/p80")
        let ext = Self.rules(r, "external-ULMVA6XW-ns1/svc1/tcp/p80")
        if mode == .none {
            #expect(!svc.contains { $0.contains("mark-for-masquerade") })
            #expect(!ext.contains { $0.contains("short-circuit pod traffic") })
        } else {
            #expect(svc.first == "ip daddr 172.30.0.41 \(ifNotLocal) jump mark-for-masquerade")
            #expect(ext.first == "\(ifLocal) goto service-ULMVA6XW-ns1/svc1/tcp/p80 comment \"short-circuit pod traffic\"")
        }
    }

    @Test func masqueradeAllMasqueradesEveryClusterIPConnection() throws {
        let r = try Self.compile(Self.localPolicy) { $0.masqueradeAll = true }
        #expect(Self.rules(r, "service-ULMVA6XW-ns1/svc1/tcp/p80").first == "ip daddr 172.30.0.41 jump mark-for-masquerade")
    }

    /// The IPv6 proxier (NewFakeProxier(v1.IPv6Protocol)): `ip6` table and matches,
    /// `ipv6_addr` types, colons of endpoint addresses as dots in names, bracketed DNAT.
    @Test func ipv6FamilyWritesAnIP6Table() throws {
        let r = try Self.compile("""
        apiVersion: v1
        kind: Service
        metadata: {name: svc1, namespace: ns1}
        spec:
          type: NodePort
          ipFamilies: [IPv6]
          clusterIP: "fd00:172:30::41"
          sessionAffinity: ClientIP
          ports: [{name: "p80", port: 80, protocol: TCP, nodePort: 3001}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
        addressType: IPv6
        ports: [{name: "p80", port: 80, protocol: TCP}]
        endpoints:
        - addresses: ["fd00:10:180::1"]
        """, family: .ipv6)
        let text = r.transactionText()
        #expect(text.hasPrefix("add table ip6 kube-proxy { comment \"rules for kube-proxy\" ; }\n"))
        #expect(text.contains("add set ip6 kube-proxy cluster-ips { type ipv6_addr ; comment \"Active ClusterIPs\" ; }\n"))
        #expect(text.contains("add map ip6 kube-proxy service-ips { type ipv6_addr . inet_proto . inet_service : verdict ;"))
        #expect(text.contains("add rule ip6 kube-proxy cluster-ips-check ip6 daddr { fd00:10:96::/112 } drop comment \"Drop traffic to unallocated ClusterIPs\"\n"))
        #expect(text.contains("add element ip6 kube-proxy nodeport-ips { 2001:db8::1 }\n"))
        let svc = r.chains.first { $0.name.hasPrefix("service-") && $0.name.hasSuffix("ns1/svc1/tcp/p80") }!
        #expect(svc.rules.first?.text == "ip6 daddr fd00:172:30::41 ip6 saddr != fd00:10::/64 jump mark-for-masquerade")
        let ep = r.chains.first { $0.name.hasPrefix("endpoint-") }!
        #expect(ep.name.hasSuffix("-ns1/svc1/tcp/p80__fd00.10.180..1/80"))
        #expect(ep.rules.map(\.text) == ["ip6 saddr fd00:10:180::1 jump mark-for-masquerade",
                                         "update @affinity-\(ep.name.dropFirst("endpoint-".count)) { ip6 saddr }",
                                         "meta l4proto tcp dnat to [fd00:10:180::1]:80"])
        #expect(r.container(named: "affinity-" + ep.name.dropFirst("endpoint-".count))?.timeoutSeconds == 10800)
    }

    /// nodePortAddresses matching everything: no nodeport-ips set; NodePorts on every local
    /// address but localhost.
    @Test func nodePortAddressesMatchingAllUseFib() throws {
        let r = try Self.compile(Self.localPolicy) { $0.nodePortAddresses = [] }
        #expect(r.container(named: "nodeport-ips") == nil)
        #expect(Self.rules(r, "services").last == "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports")
        #expect(Self.rules(r, "nodeport-endpoints-check") == ["ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports"])
    }

    /// `--format list`'s anonymous sets as nft 1.0.6 lists them (found against the kernel):
    /// overlapping and range-adjacent elements merged, adjacent single addresses kept apart.
    @Test func anonymousIntervalSetsListAsNftMergesThem() {
        #expect(NFTablesRuleset.intervalElements(["10.0.0.0/25", "10.0.0.128/25"]) == ["10.0.0.0/24"])
        #expect(NFTablesRuleset.intervalElements(["10.0.0.0/25", "10.0.1.0/24", "1.2.3.4"]) == ["1.2.3.4", "10.0.0.0/25", "10.0.1.0/24"])
        #expect(NFTablesRuleset.intervalElements(["10.0.0.1", "10.0.0.3", "10.0.0.2"]) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
        #expect(NFTablesRuleset.intervalElements(["10.0.0.0/25", "10.0.0.128"]) == ["10.0.0.0-10.0.0.128"])
        #expect(NFTablesRuleset.intervalElements(["0.0.0.0/0", "1.2.3.4"]) == ["0.0.0.0/0"])
        #expect(NFTablesRuleset.intervalElements(["2001:db8::/48", "2001:db8::1", "::/0"]) == ["::/0"])
        #expect(NFTablesRuleset(family: .ip).listRule("ip saddr != { 203.0.113.0/25 } drop") == "ip saddr != 203.0.113.0/25 drop")
        #expect(NFTablesRuleset(family: .ip).listRule("mark and 0x4000 == 0 return") == "meta mark & 0x00004000 == 0x00000000 return")
    }

    /// `kubeProxy.mode: nftables` in a topology file is accepted and remembered with its
    /// place; the data-plane mode stays iptables. (A dump's kube-proxy ConfigMap saying
    /// nftables is still read as iptables, with a note, as before.)
    @Test func topologyModeNFTablesIsAcceptedWithItsLocation() throws {
        let text = TopologyLoader.embeddedDefault.replacingOccurrences(of: "    mode: iptables", with: "    mode: nftables")
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "nft.yaml"))
        #expect(cluster.settings.kubeProxy.nftablesModeSource?.description.hasPrefix("nft.yaml:") == true)
        #expect(cluster.settings.kubeProxy.mode == .iptables)
    }

    /// The generation switches live in one place; only the current shape is selectable.
    @Test func onlyTheMidTwentyTwentyFiveShapeIsSelectable() {
        #expect(NFTablesGeneration.selectable == [.v1_34])
        #expect(NFTablesGeneration.current.markForMasqueradeChain)
        #expect(!NFTablesGeneration.v1_36.markForMasqueradeChain && NFTablesGeneration.v1_36.hairpinConnectionsSet)
    }
}

/// `compile.nftables` at scale: a generated cluster (as `kdp bench` generates it) compiles to
/// one service-ips element and two endpoint chains per Service. `KDP_NFT_SERVICES` sets the
/// size (10000 for the bench workload; 1000 by default to keep the suite quick); the time is
/// printed (debug builds are several times slower than the release `kdp bench` row).
@Suite struct NFTablesScaleTests {
    @Test func generatedClusterCompilesOneMapElementPerService() throws {
        let services = Int(ProcessInfo.processInfo.environment["KDP_NFT_SERVICES"] ?? "") ?? 1000
        let spec = TopologyGenerator.Spec(nodes: 100, podsPerNode: max(1, (2 * min(services, 5000) + 99) / 100), services: services, endpointsPerService: 2)
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: TopologyGenerator.text(spec), file: "generated"))
        let (config, options, _) = NFTablesCompiler.config(for: cluster.nodes[1], in: cluster, family: .ipv4)
        var best = Double.infinity, bestCompile = Double.infinity
        var ruleset = NFTablesRuleset(family: .ip)
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        for _ in 0..<3 {
            let start = ContinuousClock.now
            ruleset = NFTablesCompiler.compile(cluster, config: config, options: options)
            bestCompile = min(bestCompile, seconds(ContinuousClock.now - start))
            _ = ruleset.transactionText()
            best = min(best, seconds(ContinuousClock.now - start))
        }
        print("compile.nftables: \(services) Services × 2 endpoints: \(String(format: "%.3f", best)) s with the text, "
              + "\(String(format: "%.3f", bestCompile)) s without (best of 3, this build)")
        let ports = cluster.services.reduce(0) { $0 + $1.ports.count }
        #expect(ruleset.container(named: "service-ips")!.elements.count >= ports - 1)
        #expect(ruleset.chains.filter { $0.name.hasPrefix("endpoint-") }.count >= 2 * (services - 1))
    }
}
