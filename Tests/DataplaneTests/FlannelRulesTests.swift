import Testing
@testable import Cluster
@testable import Dataplane
@testable import Netfilter
import Wire

/// The node's rules of `family` that mention flannel, as iptables-save prints them: `*table`,
/// then each chain's rules in order (`-A CHAIN words`), only rules whose origin is flannel's.
func flannelSave(_ plane: Dataplane, node: String, family: IPFamily = .ipv4) throws -> String {
    let rs = try #require(try plane.node(named: node)?.netfilterRuleset(for: family))
    var out = ""
    for name in [TableName.filter, .nat] {
        guard let table = rs.table(name) else { continue }
        let lines = table.chains.flatMap { c in
            c.rules.filter { $0.origin?.writer == .flannel }.map { "-A \(c.name) \($0.text)" }
        }
        if lines.isEmpty { continue }
        out += "*\(name.rawValue)\n" + lines.joined(separator: "\n") + "\nCOMMIT\n"
    }
    return out
}

@Suite struct FlannelRulesTests {
    /// Recorded from iptables-nft 1.8.9 (`iptables-save`, in a scratch network namespace) after
    /// applying the rules flannel v0.28.9's masqRules and forwardRules build for lease
    /// 10.244.1.0/24 in network 10.244.0.0/16, with `--random-fully` supported.
    static let worker1IPv4 = """
    *filter
    -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
    -A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
    -A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
    COMMIT
    *nat
    -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
    -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
    -A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
    -A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN
    -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN
    -A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
    -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
    COMMIT

    """

    @Test func aHostGWNodeHoldsFlannelsRulesAsFlannelWritesThem() throws {
        let p = try demo()  // host-gw; worker-1 holds 10.244.1.0/24
        #expect(try flannelSave(p, node: "worker-1") == Self.worker1IPv4)
    }

    @Test func aVXLANNodeHoldsTheSameRulesForItsLease() throws {
        let p = try plane("""
        kind: Topology
        cluster: {cni: vxlan}
        nodes: [{name: cp, role: control-plane}, {name: worker-1}]
        """)
        #expect(try flannelSave(p, node: "worker-1") == Self.worker1IPv4)
        #expect(try flannelSave(p, node: "cp") == Self.worker1IPv4.replacingOccurrences(of: "10.244.1.0/24", with: "10.244.0.0/24"))
    }

    @Test func flannelsJumpsComeAfterKubeProxysInTheBuiltInChains() throws {
        let rs = try #require(try demo().node(named: "worker-1")?.netfilterRuleset(for: .ipv4))
        let post = try #require(rs.table(.nat)?.chain("POSTROUTING")).rules.map(\.text)
        #expect(post.first?.hasSuffix("-j KUBE-POSTROUTING") == true)
        #expect(post.last?.hasSuffix("-j FLANNEL-POSTRTG") == true)
        let forward = try #require(rs.table(.filter)?.chain("FORWARD")).rules
        #expect(forward.last?.origin == RuleOrigin(.flannelForward))
        #expect(forward.dropLast().allSatisfy { $0.origin?.writer == .kubeProxy })
    }

    @Test func ipv6RulesUseIPv6MulticastAndTheIPv6Lease() throws {
        let p = try plane("""
        kind: Topology
        cluster:
          clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
          serviceCIDR: 10.96.0.0/12,fd00:10:96::/112
          nodeNetwork: [172.18.0.0/16, "fc00:f853:ccd:e793::/64"]
          flannel: {ipMasqRandomFullyDisable: true}
        nodes: [{name: a}, {name: b}]
        """)
        let save = try flannelSave(p, node: "b", family: .ipv6)
        #expect(save.contains("-A FLANNEL-POSTRTG -s fd00:10:244:1::/64 -d fd00:10:244::/56 -m comment --comment \"flanneld masq\" -j RETURN\n"))
        #expect(save.contains("-A FLANNEL-POSTRTG -s fd00:10:244::/56 ! -d ff00::/8 -m comment --comment \"flanneld masq\" -j MASQUERADE\n"))
        #expect(!save.contains("--random-fully"))
    }

