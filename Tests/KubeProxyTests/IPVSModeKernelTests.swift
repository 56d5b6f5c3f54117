import Foundation
import Testing
@testable import Cluster
@testable import KubeProxy
import TestSupport
import Wire

/// IPVS mode's ipsets and iptables rules against the real tools in a fresh network namespace:
/// `ipset restore` takes the sets, `ipset save` prints them back byte for byte (the `initval`
/// kdp writes is kept by restore, so the hash order is the kernel's own), and
/// `iptables-restore --test --noflush` takes the rules once the sets they match exist. The
/// kernel here has no IPVS module, so virtual servers are not loaded.
@Suite(.serialized) struct IPVSModeKernelTests {
    static let ipsetMissing: String? = {
        if let why = KernelCheck.missing { return why }
        if (try? Shell.run(["sh", "-c", "command -v ipset"]).status) != 0 { return "ipset not installed" }
        return nil
    }()
    static var enabled: Bool { KernelCheck.isCI || ipsetMissing == nil }

    static func unavailable() -> Bool {
        guard let why = ipsetMissing else { return false }
        if KernelCheck.isCI { Issue.record("IPVS-mode kernel check cannot run under CI: \(why)") } else { print("skipping IPVS-mode kernel check: \(why)") }
        return true
    }

    static let dualStack = """
    kind: Topology
    cluster:
      clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
      serviceCIDR: 10.96.0.0/12,fd00:10:96::/112
      nodeNetwork: 172.18.0.0/16,fd00:18::/64
    nodes: [{name: a}, {name: b}]
    pods: [{name: w1, node: a, labels: {app: w}}, {name: w2, node: b, labels: {app: w}}, {name: w3, node: b, labels: {app: w}, terminating: true}]
    services:
      - {name: lb, ipFamilyPolicy: RequireDualStack, type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: w},
         loadBalancerIPs: [198.51.100.1, "2001:db8::1"], loadBalancerSourceRanges: ["2001:db8:1::/48", 203.0.113.0/24, 172.18.0.0/16],
         externalIPs: [192.0.2.9, "2001:db8::9"], sessionAffinity: ClientIP, ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]}
      - {name: fw, ipFamilyPolicy: RequireDualStack, type: LoadBalancer, selector: {app: w},
         loadBalancerIPs: [198.51.100.2, "2001:db8::2"], loadBalancerSourceRanges: ["2001:db8:7::/48", 203.0.113.0/24, 0.0.0.0/0], ports: [{port: 443}]}
      - {name: local, ipFamilyPolicy: PreferDualStack, internalTrafficPolicy: Local, selector: {app: w}, ports: [{port: 8080, protocol: SCTP}]}
      - {name: sctp, ipFamilyPolicy: PreferDualStack, type: NodePort, externalTrafficPolicy: Local, selector: {app: w}, ports: [{port: 9000, protocol: SCTP}]}
      - {name: empty, type: NodePort, selector: {app: none}, externalIPs: [192.0.2.10], ports: [{port: 81}]}
    """

    /// Restores the sets, reads them back, then tests the iptables text against them.
    func check(_ cluster: Cluster, node: String, family: IPFamily, in ns: NetworkNamespace) throws {
        var config = ProxierConfig.forNode(cluster.node(named: node)!, in: cluster, family: family)
        config.randomFully = true
        let compiled = IPVSModeCompiler.compile(cluster, config: config)
        // The only error is the 0.0.0.0/0 source range, which the kernel refuses.
        #expect(compiled.errors.allSatisfy { $0.hasSuffix("refused by the kernel") }, "\(compiled.errors)")
        let sets = compiled.ipsetSaveText()
        let restore = try ns.exec(["ipset", "restore"], input: sets)
        #expect(restore.status == 0, "ipset restore rejected \(node)/\(family): \(restore.output)")
        guard restore.status == 0 else { return }
        // Only this family's sets: the namespace may hold the other family's too.
        let names = Set(compiled.ipsets.sets.map(\.name))
        let saved = try ns.exec(["ipset", "save"]).output.split(separator: "\n").filter { line in
            let w = line.split(separator: " ")
            return w.count > 1 && names.contains(String(w[1]))
        }.map { $0 + "\n" }.joined()
        if saved != sets {
            let a = saved.split(separator: "\n"), b = sets.split(separator: "\n")
            for i in 0..<max(a.count, b.count) where (i < a.count ? a[i] : "") != (i < b.count ? b[i] : "") {
                Issue.record("\(node)/\(family) line \(i + 1):\n kernel: \(i < a.count ? a[i] : "<none>")\n kdp:    \(i < b.count ? b[i] : "<none>")")
                break
            }
        }
        #expect(saved == sets)
        let tool = family == .ipv4 ? "iptables-restore" : "ip6tables-restore"
        let r = try ns.exec([tool, "--test", "--noflush"], input: compiled.iptablesRestoreText())
        #expect(r.status == 0, "\(tool) --test rejected \(node)/\(family): \(r.output)")
        // The sets are node-specific: clear them for the next node.
        for name in names { _ = try ns.exec(["ipset", "destroy", name]) }
    }

