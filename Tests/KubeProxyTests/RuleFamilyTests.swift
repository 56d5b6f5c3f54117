import Testing
@testable import Cluster
@testable import KubeProxy
import Netfilter
import Wire

/// Compiles `yaml` for `node` and returns the rule lines of each table.
struct Compiled {
    let ruleset: IPTablesRuleset
    var filter: [String] { ruleset.filter.rules.map(\.line) }
    var nat: [String] { ruleset.nat.rules.map(\.line) }
    var natChains: [String] { ruleset.nat.chains.map(\.rawValue) }
    func nat(_ chain: String) -> [String] { ruleset.nat.rules.filter { $0.chain.rawValue == chain }.map(\.line) }
    func filter(_ chain: String) -> [String] { ruleset.filter.rules.filter { $0.chain.rawValue == chain }.map(\.line) }
    func chain(prefix: String) -> String? { natChains.first { $0.hasPrefix(prefix) } }
}

func compile(_ yaml: String, node: String = "n1", family: IPFamily = .ipv4, _ adjust: (inout ProxierConfig) -> Void = { _ in }) throws -> Compiled {
    let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: yaml, file: "t.yaml"))
    var config = ProxierConfig.forNode(cluster.node(named: node)!, in: cluster, family: family)
    adjust(&config)
    return Compiled(ruleset: IPTablesCompiler.compile(cluster, config: config))
}

/// Two nodes; `n1` runs pod a1, `n2` runs pod a2; Services are given per test.
func twoNodes(_ services: String, pods: String = "pods: [{name: a1, node: n1, labels: {app: a}}, {name: a2, node: n2, labels: {app: a}}]") -> String {
    """
    kind: Topology
    cluster: {serviceAllocation: false}
    nodes: [{name: n1, ip: 172.18.0.2}, {name: n2, ip: 172.18.0.3}]
    \(pods)
    services:
    \(services)
    """
}

