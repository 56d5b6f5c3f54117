import Foundation
import Testing
@testable import Cluster
@testable import KubeProxy
@testable import Netfilter
import TestSupport
import Wire

/// IPVS mode's netfilter half against the real kernel, packet by packet. This kernel has no IPVS
/// module, so the comparison runs up to where IPVS would take the packet: the lab's node plays
/// the demo's worker-1 with kube-ipvs0 holding the bound addresses (a down veth here: this
/// kernel has no dummy module either; addresses on a down link are local all the same), the
/// ipsets and the iptables rules IPVS-mode kube-proxy writes, and a listener standing in for
/// IPVS on the service ports. The kernel's rule path (`nft monitor trace`), verdict and
/// conntrack entry must be kdp's, traced without an IPVS hook on the same host: this pins the
/// `-m set` matches, the KUBE-IPVS-FILTER and source-range firewalls and the masquerade marks.
@Suite(.serialized) struct IPVSModeKernelPathTests {
    static let ip = KubeProxyExample.ip

    @Test(.enabled(if: KernelLab.enabled, "kernel check: needs CI=true and root (creates network namespaces)"))
    func ipvsModeRulesAgreeWithTheKernelUpToIPVS() throws {
        let cluster = try ClusterBuilder.load(paths: []).withKubeProxy { $0.mode = .ipvs }
        let compiled = IPVSModeCompiler.compile(cluster, config: ProxierConfig.forNode(cluster.node(named: "worker-1")!, in: cluster, family: .ipv4))
        // KUBE-IPVS-OUT-FILTER's `-m ipvs` needs the IPVS module; it only sees locally generated
        // packets, which these probes are not. The built-in chains' `:INPUT ACCEPT [0:0]` lines
        // go too: on a node, kubelet and kube-proxy create a built-in chain only by adding a rule
        // to it, and iptables-nft registers no base chain for one nobody declared.
        let builtins: Set<String> = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]
        let rules = "*raw\n-A PREROUTING -i n1 -j TRACE\nCOMMIT\n"
            + (try compiled.iptablesSaveText()).split(separator: "\n", omittingEmptySubsequences: false)
                .filter { line in
                    !line.contains("-m ipvs") && !(line.hasPrefix(":") && builtins.contains(String(line.dropFirst().split(separator: " ")[0])))
                }.joined(separator: "\n")
        let lab = try KernelLab()
        defer {
            _ = try? Shell.sh("ip netns exec \(lab.node) iptables -t filter -F; ip netns exec \(lab.node) iptables -t nat -F; ip netns exec \(lab.node) ipset destroy; true")
            lab.close()
        }
        let bound = compiled.boundAddresses.map { "ip addr add \($0)/32 dev kube-ipvs0" }.joined(separator: " && ")
        try lab.exec(lab.node, "ip addr add 172.18.0.3/32 dev n1 && ip link add kube-ipvs0 type veth peer name kipvs-peer && \(bound) && ip route add 10.244.0.0/16 via 10.99.2.2 dev n2 && ip route add 203.0.113.0/24 via 10.99.1.2 dev n1 && ip route add 192.0.2.0/24 via 10.99.1.2 dev n1 && ip route add 10.244.1.2/32 via 10.99.1.2 dev n1")
        try lab.exec(lab.client, "ip addr add 10.244.1.2/32 dev c0 && ip addr add 203.0.113.5/32 dev c0 && ip addr add 192.0.2.1/32 dev c0")
        _ = try Shell.sh("ip netns exec \(lab.node) ipset restore <<'KDP_SETS'\n\(compiled.ipsetSaveText())KDP_SETS\n")
        try lab.load(rules)
        // Where IPVS would schedule, a local listener answers instead.
        for port in [80, 30080] { try lab.addServer(port: port, in: lab.node) }

        var host = Netfilter.Host(name: "worker-1", interfaces: [
            Interface(name: "n1", addresses: [(Self.ip("10.99.1.1"), 24), (Self.ip("172.18.0.3"), 32)]),
            Interface(name: "n2", addresses: [(Self.ip("10.99.2.1"), 24)]),
            Interface(name: "kube-ipvs0", addresses: compiled.boundAddresses.map { ($0, 32) }),
        ], routes: [
            Route(destination: try Prefix(parsing: "10.244.0.0/16"), device: "n2", gateway: Self.ip("10.99.2.2")),
            Route(destination: try Prefix(parsing: "10.244.1.2/32"), device: "n1", gateway: Self.ip("10.99.1.2")),
            Route(destination: try Prefix(parsing: "203.0.113.0/24"), device: "n1", gateway: Self.ip("10.99.1.2")),
            Route(destination: try Prefix(parsing: "192.0.2.0/24"), device: "n1", gateway: Self.ip("10.99.1.2")),
        ])
        host.ipsets = compiled.ipsetStore()
        let tracer = Tracer(ruleset: try Ruleset.parse(text: rules, file: "worker-1 ipvs-mode"))
        let checks = KernelCheckTests()
        var sport: UInt16 = 47100
        func probe(_ src: String, _ dst: String, _ dport: UInt16) throws -> TracePath? {
            sport += 1
            return try checks.check(lab, tracer, host, KernelCheckTests.Probe(proto: .tcp, src: src, sport: sport, dst: dst, dport: dport), traced: true)
        }
        func svc(_ name: String) -> String { cluster.service(namespace: "default", name: name)!.clusterIPs[0].description }
        // A pod to a ClusterIP: accepted by KUBE-CLUSTER-IP in nat, returned by KUBE-IPVS-FILTER.
        #expect(try probe("10.244.1.2", svc("web"), 80)?.masquerade == false)
        // From outside the pod CIDR: marked for masquerade on the way.
        #expect(try probe("203.0.113.5", svc("web"), 80)?.masquerade == true)
        // A NodePort (KUBE-NODE-PORT-TCP): marked.
        #expect(try probe("203.0.113.5", "172.18.0.3", 30080)?.masquerade == true)
        // An allowed LB source and a refused one (KUBE-SOURCE-RANGES-FIREWALL drops it).
        _ = try probe("203.0.113.5", "198.51.100.10", 80)
        #expect(try probe("192.0.2.1", "198.51.100.10", 80)?.verdict == .dropped)
        // A bound address on a port no Service has: KUBE-IPVS-FILTER rejects it.
        #expect(try probe("203.0.113.5", svc("web"), 81)?.verdict == .rejected)
    }
}