    @Test(.enabled(if: enabled))
    func ipsetRestoreAndIPTablesRestoreAcceptTheDemo() throws {
        if Self.unavailable() { return }
        let cluster = try ClusterBuilder.load(paths: [])
        let ns = try NetworkNamespace("ipvs-demo")
        for node in cluster.nodes { try check(cluster, node: node.name, family: .ipv4, in: ns) }
    }

    @Test(.enabled(if: enabled))
    func ipsetRestoreAndIPTablesRestoreAcceptADualStackCluster() throws {
        if Self.unavailable() { return }
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: Self.dualStack, file: "dual.yaml"))
        let ns = try NetworkNamespace("ipvs-dual")
        for node in ["a", "b"] {
            try check(cluster, node: node, family: .ipv4, in: ns)
            try check(cluster, node: node, family: .ipv6, in: ns)
        }
    }

    /// The node as kubelet and IPVS-mode kube-proxy leave it, built with the real commands
    /// (kubelet's chains; kube-proxy's `createAndLinkKubeChain`: EnsureChain, then each jump
    /// prepended; its sets; its restore), read back with iptables-save: `iptablesSaveText()` must
    /// print exactly that. The cluster has no LB that shuts the node out, because the `ipvs` match
    /// of KUBE-IPVS-OUT-FILTER needs the IPVS module, which this kernel lacks.
    func checkSave(_ cluster: Cluster, node: String, family: IPFamily) throws {
        let tool = family == .ipv4 ? "iptables" : "ip6tables"
        let ns = try NetworkNamespace("ipvs-save")
        func must(_ args: [String], input: String? = nil) throws {
            let r = try ns.exec(args, input: input)
            #expect(r.status == 0, "\(args.joined(separator: " ")): \(r.output)")
        }
        try ns.setUpKubelet(family: family)
        var config = ProxierConfig.forNode(cluster.node(named: node)!, in: cluster, family: family)
        config.randomFully = true
        let compiled = IPVSModeCompiler.compile(cluster, config: config)
        #expect(compiled.filter("KUBE-IPVS-OUT-FILTER").isEmpty)
        for c in IPVSModeIPTables.natChains { try must([tool, "-t", "nat", "-N", c.rawValue]) }
        for c in IPVSModeIPTables.filterChains { try must([tool, "-t", "filter", "-N", c.rawValue]) }
        // In iptablesJumpChain order, each at position 1.
        let installed: [(String, String, [String])] = [
            ("nat", "OUTPUT", ["kubernetes service portals", "KUBE-SERVICES"]), ("nat", "PREROUTING", ["kubernetes service portals", "KUBE-SERVICES"]),
            ("nat", "POSTROUTING", ["kubernetes postrouting rules", "KUBE-POSTROUTING"]), ("filter", "FORWARD", ["kubernetes forwarding rules", "KUBE-FORWARD"]),
            ("filter", "INPUT", ["kubernetes health check rules", "KUBE-NODE-PORT"]), ("filter", "INPUT", ["kube-proxy firewall rules", "KUBE-PROXY-FIREWALL"]),
            ("filter", "FORWARD", ["kube-proxy firewall rules", "KUBE-PROXY-FIREWALL"]), ("filter", "INPUT", ["kubernetes ipvs access filter", "KUBE-IPVS-FILTER"]),
            ("filter", "OUTPUT", ["kubernetes ipvs access filter", "KUBE-IPVS-OUT-FILTER"]),
        ]
        for (table, chain, ct) in installed {
            try must([tool, "-t", table, "-I", chain, "1", "-m", "comment", "--comment", ct[0], "-j", ct[1]])
        }
        try must(["ipset", "restore"], input: compiled.ipsetSaveText())
        try must([tool + "-restore", "--noflush"], input: compiled.iptablesRestoreText())
        let saved = try ns.exec([tool + "-save"]).output
            .split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }.joined(separator: "\n")
        let ours = try compiled.iptablesSaveText()
        if saved != ours {
            let a = saved.split(separator: "\n"), b = ours.split(separator: "\n")
            for i in 0..<max(a.count, b.count) where (i < a.count ? a[i] : "") != (i < b.count ? b[i] : "") {
                Issue.record("\(node)/\(family) line \(i + 1):\n kernel: \(i < a.count ? a[i] : "<none>")\n kdp:    \(i < b.count ? b[i] : "<none>")")
                break
            }
        }
        #expect(saved == ours)
        // iptables rules refer to the sets: flush them before the namespace (and its sets) goes.
        for t in ["filter", "nat"] { _ = try ns.exec([tool, "-t", t, "-F"]) }
    }

    @Test(.enabled(if: enabled))
    func iptablesSaveTextMatchesTheKernel() throws {
        if Self.unavailable() { return }
        let yaml = Self.dualStack.split(separator: "\n").filter { !$0.contains("name: fw") && !$0.contains("2001:db8:7::/48") }.joined(separator: "\n")
            .replacingOccurrences(of: "\"2001:db8:1::/48\",", with: "\"2001:db8:1::/48\", \"fd00:18::/64\",")
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: yaml, file: "dual.yaml"))
        try checkSave(cluster, node: "b", family: .ipv4)
        try checkSave(cluster, node: "a", family: .ipv6)
    }
}
