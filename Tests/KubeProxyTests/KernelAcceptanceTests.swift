import Foundation
import Testing
@testable import Cluster
@testable import KubeProxy
import TestSupport
import Wire

@Suite(.serialized) struct KernelAcceptanceTests {
    static let topologies: [URL] = {
        let dir = repositoryRoot.appendingPathComponent("topologies")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { dir.appendingPathComponent($0) }
    }()

    func accept(_ cluster: Cluster, family: IPFamily, in ns: NetworkNamespace, load: Bool = false) throws {
        let tool = family == .ipv4 ? "iptables-restore" : "ip6tables-restore"
        for node in cluster.nodes {
            var config = ProxierConfig.forNode(node, in: cluster, family: family)
            config.randomFully = true
            let text = IPTablesCompiler.compile(cluster, config: config).restoreText()
            let r = try ns.exec([tool, "--test", "--noflush"], input: text)
            #expect(r.status == 0, "\(tool) --test rejected node \(node.name): \(r.output)")
            if load {
                let l = try ns.exec([tool, "--noflush"], input: text)
                #expect(l.status == 0, "\(tool) rejected node \(node.name): \(l.output)")
            }
        }
    }

    @Test(.enabled(if: KernelCheck.enabled), arguments: topologies)
    func iptablesRestoreAcceptsEveryShippedTopology(_ file: URL) throws {
        if KernelCheck.unavailable() { return }
        let ns = try NetworkNamespace("accept")
        try accept(try ClusterBuilder.load(paths: [file.path]), family: .ipv4, in: ns, load: true)
    }

    @Test(.enabled(if: KernelCheck.enabled))
    func ip6tablesRestoreAcceptsTheIPv6Proxier() throws {
        if KernelCheck.unavailable() { return }
        let yaml = dualStackCluster + """
        pods: [{name: w1, node: a, labels: {app: w}}, {name: w2, node: b, labels: {app: w}}]
        services:
          - {name: dual, ipFamilyPolicy: RequireDualStack, type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: w},
             loadBalancerIPs: [198.51.100.1, "2001:db8::1"], loadBalancerSourceRanges: ["2001:db8:1::/48", 203.0.113.0/24],
             externalIPs: ["2001:db8::9"], sessionAffinity: ClientIP, ports: [{port: 80}]}
        """
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: yaml, file: "dual.yaml"))
        let ns = try NetworkNamespace("accept6")
        try accept(cluster, family: .ipv6, in: ns, load: true)
        try accept(cluster, family: .ipv4, in: ns)
    }

    @Test(.enabled(if: KernelCheck.enabled))
    func iptablesRestoreAcceptsTenThousandServices() throws {
        if KernelCheck.unavailable() { return }
        let text = TopologyGenerator.text(.init(nodes: 4, podsPerNode: 50, services: 10_000, endpointsPerService: 2, seed: 3))
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "generated.yaml"))
        let ns = try NetworkNamespace("accept10k")
        var config = ProxierConfig.forNode(cluster.nodes[1], in: cluster, family: .ipv4)
        config.randomFully = true
        let rules = IPTablesCompiler.compile(cluster, config: config).restoreText()
        // iptables-legacy-restore: the nft front end needs minutes for a 140k-line --test here
        // (its chain lookups grow with the ruleset); legacy checks the same syntax in under 1 s.
        let r = try ns.exec(["iptables-legacy-restore", "--test", "--noflush"], input: rules)
        #expect(r.status == 0, "iptables-legacy-restore --test: \(r.output.prefix(500))")
    }
}