@Suite struct ClusterIPRuleTests {
    @Test func clusterIPJumpsToSVCWithMasqueradeForNonPodSources() throws {
        let c = try compile(twoNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{name: p, port: 80}]}"))
        let svc = try #require(c.chain(prefix: "KUBE-SVC-"))
        #expect(c.nat("KUBE-SERVICES").first == "-A KUBE-SERVICES -m comment --comment \"default/s:p cluster IP\" -m tcp -p tcp -d 10.96.0.20 --dport 80 -j \(svc)")
        #expect(c.nat(svc).first == "-A \(svc) -m comment --comment \"default/s:p cluster IP\" -m tcp -p tcp -d 10.96.0.20 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ")
    }

    @Test func endpointsAreSortedAsStringsWithOneOverNProbabilities() throws {
        let pods = "pods: [" + (2...4).map { "{name: p\($0), node: n2, ip: 10.244.1.\($0 == 2 ? 10 : $0), labels: {app: a}}" }.joined(separator: ", ") + "]"
        let c = try compile(twoNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}", pods: pods))
        let svc = try #require(c.chain(prefix: "KUBE-SVC-"))
        let lines = c.nat(svc).dropFirst().map { $0 }
        // "10.244.1.10:80" < "10.244.1.3:80" < "10.244.1.4:80" as strings.
        #expect(lines.count == 3)
        #expect(lines[0].contains("\"default/s -> 10.244.1.10:80\" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-"))
        #expect(lines[1].contains("\"default/s -> 10.244.1.3:80\" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-"))
        #expect(lines[2].contains("\"default/s -> 10.244.1.4:80\" -j KUBE-SEP-"))
    }

    @Test func everyEndpointChainMasqueradesHairpinThenDNATs() throws {
        let c = try compile(twoNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}"))
        let seps = c.natChains.filter { $0.hasPrefix("KUBE-SEP-") }
        #expect(seps.count == 2)
        for sep in seps {
            let r = c.nat(sep)
            #expect(r.count == 2)
            #expect(r[0].hasPrefix("-A \(sep) -m comment --comment default/s -s 10.244.") && r[0].hasSuffix("-j KUBE-MARK-MASQ"))
            #expect(r[1].hasPrefix("-A \(sep) -m comment --comment default/s -m tcp -p tcp -j DNAT --to-destination 10.244."))
        }
    }

    @Test func noEndpointsGivesAFilterRejectAndNoNATChains() throws {
        let c = try compile(twoNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: none}, ports: [{port: 80}]}"))
        #expect(c.filter("KUBE-SERVICES") == ["-A KUBE-SERVICES -m comment --comment \"default/s has no endpoints\" -m tcp -p tcp -d 10.96.0.20 --dport 80 -j REJECT"])
        #expect(!c.natChains.contains { $0.hasPrefix("KUBE-SVC-") || $0.hasPrefix("KUBE-SEP-") })
    }

    @Test func headlessAndExternalNameServicesGetNoRules() throws {
        let c = try compile(twoNodes("""
          - {name: h, clusterIP: None, selector: {app: a}, ports: [{port: 80}]}
          - {name: x, type: ExternalName, externalName: example.com}
        """))
        #expect(c.nat("KUBE-SERVICES").count == 1)  // only the NodePort tail
        #expect(c.filter("KUBE-SERVICES").isEmpty)
    }

    @Test func masqueradeAllMasqueradesPodTrafficToo() throws {
        let c = try compile(twoNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}")) { $0.masqueradeAll = true }
        let svc = try #require(c.chain(prefix: "KUBE-SVC-"))
        #expect(c.nat(svc).first?.hasSuffix("--dport 80 -j KUBE-MARK-MASQ") == true)
    }

    @Test(arguments: [
        (LocalDetectorMode.clusterCIDR, "! -s 10.244.0.0/16 -j KUBE-MARK-MASQ"),
        (.nodeCIDR, "! -s 10.244.0.0/24 -j KUBE-MARK-MASQ"),
        (.bridgeInterface, "! -i cni0 -j KUBE-MARK-MASQ"),
        (.interfaceNamePrefix, "! -i veth+ -j KUBE-MARK-MASQ"),
    ])
    func localDetectorsSpellNotLocal(_ mode: LocalDetectorMode, _ suffix: String) throws {
        let c = try compile(twoNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}")) { $0.detectLocalMode = mode }
        let svc = try #require(c.chain(prefix: "KUBE-SVC-"))
        #expect(c.nat(svc).first?.hasSuffix(suffix) == true)
    }

    @Test func theNoOpDetectorWritesNoClusterIPMasquerade() throws {
        let c = try compile(twoNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}")) { $0.detectLocalMode = .none }
        let svc = try #require(c.chain(prefix: "KUBE-SVC-"))
        #expect(!c.nat(svc).contains { $0.contains("KUBE-MARK-MASQ") })
    }

    @Test func sessionAffinityChecksRecentListsFirstAndSetsThemOnDNAT() throws {
        let c = try compile(twoNodes("  - {name: s, clusterIP: 10.96.0.20, sessionAffinity: ClientIP, sessionAffinityTimeout: 600, selector: {app: a}, ports: [{port: 80}]}"))
        let svc = try #require(c.chain(prefix: "KUBE-SVC-"))
        let r = c.nat(svc)
        let sep0 = String(r[1].split(separator: " ").last!)
        #expect(r[1].contains("-m recent --name \(sep0) --rcheck --seconds 600 --reap -j \(sep0)"))
        #expect(r[2].contains("--rcheck --seconds 600 --reap"))
        #expect(c.nat(sep0)[1].contains("-m recent --name \(sep0) --set -m tcp -p tcp -j DNAT"))
    }

    @Test func terminatingEndpointsServeOnlyWhenNoneAreReady() throws {
        let pods = "pods: [{name: a1, node: n1, labels: {app: a}, terminating: true}, {name: a2, node: n2, labels: {app: a}, terminating: true}, {name: a3, node: n2, labels: {app: a}, ready: false}]"
        let c = try compile(twoNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}", pods: pods))
        let svc = try #require(c.chain(prefix: "KUBE-SVC-"))
        // Two serving+terminating endpoints; the not-ready, not-serving one counts for nothing.
        #expect(c.nat(svc).filter { $0.contains(" -> ") }.count == 2)
        let ready = "pods: [{name: a1, node: n1, labels: {app: a}, terminating: true}, {name: a2, node: n2, labels: {app: a}}]"
        let d = try compile(twoNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}", pods: ready))
        #expect(d.nat(try #require(d.chain(prefix: "KUBE-SVC-"))).filter { $0.contains(" -> ") }.map { $0.contains("10.244.1.2:80") } == [true])
    }

    @Test func largeClustersDropEndpointComments() throws {
        let pods = "pods: [" + (0..<501).map { "{name: p\($0), node: n\($0 % 2 + 1), labels: {app: a}}" }.joined(separator: ", ") + "]"
        let yaml = twoNodes("""
          - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}
          - {name: t, clusterIP: 10.96.0.21, selector: {app: a}, ports: [{port: 81}]}
        """, pods: pods).replacingOccurrences(of: "cluster: {serviceAllocation: false}", with: "cluster: {serviceAllocation: false, nodeCIDRMaskSize: 22}")
        let c = try compile(yaml)
        #expect(c.ruleset.largeClusterMode)  // 1002 endpoints > 1000
        let sep = try #require(c.chain(prefix: "KUBE-SEP-"))
        #expect(c.nat(sep)[0].hasPrefix("-A \(sep) -s 10.244."))
        #expect(!c.nat(try #require(c.chain(prefix: "KUBE-SVC-"))).contains { $0.contains(" -> ") })
        // The ClusterIP rules keep theirs.
        #expect(c.nat("KUBE-SERVICES")[0].contains("--comment \"default/s cluster IP\""))
    }
}

