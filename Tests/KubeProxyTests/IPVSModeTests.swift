import Testing
@testable import Cluster
import IPVS
@testable import KubeProxy
@testable import Netfilter
import Wire

/// Compiles `yaml` in IPVS mode for `node`.
func compileIPVS(_ yaml: String, node: String = "n1", family: IPFamily = .ipv4, scheduler: String = "rr",
                 _ adjust: (inout ProxierConfig) -> Void = { _ in }) throws -> IPVSModeRuleset {
    let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: yaml, file: "t.yaml"))
    var config = ProxierConfig.forNode(cluster.node(named: node)!, in: cluster, family: family)
    adjust(&config)
    return IPVSModeCompiler.compile(cluster, config: config, scheduler: scheduler)
}

func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

extension IPVSModeRuleset {
    /// `ip:port` of each real server of a TCP virtual server, sorted; nil when there is no such server.
    func servers(_ address: String, _ port: UInt16, _ proto: IPProtocol = .tcp) -> [String]? {
        virtualServer(proto, ip(address), port)?.destinations.map { $0.address.joined(port: $0.port) }.sorted()
    }
    func members(_ name: String) -> [String] { ipsets.named(name)?.entries.sorted() ?? [] }
    func nat(_ chain: ChainName) -> [String] { iptables.nat.rules.filter { $0.chain == chain }.map(\.line) }
    func filter(_ chain: ChainName) -> [String] { iptables.filter.rules.filter { $0.chain == chain }.map(\.line) }
}

/// Three nodes: n1 runs a1, n2 runs a2, n3 runs nothing.
func threeNodes(_ services: String, pods: String = "pods: [{name: a1, node: n1, labels: {app: a}}, {name: a2, node: n2, labels: {app: a}}]") -> String {
    """
    kind: Topology
    cluster: {serviceAllocation: false}
    nodes: [{name: n1, ip: 172.18.0.2}, {name: n2, ip: 172.18.0.3}, {name: n3, ip: 172.18.0.4}]
    \(pods)
    services:
    \(services)
    """
}

@Suite struct IPVSModeVirtualServerTests {
    static let lb = "  - {name: s, type: LoadBalancer, clusterIP: 10.96.0.20, externalIPs: [192.0.2.9], loadBalancerIPs: [198.51.100.1], selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}"

    @Test func oneVirtualServerPerClusterIPExternalIPLoadBalancerIPAndNodeIP() throws {
        let r = try compileIPVS(threeNodes(Self.lb))
        // Node IPs: every local address but loopback (kube-ipvs0's are not among them): eth0 and cni0.
        #expect(r.nodePortAddresses == [ip("10.244.0.1"), ip("172.18.0.2")])
        let keys = r.ipvs.services.map { "\($0.key.address.joined(port: $0.key.port))" }.sorted()
        #expect(keys == ["10.244.0.1:30080", "10.96.0.20:80", "172.18.0.2:30080", "192.0.2.9:80", "198.51.100.1:80"])
        #expect(r.ipvs.services.allSatisfy { $0.scheduler == .rr && $0.flags.isEmpty })
    }

    @Test func nodePortAddressesRestrictTheNodeIPs() throws {
        let r = try compileIPVS(threeNodes(Self.lb)) { $0.nodePortAddresses = [try! Prefix(parsing: "172.18.0.0/16")] }
        #expect(r.nodePortAddresses == [ip("172.18.0.2")])
        #expect(r.servers("10.244.0.1", 30080) == nil)
        #expect(r.servers("172.18.0.2", 30080) != nil)
    }

    @Test func nodePortAddressesSeeKubeIPVS0AddressesToo() throws {
        // GetNodeIPs lists every interface, kube-ipvs0 included (its addresses from the previous
        // sync: the steady state), so a CIDR covering the service range adds ClusterIP:nodePort.
        let r = try compileIPVS(threeNodes(Self.lb)) { $0.nodePortAddresses = [try! Prefix(parsing: "10.96.0.0/12"), try! Prefix(parsing: "172.18.0.0/16")] }
        #expect(r.nodePortAddresses == [ip("10.96.0.20"), ip("172.18.0.2")])
        #expect(r.servers("10.96.0.20", 30080) == ["10.244.0.2:80", "10.244.1.2:80"])
    }

    @Test func serviceAddressesAreBoundToKubeIPVS0ButNodeIPsAreNot() throws {
        // An externalIP that is the node's own address stays on eth0.
        let r = try compileIPVS(threeNodes("  - {name: s, clusterIP: 10.96.0.20, externalIPs: [192.0.2.9, 172.18.0.2], selector: {app: a}, ports: [{port: 80}]}"))
        #expect(r.boundAddresses == [ip("10.96.0.20"), ip("192.0.2.9")])
        #expect(r.servers("172.18.0.2", 80) != nil)
        #expect(r.members("KUBE-IPVS-IPS") == ["10.96.0.20", "192.0.2.9"])
    }