    @Test func ipMasqOffLeavesOnlyTheForwardRulesAndForwardRulesOffLeavesNone() throws {
        let noMasq = try plane("kind: Topology\ncluster: {flannel: {ipMasq: false}}\nnodes: [{name: a}]")
        let save = try flannelSave(noMasq, node: "a")
        #expect(save.contains("FLANNEL-FWD") && !save.contains("FLANNEL-POSTRTG"))
        let none = try plane("kind: Topology\ncluster: {flannel: {ipMasq: false, iptablesForwardRules: false}}\nnodes: [{name: a}]")
        #expect(try flannelSave(none, node: "a").isEmpty)
    }

    @Test func flannelsNetworkComesFromItsOwnSettingWhenGiven() throws {
        let p = try plane("kind: Topology\ncluster: {flannel: {network: 10.244.0.0/17}}\nnodes: [{name: a}]")
        let save = try flannelSave(p, node: "a")
        #expect(save.contains("-A FLANNEL-POSTRTG -s 10.244.0.0/24 -d 10.244.0.0/17 "))
        #expect(save.contains("-A FLANNEL-FWD -s 10.244.0.0/17 "))
    }

    @Test func aFamilyFlannelsNetworkLeavesOutGetsNoFlannelRules() throws {
        let p = try plane("""
        kind: Topology
        cluster:
          clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
          serviceCIDR: 10.96.0.0/12,fd00:10:96::/112
          nodeNetwork: [172.18.0.0/16, "fc00:f853:ccd:e793::/64"]
          flannel: {network: 10.244.0.0/16}
        nodes: [{name: a}]
        """)
        #expect(try flannelSave(p, node: "a", family: .ipv6).isEmpty)
        #expect(try !flannelSave(p, node: "a", family: .ipv4).isEmpty)
    }

    @Test func aPodReachingAnOutsideAddressIsMasqueradedByFlannel() throws {
        var p = try demo()
        let t = try trace("pod/default/client", "8.8.8.8:53", plane: &p)
        let path = try #require(t.paths.first)
        #expect(path.verdict == .leftCluster)
        #expect(path.masquerade)
        #expect(path.finalPacket.source.description == "172.18.0.3")  // worker-1's eth0
        let masq = try #require(path.steps.first { $0.chain == "FLANNEL-POSTRTG" && $0.text?.hasSuffix("-j MASQUERADE --random-fully") == true })
        #expect(masq.text == "-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment \"flanneld masq\" -j MASQUERADE --random-fully")
        #expect(masq.node == "worker-1")
    }

    @Test func aPodReachingAPodOnAnotherNodeIsNotMasqueraded() throws {
        for cni in ["host-gw", "vxlan"] {
            var p = try plane("""
            kind: Topology
            cluster: {cni: \(cni)}
            nodes: [{name: a}, {name: b}]
            pods: [{name: x, node: a}, {name: y, node: b}]
            """)
            let t = try trace("pod/default/x", "pod/default/y:8080", plane: &p)
            let path = try #require(t.paths.first)
            #expect(path.verdict == .delivered)
            #expect(!path.masquerade && path.snat == nil)
            #expect(path.finalPacket.source == t.packet.source)
            // FLANNEL-POSTRTG's `-s <lease> -d <network> -j RETURN` lets it through on a.
            #expect(path.steps.contains { $0.node == "a" && $0.chain == "FLANNEL-POSTRTG" && $0.rule == 2 && $0.action == "return" })
            #expect(path.reply?.reachedClient == true)
        }
    }

    @Test func aNodeWithoutALeaseGetsNoFlannelRules() {
        var tables: [Ruleset.TableRules] = []
        FlannelRules.add(to: &tables, node: Node(name: "x", internalIPs: [IPAddress.v4(IPv4Address(172, 18, 0, 9))]),
                         settings: ClusterSettings(), family: .ipv4)
        #expect(tables.isEmpty)
    }
}
