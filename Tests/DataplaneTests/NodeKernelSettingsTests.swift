import Testing
@testable import Cluster
@testable import Dataplane
@testable import Netfilter
import Wire

/// A node's own packets take the kernel's source address, and the sysctls and bridge settings
/// that change an answer are stated per node, taken from the topology, and honoured.
@Suite struct NodeKernelSettingsTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    /// The demo with `extra` added to worker-1's entry.
    static func demoWith(worker1 extra: String) throws -> Dataplane {
        let text = TopologyLoader.embeddedDefault.replacingOccurrences(
            of: "  - {name: worker-1, ip: 172.18.0.3, zone: zone-a}", with: "  - {name: worker-1, ip: 172.18.0.3, zone: zone-a, \(extra)}")
        #expect(text != TopologyLoader.embeddedDefault)
        return try plane(text)
    }

    // MARK: source address

    @Test func aNodeReachesItsOwnPodFromItsBridgeAddress() throws {
        var p = try demo()
        let t = try trace("node/worker-1", "pod/default/web-0:8080", plane: &p)
        #expect(t.packet.source == Self.ip("10.244.1.1"), "ip route get 10.244.1.3: dev cni0 src 10.244.1.1")
        #expect(t.paths[0].verdict == .delivered)
        #expect(t.paths[0].reply?.reachedClient == true)
    }

    @Test func aNodeReachesAPodOnAnotherNodeFromItsNodeAddress() throws {
        var p = try demo()
        let t = try trace("node/worker-1", "pod/default/web-1:8080", plane: &p)
        #expect(t.packet.source == Self.ip("172.18.0.3"))
    }

    @Test func aHostNetworkPodTakesItsNodesSourceAddress() throws {
        var p = try plane(TraceEdgeCaseTests.dualStack)
        let n2 = try #require(p.cluster.node(named: "n2"))
        let gateway = try #require(n2.podCIDR(.ipv4)?.address(at: 1))
        let t = try trace("pod/default/exporter", "pod/default/s:8080", plane: &p)
        #expect(t.packet.source == gateway)
        #expect(t.paths[0].verdict == .delivered && t.paths[0].reply?.reachedClient == true)
    }

    @Test func withVXLANANodeReachesARemotePodFromItsFlannelAddress() throws {
        let text = TopologyLoader.embeddedDefault.replacingOccurrences(of: "cni: host-gw", with: "cni: vxlan")
        var p = try plane(text)
        let w1 = try #require(p.cluster.node(named: "worker-1"))
        let t = try trace("node/worker-1", "pod/default/web-1:8080", plane: &p)
        #expect(t.packet.source == w1.podCIDR(.ipv4)!.network, "flannel.1 holds the node subnet's network address")
        #expect(t.paths[0].reply?.reachedClient == true)
    }

    // MARK: stated settings

    @Test func tracesSayWhichSettingsEachNodeUsedAndWhereTheyCameFrom() throws {
        var p = try Self.demoWith(worker1: "hairpinMode: false, sysctls: {net.ipv4.ip_forward: 1}")
        let t = try trace("pod/default/client", "pod/default/web-1:8080", plane: &p)
        let w1 = try #require(t.notes.first { $0.hasPrefix("node worker-1:") })
        #expect(w1.contains("net.ipv4.ip_forward=1 (topology)"))
        #expect(w1.contains("net.ipv4.conf.all.route_localnet=1 (set by kube-proxy"))
        #expect(w1.contains("net.bridge.bridge-nf-call-iptables=1 (assumed)"))
        #expect(w1.contains("cni0 hairpin mode off (topology)"))
        #expect(t.notes.contains { $0.hasPrefix("node worker-2:") && $0.contains("hairpin mode on (assumed)") })
    }

    @Test func withoutLocalhostNodePortsRouteLocalnetIsTheKernelDefault() throws {
        let text = TopologyLoader.embeddedDefault.replacingOccurrences(of: "    detectLocalMode: ClusterCIDR", with: "    detectLocalMode: ClusterCIDR\n    localhostNodePorts: false")
        let p = try plane(text)
        let n = try #require(p.node(named: "worker-1"))
        #expect(n.kernel.sysctls[.routeLocalnet] == NodeKernel.Setting(on: false, origin: .assumed, because: "the kernel's default"))
        #expect(!n.host.routeLocalnet)
    }

    @Test func hairpinModeOffDropsAPodReachingItselfThroughAService() throws {
        var p = try Self.demoWith(worker1: "hairpinMode: false")
        let t = try trace("pod/default/web-0", "service/default/web:80", plane: &p, allPaths: true)
        let own = try #require(t.paths.first { $0.dnat?.description == "10.244.1.3:8080" })
        #expect(own.verdict == .dropped)
        #expect(own.why?.contains("hairpin mode is off") == true)
        #expect(!own.steps.contains { if case .netfilter(let hook, _) = $0.subject { hook == .forward } else { false } },
                "the bridge drops it before FORWARD")
        #expect(t.paths.filter { $0.dnat?.description != "10.244.1.3:8080" }.allSatisfy { $0.verdict == .delivered })
        var on = try demo()
        let back = try trace("pod/default/web-0", "service/default/web:80", plane: &on, allPaths: true)
        #expect(back.paths.first { $0.dnat?.description == "10.244.1.3:8080" }?.verdict == .delivered, "hairpin mode on (the default)")
    }

    /// IPVS schedules in INPUT and sends from the node, out of the bridge device: the request
    /// needs no hairpin. The reply's de-SNAT in PREROUTING changes its destination to the pod,
    /// so br_netfilter bridges it back out of the port it came in on (bridged_dnat), and that
    /// needs hairpin mode (kernel source: br_nf_pre_routing_finish, br_forward's should_deliver).
    @Test func inIPVSModeHairpinModeOffDropsTheReplyOfAPodReachingItself() throws {
        let text = TopologyLoader.embeddedDefault
            .replacingOccurrences(of: "  - {name: worker-1, ip: 172.18.0.3, zone: zone-a}", with: "  - {name: worker-1, ip: 172.18.0.3, zone: zone-a, hairpinMode: false}")
            .replacingOccurrences(of: "    mode: iptables", with: "    mode: ipvs")
        var p = try plane(text)
        var own: DataplanePath?
        for i in 0..<3 where own == nil {
            let t = try trace("pod/default/web-0", "service/default/web:80", plane: &p, seed: UInt64(1 + i), sport: UInt16(40000 + i))
            own = t.paths.first { $0.dnat?.description == "10.244.1.3:8080" }
        }
        let path = try #require(own, "round robin reaches web-0 within three connections")
        #expect(path.verdict == .delivered)
        #expect(path.reply?.path.verdict == .dropped)
        #expect(path.reply?.path.why?.contains("hairpin mode is off") == true)
    }

    @Test func bridgeNFCallIPTablesOffBreaksTheReplyOfASameNodeServiceConnection() throws {
        var p = try Self.demoWith(worker1: "sysctls: {net.bridge.bridge-nf-call-iptables: 0}")
        let t = try trace("pod/default/client", "service/default/web:80", plane: &p, allPaths: true)
        let local = try #require(t.paths.first { $0.dnat?.description == "10.244.1.3:8080" })
        #expect(local.verdict == .delivered)
        #expect(local.reply?.reachedClient == false, "the reply is bridged without un-DNAT")
        #expect(local.reply?.path.finalPacket.source == Self.ip("10.244.1.3"))
        #expect(local.reply?.path.steps.contains { $0.kind == .netfilter } == false)
        #expect(t.paths.filter { $0.dnat?.description != "10.244.1.3:8080" }.allSatisfy { $0.reply?.reachedClient == true },
                "replies from other nodes are routed, and un-DNATed")
    }

    @Test func bridgeNFCallIPTablesOffLetsPodToPodFramesPassUnseen() throws {
        var p = try Self.demoWith(worker1: "sysctls: {net.bridge.bridge-nf-call-iptables: 0}")
        let t = try trace("pod/default/client", "pod/default/web-0:8080", plane: &p)
        #expect(t.paths[0].verdict == .delivered)
        #expect(!t.paths[0].steps.contains { $0.kind == .netfilter })
        #expect(t.paths[0].reply?.reachedClient == true)
    }

    @Test func bridgeNFCallIPTablesOffStillLetsAPodReachItselfWithHairpinOff() throws {
        var p = try Self.demoWith(worker1: "hairpinMode: false, sysctls: {net.bridge.bridge-nf-call-iptables: 0}")
        let t = try trace("pod/default/web-0", "service/default/web:80", plane: &p, allPaths: true)
        let own = try #require(t.paths.first { $0.dnat?.description == "10.244.1.3:8080" })
        #expect(own.verdict == .delivered, "routed by the node, the frame leaves by the bridge device, not the port")
        #expect(own.reply?.reachedClient == true)
    }

    @Test func ipForwardOffDropsRoutedPodTrafficButNotBridgedFrames() throws {
        var p = try Self.demoWith(worker1: "sysctls: {net.ipv4.ip_forward: 0}")
        let remote = try trace("pod/default/client", "pod/default/web-1:8080", plane: &p)
        #expect(remote.paths[0].verdict == .dropped)
        #expect(remote.paths[0].why?.contains("ip_forward") == true)
        #expect(!remote.paths[0].steps.contains { $0.action.hasPrefix("route: forward") || $0.hook == .forward },
                "the route lookup fails: no forward decision, no FORWARD")
        #expect(remote.paths[0].decidedBy == .node(.routing))
        let local = try trace("pod/default/client", "pod/default/web-0:8080", plane: &p)
        #expect(local.paths[0].verdict == .delivered, "a bridge forwards between its ports whatever ip_forward says")
        let viaService = try trace("pod/default/client", "service/default/web:80", plane: &p, allPaths: true)
        #expect(viaService.paths.allSatisfy { $0.verdict == .dropped }, "a ClusterIP is routed, even when its DNAT leads back onto the bridge (the kernel showed it)")
    }

    @Test func aTopologyNamingAnUnknownSysctlOrValueIsRefused() throws {
        #expect(throws: InputError.self) { try Self.demoWith(worker1: "sysctls: {net.ipv4.ip_frwd: 1}") }
        #expect(throws: InputError.self) { try Self.demoWith(worker1: "sysctls: {net.ipv4.ip_forward: 2}") }
        #expect(throws: InputError.self) { try Self.demoWith(worker1: "hairpinMode: sometimes") }
        let p = try Self.demoWith(worker1: "sysctls: {net/ipv4/ip_forward: \"0\"}")
        #expect(p.node(named: "worker-1")?.kernel.isOn(.ipForward) == false, "slashes, as /proc/sys spells it")
    }
}
