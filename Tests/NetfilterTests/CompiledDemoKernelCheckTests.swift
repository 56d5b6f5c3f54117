import Foundation
import Testing
@testable import Cluster
@testable import KubeProxy
@testable import Netfilter
import TestSupport
import Wire

/// kdp's compiler and kdp's engine against the real kernel: the rules kube-proxy writes for
/// nodes of topologies/demo.yaml (as `kdp compile --format save` prints them) are loaded into the
/// lab's node namespace, and the kernel's DNAT choices and verdicts must be among kdp's paths,
/// rule by rule, for every kind of Service traffic.
@Suite(.serialized) struct CompiledDemoKernelCheckTests {
    static let ip = KubeProxyExample.ip

    /// Loads `node`'s compiled rules into the lab (whose node namespace plays that node) and
    /// returns the tracer and host kdp uses for the same namespace.
    func load(_ node: String, _ cluster: Cluster, _ lab: KernelLab, nodeIP: String) throws -> (Tracer, Netfilter.Host) {
        var config = ProxierConfig.forNode(cluster.node(named: node)!, in: cluster, family: .ipv4)
        config.randomFully = true
        let rules = "*raw\n-A PREROUTING -i n1 -j TRACE\nCOMMIT\n" + IPTablesCompiler.compile(cluster, config: config).nodeRestoreText()
        try lab.load(rules)
        let tracer = Tracer(ruleset: try Ruleset.parse(text: rules, file: "\(node) compiled"))
        let host = Netfilter.Host(name: node, interfaces: [
            Interface(name: "n1", addresses: [(Self.ip("10.99.1.1"), 24), (Self.ip(nodeIP), 32)]),
            Interface(name: "n2", addresses: [(Self.ip("10.99.2.1"), 24)]),
        ], routes: [
            Route(destination: try Prefix(parsing: "10.244.0.0/16"), device: "n2", gateway: Self.ip("10.99.2.2")),
            Route(destination: try Prefix(parsing: "10.244.1.2/32"), device: "n1", gateway: Self.ip("10.99.1.2")),
            Route(destination: try Prefix(parsing: "203.0.113.0/24"), device: "n1", gateway: Self.ip("10.99.1.2")),
            Route(destination: try Prefix(parsing: "192.0.2.0/24"), device: "n1", gateway: Self.ip("10.99.1.2")),
        ])
        return (tracer, host)
    }

    @Test(.enabled(if: KernelLab.enabled, "kernel check: needs CI=true and root (creates network namespaces)"))
    func kdpAgreesWithTheKernelOnTheDemosCompiledRules() throws {
        let cluster = try ClusterBuilder.load(paths: [])
        let lab = try KernelLab()
        defer { lab.close() }
        // The lab's node plays worker-1 (and then control-plane): its node IP on n1, the pod
        // network behind the server namespace, outside clients behind the client namespace.
        try lab.playDemoNodes()
        let checks = KernelCheckTests()
        typealias P = KernelCheckTests.Probe
        var sport: UInt16 = 46000
        func svc(_ name: String) -> Service { cluster.service(namespace: "default", name: name)! }

        var (tracer, host) = try load("worker-1", cluster, lab, nodeIP: "172.18.0.3")
        func probe(_ src: String, _ dst: String, _ dport: UInt16) throws {
            sport += 1
            try checks.check(lab, tracer, host, P(proto: .tcp, src: src, sport: sport, dst: dst, dport: dport), traced: true)
        }
        let web = svc("web").clusterIPs[0].description
        try probe("10.244.1.2", web, 80)                    // ClusterIP from a pod: DNAT, source kept
        try probe("10.244.1.2", web, 80)
        try probe("203.0.113.5", web, 80)                   // ClusterIP from outside the pod CIDR: masquerade
        try probe("203.0.113.5", "172.18.0.3", 30080)       // NodePort, eTP=Cluster: DNAT + masquerade
        try probe("203.0.113.5", "192.0.2.50", 80)          // externalIP
        try probe("203.0.113.5", "198.51.100.20", 80)       // LB without source ranges
        try probe("203.0.113.5", "198.51.100.10", 80)       // LB with source ranges, allowed; eTP=Local, local endpoint
        try probe("192.0.2.1", "198.51.100.10", 80)         // LB, source not allowed: DROP in KUBE-PROXY-FIREWALL
        try probe("203.0.113.5", svc("web-canary").clusterIPs[0].description, 80)  // no endpoints: REJECT
        let lbNodePort = svc("web-lb").ports[0].nodePort!
        try probe("203.0.113.5", "172.18.0.3", lbNodePort)  // eTP=Local NodePort with a local endpoint: source kept

        // control-plane has no web pod: Local policy drops external traffic there.
        (tracer, host) = try load("control-plane", cluster, lab, nodeIP: "172.18.0.2")
        try probe("203.0.113.5", "172.18.0.2", lbNodePort)  // eTP=Local NodePort without local endpoints: DROP
        try probe("203.0.113.5", "198.51.100.10", 80)       // and the VIP: not DNATed, dropped by KUBE-PROXY-FIREWALL
        try probe("10.244.1.2", "198.51.100.10", 80)        // a pod is short-circuited to all endpoints... if its source is allowed
    }
}
