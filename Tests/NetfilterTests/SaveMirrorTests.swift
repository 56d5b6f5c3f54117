import Foundation
import Testing
@testable import Cluster
@testable import KubeProxy
@testable import Netfilter
import Wire

/// Parsing and printing mirror each other, in smoltcp's style: for every rule kdp meets, what
/// iptables-save prints for the parsed rule parses back to the same matches and target,
/// parse(save(parse(r))) == parse(r). Each extension's parser and printer sit in one file
/// (Sources/Netfilter/Extensions/); this holds them to each other over every rule of the
/// fixtures, the kernel-check rule sets and the rulesets kdp compiles.
@Suite struct SaveMirrorTests {
    /// One rule's words as a fresh parser reads them (so `statistic --mode nth` counters agree),
    /// in the kernel's terms: the header conditions (`-s -d -i -o -p -f`) are fields of one
    /// struct (`ipt_ip`), so their order is not kept; recent's mask defaults to all ones.
    static func parsed(_ words: [RuleWord], family: IPFamily) throws -> String {
        var parser = RuleParser()
        let p = try parser.parse(words)
        let header = p.matches.filter(isHeader).map { "\($0)" }.sorted()
        let modules = p.matches.filter { !isHeader($0) }.map { m -> String in
            guard case .recent(var r) = m else { return "\(m)" }
            if r.mask == nil { r.mask = try? IPAddress(parsing: family == .ipv4 ? "255.255.255.255" : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") }
            return "\(Match.recent(r))"
        }
        return "\(header) \(modules) \(String(describing: p.target)) \(String(describing: p.jumpChain))"
    }

    static func isHeader(_ m: Match) -> Bool {
        switch m {
        case .source, .destination, .sourceMasked, .destinationMasked, .inInterface, .outInterface, .proto, .fragment: true
        default: false
        }
    }

    /// The rules of `text` that do not mirror, with what went wrong; also how many were checked.
    static func mismatches(_ text: String, family: IPFamily, file: String) throws -> (checked: Int, failures: [String]) {
        let ruleset = try Ruleset.parse(text: text, file: file)
        var checked = 0
        var failures: [String] = []
        for table in ruleset.tables {
            for chain in table.chains {
                for rule in chain.rules {
                    var original = try parsed(rule.words, family: family)
                    if family == .ipv6 {
                        // The parser does not know the family, so REJECT's default keeps its
                        // IPv4 name; ip6tables-save prints (and kdp's printer gives) the IPv6 one.
                        original = original.replacingOccurrences(of: "reject(Netfilter.RejectKind.icmpPortUnreachable)",
                                                                 with: "reject(Netfilter.RejectKind.icmp6PortUnreachable)")
                    }
                    // save(parse(r)) is text: it is read back as iptables-restore reads a line.
                    let saved = try SaveNormalizer.normalize(rule.words.map(\.text), family: family).joined(separator: " ")
                    let mirrored = (try? parsed(Tokenizer.words(Substring(saved)).get(), family: family)) ?? "unparsable"
                    checked += 1
                    if mirrored != original {
                        failures.append("\(file) \(table.name) \(chain.name): \(rule.text)\n  saved:    \(saved)\n  parsed:   \(original)\n  mirrored: \(mirrored)")
                    }
                }
            }
        }
        return (checked, failures)
    }

    func expectMirror(_ text: String, family: IPFamily = .ipv4, _ file: String, atLeast: Int = 1) throws {
        let (checked, failures) = try Self.mismatches(text, family: family, file: file)
        #expect(failures.isEmpty, "\(failures.count) of \(checked) rules:\n\(failures.prefix(5).joined(separator: "\n"))")
        #expect(checked >= atLeast, "\(file): only \(checked) rules")
    }

    @Test func fixtures() throws {
        try expectMirror(Fixtures.kubeProxySave, "kube-proxy-example.iptables-save", atLeast: 50)
        try expectMirror(Fixtures.kubeProxyRestore, "kube-proxy-example.restore", atLeast: 50)
        try expectMirror(KubeProxyExample.rules(), "KubeProxyExample.rules", atLeast: 50)
        let upstream = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("KubeProxyTests/Fixtures/upstream-overall-expected.iptables-save")
        try expectMirror(try String(contentsOf: upstream, encoding: .utf8), "upstream-overall-expected.iptables-save", atLeast: 50)
    }

    @Test func kernelCheckRuleSets() throws {
        try expectMirror(KernelCheckTests.tracedRules, "KernelCheckTests.rules", atLeast: 20)
        try expectMirror(MoreMatchesKernelCheckTests.rules, "MoreMatchesKernelCheckTests.rules", atLeast: 15)
        try expectMirror(IPv6KernelCheckTests.rules, family: .ipv6, "IPv6KernelCheckTests.rules", atLeast: 5)
        var accepted = 0
        for (table, body) in RestoreAcceptanceKernelCheckTests.cases {
            let text = "*\(table.rawValue)\n\(body)\nCOMMIT\n"
            guard (try? Ruleset.parse(text: text, file: "case")) != nil else { continue }  // refused: nothing to print
            try expectMirror(text, "RestoreAcceptanceKernelCheckTests: \(body)")
            accepted += 1
        }
        #expect(accepted >= 15)
    }

    /// Every node of both shipped topologies, as kube-proxy writes the rules (restore text) and as
    /// iptables-save shows them, in iptables mode and IPVS mode; and a dual-stack cluster in both
    /// families.
    @Test func compiledRulesets() throws {
        let root = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for topology in ["demo.yaml", "ha-cluster.yaml"] {
            let cluster = try ClusterBuilder.load(paths: [root.appendingPathComponent("topologies/\(topology)").path])
            try expectCompiledMirror(cluster, families: [.ipv4], topology)
        }
        let dual = try ClusterBuilder.build(TopologyLoader.parse(text: Self.dualStack, file: "dual.yaml"))
        try expectCompiledMirror(dual, families: [.ipv4, .ipv6], "dual-stack")
    }

    func expectCompiledMirror(_ cluster: Cluster, families: [IPFamily], _ name: String) throws {
        for node in cluster.nodes {
            for family in families {
                let config = ProxierConfig.forNode(node, in: cluster, family: family)
                let iptables = IPTablesCompiler.compile(cluster, config: config)
                let where_ = "\(name) \(node.name) \(family)"
                try expectMirror(iptables.nodeRestoreText(), family: family, "\(where_) restore", atLeast: 10)
                try expectMirror(try iptables.saveText(), family: family, "\(where_) save", atLeast: 10)
                let ipvs = IPVSModeCompiler.compile(cluster.withKubeProxy { $0.mode = .ipvs }, config: config)
                try expectMirror(try ipvs.iptablesSaveText(), family: family, "\(where_) ipvs save", atLeast: 5)
            }
        }
    }

    static let dualStack = """
    kind: Topology
    cluster:
      clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
      serviceCIDR: 10.96.0.0/12,fd00:10:96::/112
      nodeNetwork: 172.18.0.0/16,fd00:18::/64
    nodes: [{name: n1}, {name: n2}]
    pods:
      - {name: a1, node: n1, labels: {app: a}, ports: [{name: http, containerPort: 8080}]}
      - {name: a2, node: n2, labels: {app: a}, ports: [{name: http, containerPort: 8080}]}
    services:
      - {name: c, selector: {app: a}, ipFamilyPolicy: RequireDualStack, ports: [{name: http, port: 80, targetPort: http}]}
      - {name: n, type: NodePort, selector: {app: a}, ipFamilyPolicy: RequireDualStack, externalTrafficPolicy: Local, ports: [{port: 81, targetPort: 8080}]}
      - {name: l, type: LoadBalancer, selector: {app: a}, ipFamilyPolicy: RequireDualStack, loadBalancerSourceRanges: [203.0.113.0/24, "2001:db8::/64"], ports: [{port: 82, targetPort: 8080, protocol: UDP}]}
      - {name: e, selector: {app: none}, ipFamilyPolicy: RequireDualStack, ports: [{port: 83}]}
    """
}