@Suite struct ExternalRuleTests {
    @Test func nodePortClusterPolicyMasqueradesInEXT() throws {
        let c = try compile(twoNodes("  - {name: s, type: NodePort, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}"))
        let ext = try #require(c.chain(prefix: "KUBE-EXT-"))
        #expect(c.nat("KUBE-NODEPORTS") == ["-A KUBE-NODEPORTS -m comment --comment default/s -m tcp -p tcp --dport 30080 -j \(ext)"])
        #expect(c.nat(ext) == [
            "-A \(ext) -m comment --comment \"masquerade traffic for default/s external destinations\" -j KUBE-MARK-MASQ",
            "-A \(ext) -j \(ext.replacingOccurrences(of: "EXT", with: "SVC"))",
        ])
    }

    @Test func localPolicyShortCircuitsPodsAndTheNodeAndKeepsSourceOtherwise() throws {
        let c = try compile(twoNodes("  - {name: s, type: NodePort, externalTrafficPolicy: Local, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}"))
        let ext = try #require(c.chain(prefix: "KUBE-EXT-"))
        let svc = ext.replacingOccurrences(of: "EXT", with: "SVC"), svl = ext.replacingOccurrences(of: "EXT", with: "SVL")
        #expect(c.nat(ext) == [
            "-A \(ext) -m comment --comment \"pod traffic for default/s external destinations\" -s 10.244.0.0/16 -j \(svc)",
            "-A \(ext) -m comment --comment \"masquerade LOCAL traffic for default/s external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
            "-A \(ext) -m comment --comment \"route LOCAL traffic for default/s external destinations\" -m addrtype --src-type LOCAL -j \(svc)",
            "-A \(ext) -j \(svl)",
        ])
        // SVL holds only n1's endpoint.
        #expect(c.nat(svl).count == 1 && c.nat(svl)[0].contains("10.244.0.2:80"))
    }

    @Test func localPolicyWithoutLocalEndpointsDropsExternalTrafficInFilter() throws {
        let pods = "pods: [{name: a2, node: n2, labels: {app: a}}]"
        let c = try compile(twoNodes("  - {name: s, type: LoadBalancer, externalTrafficPolicy: Local, healthCheckNodePort: 32000, clusterIP: 10.96.0.20, loadBalancerIPs: [198.51.100.1], selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}", pods: pods))
        let ext = try #require(c.chain(prefix: "KUBE-EXT-"))
        #expect(!c.nat(ext).contains { $0.hasSuffix("-j \(ext.replacingOccurrences(of: "EXT", with: "SVL"))") })
        #expect(!c.natChains.contains { $0.hasPrefix("KUBE-SVL-") })
        #expect(c.filter("KUBE-EXTERNAL-SERVICES") == [
            "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"default/s has no local endpoints\" -m tcp -p tcp -d 198.51.100.1 --dport 80 -j DROP",
            "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"default/s has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j DROP",
        ])
        // The health check port is accepted whether or not there are local endpoints.
        #expect(c.filter("KUBE-NODEPORTS") == ["-A KUBE-NODEPORTS -m comment --comment \"default/s health check node port\" -m tcp -p tcp --dport 32000 -j ACCEPT"])
    }

    @Test func internalLocalPolicyUsesSVLAndDropsWithoutLocalEndpoints() throws {
        let c = try compile(twoNodes("  - {name: s, internalTrafficPolicy: Local, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}"))
        let svl = try #require(c.chain(prefix: "KUBE-SVL-"))
        #expect(c.nat("KUBE-SERVICES")[0].hasSuffix("-j \(svl)"))
        #expect(!c.natChains.contains { $0.hasPrefix("KUBE-SVC-") })
        let far = try compile(twoNodes("  - {name: s, internalTrafficPolicy: Local, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}",
                                       pods: "pods: [{name: a2, node: n2, labels: {app: a}}]"))
        #expect(far.filter("KUBE-SERVICES") == ["-A KUBE-SERVICES -m comment --comment \"default/s has no local endpoints\" -m tcp -p tcp -d 10.96.0.20 --dport 80 -j DROP"])
    }

    @Test func sourceRangesGoThroughFWAndTheProxyFirewall() throws {
        let c = try compile(twoNodes("  - {name: s, type: LoadBalancer, clusterIP: 10.96.0.20, loadBalancerIPs: [198.51.100.1], loadBalancerSourceRanges: [203.0.113.0/24, 172.18.0.0/16], selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}"))
        let fw = try #require(c.chain(prefix: "KUBE-FW-"))
        let ext = fw.replacingOccurrences(of: "FW", with: "EXT")
        #expect(c.nat("KUBE-SERVICES").contains { $0.contains("\"default/s loadbalancer IP\"") && $0.hasSuffix("-j \(fw)") })
        #expect(c.nat(fw) == [
            "-A \(fw) -m comment --comment \"default/s loadbalancer IP\" -s 203.0.113.0/24 -j \(ext)",
            "-A \(fw) -m comment --comment \"default/s loadbalancer IP\" -s 172.18.0.0/16 -j \(ext)",
            // The node's own IP is in a range: the VIP is accepted as a source too.
            "-A \(fw) -m comment --comment \"default/s loadbalancer IP\" -s 198.51.100.1 -j \(ext)",
            "-A \(fw) -m comment --comment \"other traffic to default/s will be dropped by KUBE-PROXY-FIREWALL\"",
        ])
        #expect(c.filter("KUBE-PROXY-FIREWALL") == ["-A KUBE-PROXY-FIREWALL -m comment --comment \"default/s traffic not accepted by \(fw)\" -m tcp -p tcp -d 198.51.100.1 --dport 80 -j DROP"])
        // NodePorts bypass the source ranges.
        #expect(c.nat("KUBE-NODEPORTS").last?.hasSuffix("-j \(ext)") == true)
    }

    @Test func proxyModeIngressGetsNoRules() throws {
        let c = try compile(twoNodes("  - {name: s, type: LoadBalancer, clusterIP: 10.96.0.20, loadBalancerIngress: [{ip: 198.51.100.1, ipMode: Proxy}, {ip: 198.51.100.2, ipMode: VIP}], selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}"))
        #expect(!c.nat.contains { $0.contains("198.51.100.1") })
        #expect(c.nat("KUBE-SERVICES").contains { $0.contains("-d 198.51.100.2 --dport 80") })
    }

    @Test func externalIPsJumpToEXT() throws {
        let c = try compile(twoNodes("  - {name: s, clusterIP: 10.96.0.20, externalIPs: [192.0.2.9], selector: {app: a}, ports: [{port: 80}]}"))
        let ext = try #require(c.chain(prefix: "KUBE-EXT-"))
        #expect(c.nat("KUBE-SERVICES")[1] == "-A KUBE-SERVICES -m comment --comment \"default/s external IP\" -m tcp -p tcp -d 192.0.2.9 --dport 80 -j \(ext)")
    }
}

