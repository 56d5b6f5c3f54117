import Cluster
import Foundation
import KubeProxy
import Testing
import Wire

/// One group of upstream's nftables packet flows (proxier_test.go at 81810de6, TestLoadBalancer:
/// source ranges, the LB-IP implicit allow, NodePort bypass, masquerade) through the built
/// `kdp trace-rules --nft FILE` binary, as a user pasting the compiled ruleset would run it. The
/// other groups run in-process in DataplaneTests' UpstreamNFTablesPacketFlowTests.
@Suite struct UpstreamNFTablesFlowCommandTests {
    static let manifests = """
        apiVersion: v1
        kind: Service
        metadata: {name: svc1, namespace: ns1}
        spec:
          type: LoadBalancer
          clusterIP: "172.30.0.41"
          ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]
          loadBalancerSourceRanges: ["192.168.0.0/24", " 203.0.113.0/25"]
        status: {loadBalancer: {ingress: [{ip: "1.2.3.4"}, {ip: "5.6.7.8"}]}}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
        addressType: IPv4
        endpoints:
        - {addresses: ["10.180.0.1"]}
        ports: [{name: p80, port: 80, protocol: TCP}]
        """

    /// TestLoadBalancer's flows: name, source, destination, port, output, masq.
    static let flows: [(String, String, String, UInt16, String, Bool)] = [
        ("pod to cluster IP", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80", false),
        ("external to nodePort", "203.0.113.2", "192.168.0.2", 3001, "10.180.0.1:80", true),
        ("nodePort bypasses LoadBalancerSourceRanges", "203.0.113.130", "192.168.0.2", 3001, "10.180.0.1:80", true),
        ("accepted external to LB1", "203.0.113.2", "1.2.3.4", 80, "10.180.0.1:80", true),
        ("accepted external to LB2", "203.0.113.2", "5.6.7.8", 80, "10.180.0.1:80", true),
        ("blocked external to LB1", "203.0.113.130", "1.2.3.4", 80, "DROP", false),
        ("blocked external to LB2", "203.0.113.130", "5.6.7.8", 80, "DROP", false),
        ("pod to LB1 (blocked by LoadBalancerSourceRanges)", "10.0.0.2", "1.2.3.4", 80, "DROP", false),
        ("pod to LB2 (blocked by LoadBalancerSourceRanges)", "10.0.0.2", "5.6.7.8", 80, "DROP", false),
        ("node to LB1 (allowed by LoadBalancerSourceRanges)", "192.168.0.2", "1.2.3.4", 80, "10.180.0.1:80", true),
        ("node to LB2 (allowed by LoadBalancerSourceRanges)", "192.168.0.2", "5.6.7.8", 80, "10.180.0.1:80", true),
        ("same node to LB1, SNATted to LB1 (implicitly allowed)", "1.2.3.4", "1.2.3.4", 80, "10.180.0.1:80", true),
        ("same node to LB2, SNATted to LB2 (implicitly allowed)", "5.6.7.8", "5.6.7.8", 80, "10.180.0.1:80", true),
    ]

    /// upstream's testNodeIPs, the node's addresses for `fib … type local`.
    static let localIPs = ["192.168.0.2", "192.168.1.2", "192.168.99.11", "2001:db8::1", "2001:db8:1::2"]

    /// The transaction NewFakeProxier's kube-proxy writes for the manifests.
    static func compiledTransaction() throws -> String {
        let manifests = try temporaryFile(manifests, name: "manifests.yaml")
        defer { try? FileManager.default.removeItem(at: manifests.deletingLastPathComponent()) }
        let node = repositoryRoot.appendingPathComponent("Tests/KubeProxyTests/Fixtures/upstream-overall-node.yaml")
        let cluster = try ClusterBuilder.load(paths: [node.path, manifests.path])
        var config = ProxierConfig.forNode(try #require(cluster.node(named: "test-node")), in: cluster, family: .ipv4)
        config.masqueradeMarkText = "0x4000"
        config.clusterCIDRs = [try Prefix(parsing: "10.0.0.0/8")]
        config.nodePortAddresses = [try Prefix(parsing: "192.168.0.2/32"), try Prefix(parsing: "2001:db8::1/128")]
        let options = NFTablesCompiler.Options(serviceCIDRs: [try Prefix(parsing: "172.30.0.0/16")])
        return NFTablesCompiler.compile(cluster, config: config, options: options).transactionText()
    }

    @Test func testLoadBalancerFlowsPassThroughTheTraceRulesCommand() throws {
        let file = try temporaryFile(try Self.compiledTransaction(), name: "kube-proxy.nft")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        for (name, src, dst, port, want, masq) in Self.flows {
            let r = try kdp(["trace-rules", "--nft", file.path] + Self.localIPs.flatMap { ["--local-ip", $0] }
                            + ["--src", src, "--dst", dst, "--dport", String(port), "--all-paths", "-o", "json"])
            #expect(r.status == 0, "\(name): \(r.stderr)")
            let paths = r.json["paths"] as? [[String: Any]] ?? []
            #expect(!paths.isEmpty, "\(name): no paths in \(r.stdout.prefix(200))")
            // Upstream's tracer words: each branch's DNAT target, or DROP / REJECT.
            var outputs: [String] = []
            for p in paths {
                let word: String? = switch p["verdict"] as? String {
                case "dropped": "DROP"
                case "rejected": "REJECT"
                default: p["dnat"] as? String
                }
                if let word, !outputs.contains(word) { outputs.append(word) }
            }
            #expect(outputs.joined(separator: ", ") == want, "\(name)")
            #expect(paths.contains { $0["masquerade"] as? Bool == true } == masq, "\(name): masquerade")
        }
        // The text output names the firewall rule that dropped a blocked client.
        let blocked = try kdp(["trace-rules", "--nft", file.path, "--local-ip", "192.168.0.2", "--src", "203.0.113.130", "--dst", "1.2.3.4", "--dport", "80"])
        #expect(blocked.status == 0 && blocked.stdout.contains("DROPPED") && blocked.stdout.contains("firewall-"), "\(blocked.stdout)")
    }
}