    @Test func realServersAreTheClusterEndpointsWithWeightOneAndMasquerading() throws {
        let r = try compileIPVS(threeNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}"))
        #expect(r.servers("10.96.0.20", 80) == ["10.244.0.2:80", "10.244.1.2:80"])
        let d = try #require(r.virtualServer(.tcp, ip("10.96.0.20"), 80)).destinations
        #expect(d.allSatisfy { $0.weight == 1 && $0.forward == .masq })
        #expect(r.ipvsadmSaveText() == """
            -A -t 10.96.0.20:80 -s rr
            -a -t 10.96.0.20:80 -r 10.244.0.2:80 -m -w 1
            -a -t 10.96.0.20:80 -r 10.244.1.2:80 -m -w 1

            """)
    }

    @Test func aServiceWithoutEndpointsStillGetsItsVirtualServerAndSetEntries() throws {
        let r = try compileIPVS(threeNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: none}, ports: [{port: 80}]}"))
        #expect(r.servers("10.96.0.20", 80) == [])
        #expect(r.members("KUBE-CLUSTER-IP") == ["10.96.0.20,tcp:80"])
        // No REJECT as in the iptables mode: IPVS has no server to pick.
        #expect(!r.iptables.filter.rules.contains { $0.spec.contains("has no endpoints") })
    }

    @Test func clientIPAffinityMakesTheVirtualServerPersistent() throws {
        let r = try compileIPVS(threeNodes("  - {name: s, type: NodePort, clusterIP: 10.96.0.20, sessionAffinity: ClientIP, sessionAffinityTimeout: 600, selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}"))
        for s in r.ipvs.services {
            #expect(s.flags == .persistent)
            #expect(s.config.timeout == 600)
            #expect(s.config.netmask == 0xFFFF_FFFF)
        }
        #expect(r.ipvsadmSaveText().contains("-A -t 10.96.0.20:80 -s rr -p 600\n"))
    }

    @Test func theMaglevSchedulerAddsTheSourceHashFlag() throws {
        let r = try compileIPVS(threeNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}"), scheduler: "mh")
        let s = try #require(r.virtualServer(.tcp, ip("10.96.0.20"), 80))
        #expect(s.scheduler == .mh && s.flags == .sched2)
        #expect(r.ipvsadmSaveText().hasPrefix("-A -t 10.96.0.20:80 -s mh -b mh-port\n"))
        let other = try compileIPVS(threeNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}"), scheduler: "sh")
        #expect(other.virtualServer(.tcp, ip("10.96.0.20"), 80)?.flags == [])
    }

    @Test func anUnknownSchedulerFailsEveryVirtualServerButNotTheSets() throws {
        let r = try compileIPVS(threeNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}"), scheduler: "fancy")
        #expect(r.ipvs.services.isEmpty)
        #expect(r.boundAddresses.isEmpty)
        #expect(r.errors == ["default/s: 10.96.0.20:80/tcp: scheduler fancy: no such scheduler in the kernel"])
        #expect(r.members("KUBE-CLUSTER-IP") == ["10.96.0.20,tcp:80"])
    }

    @Test func headlessAndExternalNameServicesGetNothing() throws {
        let r = try compileIPVS(threeNodes("""
          - {name: h, clusterIP: None, selector: {app: a}, ports: [{port: 80}]}
          - {name: x, type: ExternalName, externalName: example.com}
        """))
        #expect(r.ipvs.services.isEmpty && r.boundAddresses.isEmpty)
    }
}

@Suite struct IPVSModeEndpointPolicyTests {
    static let localLB = "  - {name: s, type: LoadBalancer, externalTrafficPolicy: Local, clusterIP: 10.96.0.20, loadBalancerIPs: [198.51.100.1], selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}"

    @Test func externalTrafficPolicyLocalUsesTheLocalEndpointsForExternalEntriesOnly() throws {
        let r = try compileIPVS(threeNodes(Self.localLB), node: "n1")
        #expect(r.servers("198.51.100.1", 80) == ["10.244.0.2:80"])
        #expect(r.servers("172.18.0.2", 30080) == ["10.244.0.2:80"])
        // eTP does not apply to the ClusterIP.
        #expect(r.servers("10.96.0.20", 80) == ["10.244.0.2:80", "10.244.1.2:80"])
    }

    @Test func withoutLocalEndpointsIPVSFallsBackToClusterEndpointsWhereIPTablesDrops() throws {
        let yaml = threeNodes(Self.localLB)
        let r = try compileIPVS(yaml, node: "n3")
        #expect(r.servers("198.51.100.1", 80) == ["10.244.0.2:80", "10.244.1.2:80"])
        #expect(r.servers("172.18.0.4", 30080) == ["10.244.0.2:80", "10.244.1.2:80"])
        // Side by side: the iptables mode on the same node drops external traffic.
        let iptables = try compile(yaml, node: "n3")
        #expect(iptables.filter("KUBE-EXTERNAL-SERVICES").contains { $0.contains("-d 198.51.100.1") && $0.hasSuffix("-j DROP") })
    }

    @Test func internalTrafficPolicyLocalFallsBackOnlyWhenThePortUsesClusterEndpoints() throws {
        // ClusterIP only: the port never uses cluster endpoints, so nothing to fall back to.
        let plain = try compileIPVS(threeNodes("  - {name: s, internalTrafficPolicy: Local, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}"), node: "n3")
        #expect(plain.servers("10.96.0.20", 80) == [])
        let local = try compileIPVS(threeNodes("  - {name: s, internalTrafficPolicy: Local, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}"), node: "n2")
        #expect(local.servers("10.96.0.20", 80) == ["10.244.1.2:80"])
        // With a nodePort the port uses cluster endpoints: the ClusterIP falls back to them.
        let np = try compileIPVS(threeNodes("  - {name: s, type: NodePort, internalTrafficPolicy: Local, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}"), node: "n3")
        #expect(np.servers("10.96.0.20", 80) == ["10.244.0.2:80", "10.244.1.2:80"])
    }

    @Test func terminatingEndpointsServeOnlyWhenNoneAreReady() throws {
        let svc = "  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}"
        let mixed = try compileIPVS(threeNodes(svc, pods: "pods: [{name: a1, node: n1, labels: {app: a}, terminating: true}, {name: a2, node: n2, labels: {app: a}}]"))
        #expect(mixed.servers("10.96.0.20", 80) == ["10.244.1.2:80"])
        let draining = try compileIPVS(threeNodes(svc, pods: "pods: [{name: a1, node: n1, labels: {app: a}, terminating: true}, {name: a2, node: n2, labels: {app: a}, ready: false}]"))
        // The serving+terminating endpoint, weight 1; the not-ready, not-serving one counts for nothing.
        #expect(draining.servers("10.96.0.20", 80) == ["10.244.0.2:80"])
        #expect(draining.virtualServer(.tcp, ip("10.96.0.20"), 80)?.destinations.first?.weight == 1)
    }
}

@Suite struct IPVSModeIPSetTests {
    @Test func hairpinSetHoldsEveryLocalEndpointWithItsOwnAddress() throws {
        let r = try compileIPVS(threeNodes("  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]}",
                                           pods: "pods: [{name: a1, node: n1, labels: {app: a}}, {name: a3, node: n1, labels: {app: a}, ready: false}, {name: a2, node: n2, labels: {app: a}}]"))
        // Local endpoints whatever their condition (upstream walks the whole endpoints map).
        #expect(r.members("KUBE-LOOP-BACK") == ["10.244.0.2,tcp:80,10.244.0.2", "10.244.0.2,udp:53,10.244.0.2",
                                                "10.244.0.3,tcp:80,10.244.0.3", "10.244.0.3,udp:53,10.244.0.3"])
        #expect(r.members("KUBE-CLUSTER-IP") == ["10.96.0.20,tcp:80", "10.96.0.20,udp:53"])
    }

    @Test func externalIPsGoToTheSetOfTheirPolicy() throws {
        let r = try compileIPVS(threeNodes("""
          - {name: c, clusterIP: 10.96.0.20, externalIPs: [192.0.2.9], selector: {app: a}, ports: [{port: 80}]}
          - {name: l, clusterIP: 10.96.0.21, externalTrafficPolicy: Local, externalIPs: [192.0.2.10], selector: {app: a}, ports: [{port: 81}]}
        """))
        #expect(r.members("KUBE-EXTERNAL-IP") == ["192.0.2.9,tcp:80"])
        #expect(r.members("KUBE-EXTERNAL-IP-LOCAL") == ["192.0.2.10,tcp:81"])
    }

    @Test func loadBalancerSetsByPolicyAndSourceRanges() throws {
        let r = try compileIPVS(threeNodes("""
          - {name: l, type: LoadBalancer, externalTrafficPolicy: Local, healthCheckNodePort: 32000, clusterIP: 10.96.0.20, loadBalancerIPs: [198.51.100.1], selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}
          - {name: f, type: LoadBalancer, clusterIP: 10.96.0.21, loadBalancerIPs: [198.51.100.2], loadBalancerSourceRanges: [203.0.113.0/24, 172.18.0.0/16], selector: {app: a}, ports: [{port: 443, nodePort: 30443}]}
        """))
        #expect(r.members("KUBE-LOAD-BALANCER") == ["198.51.100.1,tcp:80", "198.51.100.2,tcp:443"])
        #expect(r.members("KUBE-LOAD-BALANCER-LOCAL") == ["198.51.100.1,tcp:80"])
        #expect(r.members("KUBE-LOAD-BALANCER-FW") == ["198.51.100.2,tcp:443"])
        #expect(r.members("KUBE-LOAD-BALANCER-SOURCE-CIDR") == ["198.51.100.2,tcp:443,172.18.0.0/16", "198.51.100.2,tcp:443,203.0.113.0/24"])
        // The node (172.18.0.2) is in a range: the VIP itself is allowed as a source.
        #expect(r.members("KUBE-LOAD-BALANCER-SOURCE-IP") == ["198.51.100.2,tcp:443,198.51.100.2"])
        #expect(r.members("KUBE-NODE-PORT-TCP") == ["30080", "30443"])
        #expect(r.members("KUBE-NODE-PORT-LOCAL-TCP") == ["30080"])
        #expect(r.members("KUBE-HEALTH-CHECK-NODE-PORT") == ["32000"])
    }

    @Test func nodePortsGoToTheSetOfTheirProtocolAndSCTPListsEveryNodeIP() throws {
        let r = try compileIPVS(threeNodes("""
          - {name: u, type: NodePort, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 53, protocol: UDP, nodePort: 30053}]}
          - {name: s, type: NodePort, externalTrafficPolicy: Local, clusterIP: 10.96.0.21, selector: {app: a}, ports: [{port: 9000, protocol: SCTP, nodePort: 30900}]}
        """))
        #expect(r.members("KUBE-NODE-PORT-UDP") == ["30053"])
        #expect(r.members("KUBE-NODE-PORT-TCP").isEmpty)
        #expect(r.members("KUBE-NODE-PORT-SCTP-HASH") == ["10.244.0.1,sctp:30900", "172.18.0.2,sctp:30900"])
        #expect(r.members("KUBE-NODE-PORT-LOCAL-SCTP-HASH") == ["10.244.0.1,sctp:30900", "172.18.0.2,sctp:30900"])
        #expect(r.nat("KUBE-NODE-PORT") == [
            "-A KUBE-NODE-PORT -p udp -m comment --comment \"Kubernetes nodeport UDP port for masquerade purpose\" -m set --match-set KUBE-NODE-PORT-UDP dst -j KUBE-MARK-MASQ",
            "-A KUBE-NODE-PORT -p sctp -m comment --comment \"Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'\" -m set --match-set KUBE-NODE-PORT-LOCAL-SCTP-HASH dst,dst -j RETURN",
            "-A KUBE-NODE-PORT -p sctp -m comment --comment \"Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'\" -m set --match-set KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ",
        ])
    }

    @Test func ipsetSaveTextHasUpstreamsCreateOptionsAndKernelSpelling() throws {
        let r = try compileIPVS(threeNodes("  - {name: f, type: LoadBalancer, clusterIP: 10.96.0.21, loadBalancerIPs: [198.51.100.2], loadBalancerSourceRanges: [203.0.113.7/32], selector: {app: a}, ports: [{port: 443, nodePort: 30443}]}"))
        let lines = r.ipsetSaveText().split(separator: "\n").map(String.init)
        let create = try #require(lines.first { $0.hasPrefix("create KUBE-CLUSTER-IP ") })
        #expect(create.hasPrefix("create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x"))
        #expect(lines.contains("create KUBE-NODE-PORT-TCP bitmap:port range 0-65535"))
        // A host-length source range prints as a bare address.
        #expect(lines.contains("add KUBE-LOAD-BALANCER-SOURCE-CIDR 198.51.100.2,tcp:443,203.0.113.7"))
        #expect(lines.filter { $0.hasPrefix("create ") }.count == 17)
        // And the Netfilter engine reads it.
        let store = r.ipsetStore()
        #expect(store.sets["KUBE-LOAD-BALANCER-SOURCE-CIDR"]?.members.count == 1)
    }

    @Test func aZeroLengthSourceRangeCountsButTheKernelRefusesIt() throws {
        let r = try compileIPVS(threeNodes("  - {name: f, type: LoadBalancer, clusterIP: 10.96.0.21, loadBalancerIPs: [198.51.100.2], loadBalancerSourceRanges: [0.0.0.0/0], selector: {app: a}, ports: [{port: 443, nodePort: 30443}]}"))
        let set = try #require(r.ipsets.named("KUBE-LOAD-BALANCER-SOURCE-CIDR"))
        #expect(set.entries == ["198.51.100.2,tcp:443,0.0.0.0/0"] && set.refused == set.entries)
        #expect(!r.ipsetSaveText().contains("0.0.0.0/0"))
        #expect(r.errors == ["ipset add KUBE-LOAD-BALANCER-SOURCE-CIDR 198.51.100.2,tcp:443,0.0.0.0/0: refused by the kernel"])
        // Upstream's rule is still written (its active entries are not empty), and the node,
        // inside 0.0.0.0/0, may use the VIP as a source.
        #expect(r.filter("KUBE-SOURCE-RANGES-FIREWALL").count == 3)
        #expect(r.members("KUBE-LOAD-BALANCER-SOURCE-IP") == ["198.51.100.2,tcp:443,198.51.100.2"])
    }

    @Test func ipv6SetsArePrefixedKube6AndCutTo31Characters() throws {
        let yaml = """
        kind: Topology
        cluster: {clusterCIDR: "10.244.0.0/16,fd00:10:244::/56", serviceCIDR: "10.96.0.0/12,fd00:10:96::/112", nodeNetwork: "172.18.0.0/16,fd00:18::/64"}
        nodes: [{name: n1}]
        pods: [{name: a1, node: n1, labels: {app: a}}]
        services:
          - {name: s, ipFamilyPolicy: RequireDualStack, type: LoadBalancer, selector: {app: a}, loadBalancerIPs: ["2001:db8::1"], loadBalancerSourceRanges: ["2001:db8:1::/48"], ports: [{port: 80}]}
        """
        let r = try compileIPVS(yaml, family: .ipv6)
        let names = r.ipsets.sets.map(\.name)
        #expect(names.allSatisfy { $0.hasPrefix("KUBE-6-") && $0.count <= 31 })
        #expect(names.contains("KUBE-6-LOAD-BALANCER-SOURCE-CID"))
        #expect(names.contains("KUBE-6-NODE-PORT-LOCAL-SCTP-HAS"))
        #expect(r.members("KUBE-6-LOAD-BALANCER") == ["2001:db8::1,tcp:80"])
        #expect(r.ipsetSaveText().contains("create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024"))
        // The rules match the IPv6 names, and localhost is ::1.
        #expect(r.nat("KUBE-SERVICES").first == "-A KUBE-SERVICES -s ::1/128 -j RETURN")
        #expect(r.nat("KUBE-SERVICES").contains { $0.contains("--match-set KUBE-6-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER") })
        #expect(r.filter("KUBE-SOURCE-RANGES-FIREWALL").contains { $0.contains("--match-set KUBE-6-LOAD-BALANCER-SOURCE-CID dst,dst,src -j RETURN") })
        // No kubelet KUBE-FIREWALL jumps for IPv6.
        #expect(!r.iptables.jumps.contains { $0.words.last == "KUBE-FIREWALL" })
    }
}

@Suite struct IPVSModeIPTablesTests {
    static let svc = "  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{port: 80}]}"
    static let clusterIPRule = "-A KUBE-SERVICES -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP"

    @Test func localhostReturnsFirstAndAcceptsComeLast() throws {
        let r = try compileIPVS(threeNodes(Self.svc))
        let s = r.nat("KUBE-SERVICES")
        #expect(s.first == "-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN")
        #expect(s.suffix(2) == ["-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT",
                                "-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT"])
    }

    @Test func clusterIPMasqueradeFollowsTheDetector() throws {
        let cidr = try compileIPVS(threeNodes(Self.svc))
        #expect(cidr.nat("KUBE-SERVICES").contains(Self.clusterIPRule + " dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ"))
        let bridge = try compileIPVS(threeNodes(Self.svc)) { $0.detectLocalMode = .bridgeInterface }
        #expect(bridge.nat("KUBE-SERVICES").contains(Self.clusterIPRule + " dst,dst ! -i cni0 -j KUBE-MARK-MASQ"))
        let all = try compileIPVS(threeNodes(Self.svc)) { $0.masqueradeAll = true }
        #expect(all.nat("KUBE-SERVICES").contains(Self.clusterIPRule + " dst,dst -j KUBE-MARK-MASQ"))
        // No detector: masquerade what the node sends from a VIP.
        let none = try compileIPVS(threeNodes(Self.svc)) { $0.detectLocalMode = .none }
        #expect(none.nat("KUBE-SERVICES").contains(Self.clusterIPRule + " src,dst -j KUBE-MARK-MASQ"))
    }

    @Test func emptySetsWriteNoRulesButTheFilterChainsAlwaysReferThem() throws {
        let r = try compileIPVS(threeNodes(Self.svc))
        #expect(!r.nat("KUBE-SERVICES").contains { $0.contains("KUBE-LOAD-BALANCER") || $0.contains("KUBE-EXTERNAL-IP") })
        #expect(r.nat("KUBE-NODE-PORT").isEmpty)
        #expect(r.nat("KUBE-LOAD-BALANCER") == ["-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ"])
        #expect(r.filter("KUBE-IPVS-FILTER") == [
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT",
        ])
        #expect(r.filter("KUBE-NODE-PORT") == ["-A KUBE-NODE-PORT -m comment --comment \"Kubernetes health check node port\" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT"])
    }

    @Test func externalIPsAreMarkedAndAcceptedFromOffTheMachineOrToALocalAddress() throws {
        let r = try compileIPVS(threeNodes("  - {name: s, clusterIP: 10.96.0.20, externalIPs: [192.0.2.9], selector: {app: a}, ports: [{port: 80}]}"))
        let head = "-A KUBE-SERVICES -m comment --comment \"Kubernetes service external ip + port for masquerade and filter purpose\" -m set --match-set KUBE-EXTERNAL-IP dst,dst"
        let s = r.nat("KUBE-SERVICES")
        let i = try #require(s.firstIndex(of: head + " -j KUBE-MARK-MASQ"))
        #expect(s[i + 1] == head + " -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT")
        #expect(s[i + 2] == head + " -m addrtype --dst-type LOCAL -j ACCEPT")
    }

    @Test func loadBalancerSourceRangesFilterAndBlockTheNodeWhenItIsNotAllowed() throws {
        let svc = "  - {name: f, type: LoadBalancer, clusterIP: 10.96.0.21, loadBalancerIPs: [198.51.100.2], loadBalancerSourceRanges: [203.0.113.0/24], selector: {app: a}, ports: [{port: 443, nodePort: 30443}]}"
        let r = try compileIPVS(threeNodes(svc))
        #expect(r.filter("KUBE-PROXY-FIREWALL") == ["-A KUBE-PROXY-FIREWALL -m comment --comment \"Kubernetes service load balancer ip + port for load balancer with sourceRange\" -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL"])
        #expect(r.filter("KUBE-SOURCE-RANGES-FIREWALL") == [
            "-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment \"Kubernetes service load balancer ip + port + source cidr for packet filter purpose\" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j RETURN",
            "-A KUBE-SOURCE-RANGES-FIREWALL -j DROP",
        ])
        #expect(r.members("KUBE-LOAD-BALANCER-SOURCE-IP").isEmpty)
        #expect(r.filter("KUBE-IPVS-OUT-FILTER") == ["-A KUBE-IPVS-OUT-FILTER -s 198.51.100.2 -m ipvs --vaddr 198.51.100.2 --vproto tcp --vport 443 -j DROP"])
        let allowed = try compileIPVS(threeNodes(svc.replacingOccurrences(of: "[203.0.113.0/24]", with: "[203.0.113.0/24, 172.18.0.0/16]")))
        #expect(allowed.filter("KUBE-IPVS-OUT-FILTER").isEmpty)
        #expect(allowed.filter("KUBE-SOURCE-RANGES-FIREWALL").count == 3)
    }

    @Test func postroutingMasqueradesHairpinFirstThenMarkedTraffic() throws {
        let r = try compileIPVS(threeNodes(Self.svc)) { $0.randomFully = true }
        #expect(r.nat("KUBE-POSTROUTING") == [
            "-A KUBE-POSTROUTING -m comment --comment \"Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose\" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE",
            "-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN",
            "-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000",
            "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully",
        ])
        #expect(r.nat("KUBE-MARK-MASQ") == ["-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000"])
        // KUBE-FORWARD has no INVALID drop in IPVS mode.
        #expect(r.filter("KUBE-FORWARD").count == 2 && !r.filter("KUBE-FORWARD").contains { $0.contains("INVALID") })
    }

    @Test func jumpsArePrependedInIPTablesJumpChainOrder() throws {
        let r = try compileIPVS(threeNodes(Self.svc))
        let rows = r.iptables.jumps.map { "\($0.table.rawValue) \($0.chain.rawValue) \($0.words.last!)" }
        #expect(rows == [
            "filter INPUT KUBE-IPVS-FILTER", "filter INPUT KUBE-PROXY-FIREWALL", "filter INPUT KUBE-NODE-PORT", "filter INPUT KUBE-FIREWALL",
            "filter FORWARD KUBE-PROXY-FIREWALL", "filter FORWARD KUBE-FORWARD",
            "filter OUTPUT KUBE-IPVS-OUT-FILTER", "filter OUTPUT KUBE-FIREWALL",
            "nat PREROUTING KUBE-SERVICES", "nat OUTPUT KUBE-SERVICES", "nat POSTROUTING KUBE-POSTROUTING",
        ])
        #expect(r.iptables.jumps[1].words == ["-m", "comment", "--comment", "\"kube-proxy firewall rules\"", "-j", "KUBE-PROXY-FIREWALL"])
    }

    @Test func restoreTextWritesNatBeforeFilterAndTheEngineTakesTheRules() throws {
        let r = try compileIPVS(threeNodes("  - {name: f, type: LoadBalancer, clusterIP: 10.96.0.21, externalIPs: [192.0.2.9], loadBalancerIPs: [198.51.100.2], loadBalancerSourceRanges: [203.0.113.0/24], selector: {app: a}, ports: [{port: 443, nodePort: 30443}]}"))
        let text = r.iptablesRestoreText()
        #expect(text.hasPrefix("*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-NODE-PORT - [0:0]\n:KUBE-LOAD-BALANCER - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n"))
        #expect(text.contains("COMMIT\n*filter\n:KUBE-FORWARD - [0:0]\n"))
        _ = try r.netfilterRuleset(source: "ipvs")
        #expect(try !r.iptablesSaveText().contains("KUBE-PROXY-CANARY"))
    }
}

/// The kernel's listing order of hash sets, without a kernel: expected orders were printed by
/// `ipset save` (ipset 7.17, Linux here) after `ipset restore` of these sets with these initvals.
@Suite struct IPSetHashOrderTests {
    /// The entries as `ipset save` prints them, ordered by their members (read as ipset restore reads them).
    func order(_ entries: [String], type: IPSetType, family: IPFamily, initval: UInt32) -> [String] {
        let typed = entries.map { (text: $0, member: try! IPSetStore.member($0, type: type, line: 0)) }
        return IPSetHashOrder.order(typed, type: type, family: family, initval: initval).map(\.text)
    }

    @Test func hashIPPortFollowsTheKernelsBuckets() {
        let entries = ["10.96.0.1,tcp:443", "10.96.0.10,tcp:53", "10.96.0.10,udp:53", "10.96.0.2,sctp:80"]
        #expect(order(entries, type: .hashIPPort, family: .ipv4, initval: 0x1234_5678)
                == ["10.96.0.10,udp:53", "10.96.0.2,sctp:80", "10.96.0.10,tcp:53", "10.96.0.1,tcp:443"])
    }

    @Test func hashIPPortNetHashesTheMaskedNetworkAndItsLength() {
        let entries = ["198.51.100.2,tcp:443,203.0.113.0/24", "198.51.100.2,tcp:443,172.18.0.0/16",
                       "198.51.100.2,udp:53,10.0.0.0/8", "198.51.100.3,tcp:443,192.0.2.7"]
        #expect(order(entries, type: .hashIPPortNet, family: .ipv4, initval: 0x0BAD_CAFE)
                == ["198.51.100.2,tcp:443,203.0.113.0/24", "198.51.100.3,tcp:443,192.0.2.7",
                    "198.51.100.2,tcp:443,172.18.0.0/16", "198.51.100.2,udp:53,10.0.0.0/8"])
    }

    @Test func ipv6HashIPFollowsTheKernelsBuckets() {
        let entries = ["fd00:10:96::1", "fd00:10:96::a", "2001:db8::1", "2001:db8::9", "fd00:10:96::1f"]
        #expect(order(entries, type: .hashIP, family: .ipv6, initval: 0x0BAD_CAFE)
                == ["fd00:10:96::1", "fd00:10:96::1f", "2001:db8::1", "fd00:10:96::a", "2001:db8::9"])
    }
}

/// What a sync does to a node's existing IPVS (`syncEndpoint`, graceful termination,
/// `cleanLegacyService`).
@Suite struct IPVSSyncOperationTests {
    static let svc = "  - {name: s, clusterIP: 10.96.0.20, selector: {app: a}, ports: [{name: t, port: 80}, {name: u, port: 53, protocol: UDP}]}"
    static let both = threeNodes(svc)
    static let onlyA1 = threeNodes(svc, pods: "pods: [{name: a1, node: n1, labels: {app: a}}]")
    static let cip = try! IPAddress(parsing: "10.96.0.20")

    /// The node after syncing `yaml`, with one TCP and one UDP connection to each real server.
    func nodeWithConnections(_ yaml: String) throws -> IPVSTable {
        var table = try compileIPVS(yaml).ipvs
        for (i, proto) in [IPProtocol.tcp, .tcp, .udp, .udp].enumerated() {
            let p = IPVSPacket(protocol: proto, source: ip("192.0.2.\(i + 1)"), sourcePort: 40000, destination: Self.cip,
                               destinationPort: proto == .tcp ? 80 : 53, tcpFlags: proto == .tcp ? .syn : [])
            _ = table.input(p)
        }
        return table
    }

    @Test func aFreshNodeGetsEveryVirtualServerAndRealServerAdded() throws {
        let r = try compileIPVS(Self.both)
        let ops = r.operations(from: IPVSTable())
        let key = ServiceKey(protocol: .tcp, address: Self.cip, port: 80)
        #expect(ops.filter { if case .addService = $0 { true } else { false } }.count == 2)
        #expect(ops.contains(.addDestination(key, DestinationConfig(address: ip("10.244.1.2"), port: 80, weight: 1))))
        #expect(r.operations(from: r.ipvs).isEmpty)
    }

    @Test func aRemovedTCPServerWithConnectionsDrainsAtWeightZeroAndUDPGoesAtOnce() throws {
        let current = try nodeWithConnections(Self.both)
        let tcp = ServiceKey(protocol: .tcp, address: Self.cip, port: 80), udp = ServiceKey(protocol: .udp, address: Self.cip, port: 53)
        #expect(current.services[Int(current.serviceIndex(tcp)!)].destinations.allSatisfy { $0.totalConns == 1 })
        let ops = try compileIPVS(Self.onlyA1).operations(from: current)
        #expect(ops == [
            .editDestination(tcp, DestinationConfig(address: ip("10.244.1.2"), port: 80, weight: 0)),
            .deleteDestination(udp, address: ip("10.244.1.2"), port: 53),
        ])
    }

    @Test func aRemovedServerWithoutConnectionsIsDeletedAtOnce() throws {
        let current = try compileIPVS(Self.both).ipvs
        let ops = try compileIPVS(Self.onlyA1).operations(from: current)
        #expect(ops == [
            .deleteDestination(ServiceKey(protocol: .tcp, address: Self.cip, port: 80), address: ip("10.244.1.2"), port: 80),
            .deleteDestination(ServiceKey(protocol: .udp, address: Self.cip, port: 53), address: ip("10.244.1.2"), port: 53),
        ])
    }

    @Test func aDrainingServerThatComesBackIsDeletedAndAddedAgain() throws {
        var current = try nodeWithConnections(Self.both)
        let tcp = ServiceKey(protocol: .tcp, address: Self.cip, port: 80)
        try current.editDestination(service: current.serviceIndex(tcp)!, DestinationConfig(address: ip("10.244.1.2"), port: 80, weight: 0))
        let back = try compileIPVS(Self.both).operations(from: current)
        #expect(back == [.deleteDestination(tcp, address: ip("10.244.1.2"), port: 80),
                         .addDestination(tcp, DestinationConfig(address: ip("10.244.1.2"), port: 80, weight: 1))])
        // Still gone: nothing more to do until its connections end.
        #expect(try compileIPVS(Self.onlyA1).operations(from: current).filter { if case .editDestination = $0 { true } else { false } }.isEmpty)
        #expect(IPVSModeRuleset.drainedDeletions(in: current).isEmpty)
        // Once idle, the manager's periodic pass deletes it.
        var idle = try compileIPVS(Self.both).ipvs
        try idle.editDestination(service: idle.serviceIndex(tcp)!, DestinationConfig(address: ip("10.244.1.2"), port: 80, weight: 0))
        #expect(IPVSModeRuleset.drainedDeletions(in: idle) == [.deleteDestination(tcp, address: ip("10.244.1.2"), port: 80)])
    }

    @Test func virtualServersNoLongerWantedAreDeletedUnlessExcluded() throws {
        let current = try compileIPVS(Self.both).ipvs
        let none = try compileIPVS(threeNodes("  - {name: other, clusterIP: 10.96.0.30, selector: {app: a}, ports: [{port: 80}]}"))
        let ops = none.operations(from: current)
        #expect(ops.contains(.deleteService(ServiceKey(protocol: .tcp, address: Self.cip, port: 80))))
        #expect(ops.contains(.deleteService(ServiceKey(protocol: .udp, address: Self.cip, port: 53))))
        let kept = none.operations(from: current, excludeCIDRs: [try Prefix(parsing: "10.96.0.16/28")])
        #expect(!kept.contains { if case .deleteService = $0 { true } else { false } })
    }
}