@Suite struct NodePortTailTests {
    static let svc = "  - {name: s, type: NodePort, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}"

    @Test func matchAllWithLocalhostNodePorts() throws {
        let c = try compile(twoNodes(Self.svc))
        #expect(c.nat("KUBE-SERVICES").last == "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
        #expect(c.filter("KUBE-FIREWALL").count == 1)
    }

    @Test func withoutLocalhostNodePortsLoopbackIsExcluded() throws {
        let c = try compile(twoNodes(Self.svc)) { $0.localhostNodePortsFlag = false }
        #expect(c.nat("KUBE-SERVICES").last?.hasSuffix("-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS") == true)
        #expect(c.filter("KUBE-FIREWALL").isEmpty)
    }

    @Test func withoutLocalhostNodePortsTheNodeStillHasKubeletsFirewallChain() throws {
        // kubelet's INPUT/OUTPUT jumps to KUBE-FIREWALL are on every IPv4 node, and kubelet
        // writes the chain's localnet rule itself: the node's rules load, with that rule.
        let c = try compile(twoNodes(Self.svc)) { $0.localhostNodePortsFlag = false }
        let rules = try c.ruleset.netfilterRuleset(source: "n1")
        let firewall = try #require(rules.tables.first { $0.name == .filter }?.chains.first { $0.name == "KUBE-FIREWALL" })
        #expect(firewall.rules.count == 1)
        #expect(firewall.rules.first?.origin == RuleOrigin(.localnetFirewall))
        #expect(c.ruleset.nodeRestoreText().contains("-A KUBE-FIREWALL -m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8"))
    }