/// The node as kubelet and kube-proxy leave it, built with the real commands, then read back with
/// iptables-save: `kdp compile --format save` must print exactly that.
@Suite(.serialized) struct KernelSaveFormatTests {
    /// kube-proxy's jumps in the order `syncProxyRules` ensures them (iptablesJumpChains, §1.3),
    /// each installed with Prepend (`-I CHAIN 1`).
    static let proxyJumps: [(String, String, [String])] = [
        ("filter", "INPUT", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes externally-visible service portals", "-j", "KUBE-EXTERNAL-SERVICES"]),
        ("filter", "FORWARD", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes externally-visible service portals", "-j", "KUBE-EXTERNAL-SERVICES"]),
        ("filter", "INPUT", ["-m", "comment", "--comment", "kubernetes health check service ports", "-j", "KUBE-NODEPORTS"]),
        ("filter", "FORWARD", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("filter", "OUTPUT", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("filter", "FORWARD", ["-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD"]),
        ("filter", "INPUT", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes load balancer firewall", "-j", "KUBE-PROXY-FIREWALL"]),
        ("filter", "OUTPUT", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes load balancer firewall", "-j", "KUBE-PROXY-FIREWALL"]),
        ("filter", "FORWARD", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes load balancer firewall", "-j", "KUBE-PROXY-FIREWALL"]),
        ("nat", "OUTPUT", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("nat", "PREROUTING", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("nat", "POSTROUTING", ["-m", "comment", "--comment", "kubernetes postrouting rules", "-j", "KUBE-POSTROUTING"]),
    ]

    func checkNode(_ cluster: Cluster, node: String, family: IPFamily) throws {
        let tool = family == .ipv4 ? "iptables" : "ip6tables"
        let ns = try NetworkNamespace("save")
        func must(_ args: [String], input: String? = nil) throws {
            let r = try ns.exec(args, input: input)
            #expect(r.status == 0, "\(args.joined(separator: " ")): \(r.output)")
        }
        // kubelet first.
        try ns.setUpKubelet(family: family)
        // Then kube-proxy: canaries, chains, prepended jumps, the restore.
        for t in ["mangle", "nat", "filter"] { try must([tool, "-t", t, "-N", "KUBE-PROXY-CANARY"]) }
        for (table, chain, words) in Self.proxyJumps {
            let target = words.last!
            _ = try ns.exec([tool, "-t", table, "-N", target])  // EnsureChain: may exist already
            if try ns.exec([tool, "-t", table, "-C", chain] + words).status != 0 {
                try must([tool, "-t", table, "-I", chain, "1"] + words)
            }
        }
        var config = ProxierConfig.forNode(cluster.node(named: node)!, in: cluster, family: family)
        config.randomFully = true
        let ruleset = IPTablesCompiler.compile(cluster, config: config)
        try must([tool + "-restore", "--noflush"], input: ruleset.restoreText())
        let saved = try ns.exec([tool + "-save"]).output
            .split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }.joined(separator: "\n")
        let ours = try ruleset.saveText()
        if saved != ours {
            let a = saved.split(separator: "\n"), b = ours.split(separator: "\n")
            for i in 0..<max(a.count, b.count) where (i < a.count ? a[i] : "") != (i < b.count ? b[i] : "") {
                Issue.record("line \(i + 1):\n kernel: \(i < a.count ? a[i] : "<none>")\n kdp:    \(i < b.count ? b[i] : "<none>")")
                break
            }
        }
        #expect(saved == ours)
    }

    @Test(.enabled(if: KernelCheck.enabled))
    func saveFormatMatchesTheKernelForTheDemo() throws {
        if KernelCheck.unavailable() { return }
        let cluster = try ClusterBuilder.load(paths: [])
        for node in ["worker-1", "control-plane"] { try checkNode(cluster, node: node, family: .ipv4) }
    }

    @Test(.enabled(if: KernelCheck.enabled))
    func saveFormatMatchesTheKernelForEveryRuleFamily() throws {
        if KernelCheck.unavailable() { return }
        let yaml = dualStackCluster + """
        pods: [{name: w1, node: a, labels: {app: w}}, {name: w2, node: b, labels: {app: w}}, {name: w3, node: b, labels: {app: w}, terminating: true}]
        services:
          - {name: lb, ipFamilyPolicy: RequireDualStack, type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: w},
             loadBalancerIPs: [198.51.100.1, "2001:db8::1"], loadBalancerSourceRanges: ["2001:db8:1::/48", 203.0.113.0/24, 172.18.0.0/16],
             externalIPs: [192.0.2.9, "2001:db8::9"], sessionAffinity: ClientIP, ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]}
          - {name: local, ipFamilyPolicy: PreferDualStack, internalTrafficPolicy: Local, selector: {app: w}, ports: [{port: 8080, protocol: SCTP}]}
          - {name: empty, type: NodePort, selector: {app: none}, externalIPs: [192.0.2.10], ports: [{port: 81}]}
        """
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: yaml, file: "families.yaml"))
        try checkNode(cluster, node: "b", family: .ipv4)
        try checkNode(cluster, node: "a", family: .ipv6)
    }
}

/// Two nodes on a dual-stack cluster; tests add pods and Services.
let dualStackCluster = """
    kind: Topology
    cluster:
      clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
      serviceCIDR: 10.96.0.0/12,fd00:10:96::/112
      nodeNetwork: 172.18.0.0/16,fd00:18::/64
    nodes: [{name: a}, {name: b}]

    """

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