    @Test func nodePortAddressesListEachMatchingLocalAddress() throws {
        let c = try compile(twoNodes(Self.svc)) { $0.nodePortAddresses = [try! Prefix(parsing: "172.18.0.0/16")] }
        #expect(c.nat("KUBE-SERVICES").last == "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -d 172.18.0.2 -j KUBE-NODEPORTS")
        // 127.0.0.0/8 is not among them, so localhost NodePorts are off: no KUBE-FIREWALL.
        #expect(c.filter("KUBE-FIREWALL").isEmpty)
    }

    @Test func nfacctCountsLocalhostNodePortsFirst() throws {
        let c = try compile(twoNodes(Self.svc)) { $0.nfacct = true }
        #expect(c.nat("KUBE-NODEPORTS").first?.contains("-d 127.0.0.0/8 --dport 30080 -m nfacct --nfacct-name localhost_nps_accepted_pkts") == true)
        #expect(c.filter("KUBE-FORWARD").first == "-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP")
    }
}

@Suite struct IPv6ProxierTests {
    static let yaml = """
    kind: Topology
    cluster:
      serviceAllocation: false
      clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
      serviceCIDR: 10.96.0.0/12,fd00:10:96::/112
      nodeNetwork: 172.18.0.0/16,fd00:18::/64
    nodes: [{name: n1}, {name: n2}]
    pods: [{name: a1, node: n1, labels: {app: a}}]
    services:
      - {name: s, type: NodePort, clusterIPs: [10.96.0.20, "fd00:10:96::20"], selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}
    """

    @Test func ipv6RulesUseBracketedEndpointsAndNoLocalhostNodePorts() throws {
        let c = try compile(Self.yaml, family: .ipv6)
        #expect(c.nat("KUBE-SERVICES")[0].contains("-d fd00:10:96::20 --dport 80"))
        let sep = try #require(c.chain(prefix: "KUBE-SEP-"))
        #expect(c.nat(sep)[1].hasSuffix("-j DNAT --to-destination [fd00:10:244::2]:80"))
        #expect(c.nat("KUBE-SERVICES").last?.hasSuffix("-m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS") == true)
        #expect(c.filter("KUBE-FIREWALL").isEmpty)
        let svc = try #require(c.chain(prefix: "KUBE-SVC-"))
        #expect(c.nat(svc)[0].contains("! -s fd00:10:244::/56 -j KUBE-MARK-MASQ"))
    }
}
