import Testing
@testable import Cluster
@testable import Dataplane
@testable import Netfilter
import Wire

/// The demo cluster with kube-proxy in IPVS mode (and a scheduler other than rr when asked).
func ipvsDemo(scheduler: String = "rr") throws -> Dataplane {
    Dataplane(cluster: try ClusterBuilder.load(paths: []).withKubeProxy { $0.mode = .ipvs; $0.ipvsScheduler = scheduler })
}

func ipvsPlane(_ yaml: String) throws -> Dataplane {
    Dataplane(cluster: try ClusterBuilder.build(TopologyLoader.parse(text: yaml, file: "t.yaml")).withKubeProxy { $0.mode = .ipvs })
}

/// The IPVS steps of a path, as the trace tells them.
func ipvsSteps(_ p: DataplanePath) -> [DataplaneStep] { p.steps.filter { $0.table == "ipvs" } }

/// The data-plane scenarios of the iptables-mode tests, through IPVS: the same questions asked of
/// a cluster whose kube-proxy runs in IPVS mode. Where upstream documents that the two modes
/// differ, the test asks both and shows the difference side by side.
@Suite struct IPVSTraceScenarioTests {
    @Test func podToClusterIPIsScheduledInInputAndForwardedWithTheSourceKeptAndTheReplyUnNATedByIPVS() throws {
        var p = try ipvsDemo()
        let t = try trace("pod/default/client", "service/default/web:80", plane: &p)
        let path = try #require(t.paths.first)
        #expect(t.paths.count == 1)
        #expect(path.verdict == .delivered)
        // rr from the list head: the list holds the last-added server first (list_add_rcu).
        #expect(path.deliveredTo == .pod(namespace: "default", name: "web-2"))
        #expect(path.dnat?.description == "10.244.2.3:8080")
        #expect(path.snat == nil && !path.masquerade)
        #expect(path.finalPacket.source == t.packet.source)
        #expect(nodesVisited(path) == ["worker-1", "worker-2"])
        // The VIP is local (kube-ipvs0): the packet goes to INPUT, where IPVS schedules it after
        // the filter table, then leaves through OUTPUT and POSTROUTING.
        let ipvs = ipvsSteps(path)
        #expect(ipvs.allSatisfy { $0.hook == .input && $0.node == "worker-1" })
        #expect(ipvs.contains { $0.action == "virtual service TCP 10.105.17.17:80 rr (3 real servers)" })
        #expect(ipvs.contains { $0.action.hasPrefix("scheduler: rr: the cursor is at the list head") })
        let routing = try #require(path.steps.firstIndex { $0.action == "route: local delivery" })
        let filterInput = try #require(path.steps.firstIndex { $0.hook == .input && $0.table == "filter" })
        let scheduled = try #require(path.steps.firstIndex { $0.table == "ipvs" })
        let output = try #require(path.steps.firstIndex { $0.hook == .output })
        #expect(routing < filterInput && filterInput < scheduled && scheduled < output)
        let reply = try #require(path.reply)
        #expect(reply.reachedClient)
        #expect(reply.path.finalPacket.source.description == "10.105.17.17")
        #expect(reply.path.steps.contains { $0.node == "worker-1" && $0.hook == .forward && $0.table == "ipvs"
            && $0.action.hasPrefix("reply on IPVS connection 10.244.1.2:") })
        // Conntrack does not un-NAT it (IPVS sets no IPS_DST_NAT); IPVS's out hook does.
        #expect(!reply.path.steps.contains { $0.action.contains("un-NATed") })
    }

    @Test func roundRobinTakesTheNextServerForEachNewConnection() throws {
        var p = try ipvsDemo()
        var endpoints: [String] = []
        for port in UInt16(40001)...40004 {
            endpoints.append(try trace("pod/default/client", "service/default/web:80", plane: &p, sport: port).paths[0].deliveredTo?.description ?? "")
        }
        #expect(endpoints == ["pod/default/web-2", "pod/default/web-1", "pod/default/web-0", "pod/default/web-2"])
        // The same connection again (same source port) follows its IPVS entry: no scheduling.
        let again = try trace("pod/default/client", "service/default/web:80", plane: &p, sport: 40004, reply: false)
        #expect(ipvsSteps(again.paths[0]).contains { $0.action.hasPrefix("existing IPVS connection from 10.244.1.2:40004 pins real server 10.244.2.3:8080") })
    }

    @Test func aPodReachingItselfThroughItsServiceIsMasqueradedByTheLoopBackSet() throws {
        var p = try ipvsDemo()
        // rr: web-2, web-1, then web-0, which is the client itself.
        var t = try trace("pod/default/web-0", "service/default/web:80", plane: &p, sport: 41001)
        for port in UInt16(41002)...41003 where t.paths[0].deliveredTo != .pod(namespace: "default", name: "web-0") {
            t = try trace("pod/default/web-0", "service/default/web:80", plane: &p, sport: port)
        }
        let path = t.paths[0]
        #expect(path.deliveredTo == .pod(namespace: "default", name: "web-0"))
        #expect(path.masquerade)
        #expect(path.snat?.description.hasPrefix("10.244.1.1:") == true)
        #expect(path.steps.contains { $0.text?.contains("KUBE-LOOP-BACK dst,dst,src") == true })
        #expect(path.reply?.reachedClient == true)
    }

    @Test func aNodeReachingAClusterIPSendsFromTheVIPAndIsMasqueraded() throws {
        var p = try ipvsDemo()
        let t = try trace("node/worker-1", "service/default/web:80", plane: &p)
        // The route to a kube-ipvs0 address is local, so its preferred source is the VIP itself.
        #expect(t.packet.source.description == "10.105.17.17")
        let path = try #require(t.paths.first)
        #expect(path.verdict == .delivered)
        #expect(path.masquerade)
        #expect(path.snat?.description.hasPrefix("172.18.0.3:") == true)
        // IPVS schedules locally generated packets in OUTPUT, after nat OUTPUT marked it.
        #expect(ipvsSteps(path).allSatisfy { $0.hook == .output })
        #expect(path.reply?.reachedClient == true)
        // iptables mode: the route to the ClusterIP is not local, the source is the node's.
        var ipt = try demo()
        #expect(try trace("node/worker-1", "service/default/web:80", plane: &ipt).packet.source.description == "172.18.0.3")
    }

    @Test func externalToNodePortIsOnePathBecauseTheSchedulerStateDecides() throws {
        var p = try ipvsDemo()
        let t = try trace("external/203.0.113.7", "node/worker-2:30080", plane: &p, allPaths: true)
        // iptables mode splits 1/3 each (statistic random); rr has no randomness to branch on.
        #expect(t.paths.count == 1)
        let path = t.paths[0]
        #expect(path.probability == 1)
        #expect(path.verdict == .delivered)
        #expect(path.masquerade)
        #expect(ipvsSteps(path).contains { $0.action.contains("virtual service TCP 172.18.0.4:30080 rr") })
        #expect(ipvsSteps(path).contains { $0.action.hasPrefix("scheduler: rr: the cursor is at the list head") })
        #expect(path.reply?.reachedClient == true)
    }

    @Test func localPolicyWithoutALocalEndpointFallsBackToClusterEndpointsInIPVSButDropsInIPTables() throws {
        var ipt = try demo(), ipvs = try ipvsDemo()
        let np = ipt.cluster.service(namespace: "default", name: "web-lb")!.ports[0].nodePort!
        let dropped = try trace("external/203.0.113.7", "node/control-plane:\(np)", plane: &ipt)
        #expect(dropped.paths[0].verdict == .dropped)
        let fallback = try trace("external/203.0.113.7", "node/control-plane:\(np)", plane: &ipvs)
        let path = fallback.paths[0]
        // IPVS mode gives the virtual server every endpoint when the node has no local one...
        #expect(path.verdict == .delivered)
        #expect(path.deliveredTo?.description.hasPrefix("pod/default/web-") == true)
        // ...without kube-proxy's masquerade (the nodePort is in KUBE-NODE-PORT-LOCAL-TCP); but
        // flanneld's `! -s NETWORK -d NETWORK -j MASQUERADE` takes it, so the reply comes back
        // through this node and reaches the client.
        #expect(path.masquerade && path.steps.contains { $0.chain == "FLANNEL-POSTRTG" && $0.text?.contains("MASQUERADE") == true })
        #expect(path.reply?.reachedClient == true)
        // Without flannel's --ip-masq the client's address is kept, and the endpoint's node
        // answers it directly: the reply never passes the node that un-NATs it.
        let text = TopologyLoader.embeddedDefault.replacingOccurrences(of: "  cni: host-gw", with: "  cni: host-gw\n  flannel: {ipMasq: false}")
        var noMasq = Dataplane(cluster: try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "demo")).withKubeProxy { $0.mode = .ipvs })
        let kept = try trace("external/203.0.113.7", "node/control-plane:\(np)", plane: &noMasq).paths[0]
        #expect(kept.verdict == .delivered)
        #expect(!kept.masquerade && kept.finalPacket.source.description == "203.0.113.7")
        #expect(kept.reply?.reachedClient == false)
        // With a local endpoint both modes deliver locally and keep the source.
        let near = try trace("external/203.0.113.7", "node/worker-1:\(np)", plane: &ipvs)
        #expect(near.paths[0].deliveredTo == .pod(namespace: "default", name: "web-0"))
        #expect(!near.paths[0].masquerade)
        #expect(near.paths[0].reply?.reachedClient == true)
    }

    @Test func loadBalancerSourceRangesAdmitTheRangeAndDropOthers() throws {
        var p = try ipvsDemo()
        let ok = try trace("external/203.0.113.7", "198.51.100.10:80", plane: &p, via: "worker-1")
        #expect(ok.paths[0].verdict == .delivered)
        #expect(ok.paths[0].reply?.reachedClient == true)
        let no = try trace("external/192.0.2.1", "198.51.100.10:80", plane: &p, via: "worker-1")
        #expect(no.paths[0].verdict == .dropped)
        #expect(no.paths[0].decidedBy.description.contains("KUBE-SOURCE-RANGES-FIREWALL"))
        #expect(!no.paths[0].steps.contains { $0.table == "ipvs" })  // dropped in filter INPUT, before IPVS
    }

    @Test func theCloudHandsAVIPToEachNodeAndIPVSServesEvenTheNodeWithoutALocalEndpoint() throws {
        var p = try ipvsDemo()
        let t = try trace("external/203.0.113.7", "198.51.100.10:80", plane: &p, allPaths: true)
        #expect(t.paths.count == 3)
        #expect(t.paths.allSatisfy { $0.verdict == .delivered && abs($0.probability - 1.0 / 3) < 1e-9 })
        var ipt = try demo()
        #expect(try trace("external/203.0.113.7", "198.51.100.10:80", plane: &ipt, allPaths: true).paths.contains { $0.verdict == .dropped })
    }

    @Test func aServiceWithoutEndpointsIsRejectedByIPVSWithPortUnreachable() throws {
        var p = try ipvsPlane("""
        kind: Topology
        nodes: [{name: n1}]
        pods: [{name: c, node: n1}]
        services: [{name: lonely, selector: {app: nothing}, ports: [{port: 80}]}]
        """)
        let t = try trace("pod/default/c", "service/default/lonely:80", plane: &p)
        #expect(t.paths[0].verdict == .rejected)
        #expect(t.paths[0].decidedBy == .node(.ipvs))
        #expect(t.paths[0].why?.contains("no usable real server") == true)
        #expect(ipvsSteps(t.paths[0]).contains { $0.action.contains("(0 real servers)") })
    }

    @Test func dnsNamesResolveAndHeadlessNamesGoStraightToAPod() throws {
        var p = try ipvsDemo()
        let byName = try trace("pod/default/client", "web.default.svc.cluster.local:80", plane: &p)
        #expect(byName.paths[0].dnat?.description == "10.244.2.3:8080")
        let headless = try trace("pod/default/client", "web-headless.default.svc.cluster.local:8080", plane: &p)
        #expect(headless.paths[0].deliveredTo == .pod(namespace: "default", name: "web-0"))
        #expect(!headless.paths[0].steps.contains { $0.table == "ipvs" })
    }

    @Test func vxlanCarriesTheScheduledPacketThroughTheTunnel() throws {
        let text = TopologyLoader.embeddedDefault.replacingOccurrences(of: "cni: host-gw", with: "cni: vxlan")
        var vx = try ipvsPlane(text)
        let t = try trace("pod/default/client", "service/default/web:80", plane: &vx)
        let tunnel = try #require(t.paths[0].steps.first { $0.kind == .tunnel })
        #expect(tunnel.packet.destination.description == "10.244.2.3")
        #expect(t.paths[0].reply?.reachedClient == true)
    }

    @Test func internalTrafficPolicyLocalWithoutALocalEndpointIsRejectedByIPVSAndDroppedByIPTables() throws {
        let yaml = """
        kind: Topology
        nodes: [{name: n1}, {name: n2}]
        pods: [{name: c1, node: n1}, {name: c2, node: n2}, {name: s1, node: n1, labels: {app: s}}]
        services: [{name: s, internalTrafficPolicy: Local, selector: {app: s}, ports: [{port: 80}]}]
        """
        var ipvs = try ipvsPlane(yaml), ipt = try plane(yaml)
        #expect(try trace("pod/default/c1", "service/default/s:80", plane: &ipvs).paths[0].deliveredTo == .pod(namespace: "default", name: "s1"))
        // A ClusterIP-only port with iTP=Local never uses cluster endpoints (CategorizeEndpoints),
        // so n2's virtual server has no real server: IPVS answers port unreachable.
        let far = try trace("pod/default/c2", "service/default/s:80", plane: &ipvs)
        #expect(far.paths[0].verdict == .rejected && far.paths[0].decidedBy == .node(.ipvs))
        #expect(try trace("pod/default/c2", "service/default/s:80", plane: &ipt).paths[0].verdict == .dropped)
    }

    @Test func sessionAffinityIsAPersistenceTemplateThatPinsLaterConnections() throws {
        var p = try ipvsDemo()
        let first = try trace("pod/default/client", "service/default/web-sticky:80", plane: &p, sport: 40001)
        #expect(ipvsSteps(first.paths[0]).contains { $0.action.contains("persistent 10800") })
        #expect(ipvsSteps(first.paths[0]).contains { $0.action.hasPrefix("persistence: no valid template") })
        for port in UInt16(40002)...40004 {
            let next = try trace("pod/default/client", "service/default/web-sticky:80", plane: &p, sport: port)
            #expect(next.paths[0].deliveredTo == first.paths[0].deliveredTo)
            #expect(ipvsSteps(next.paths[0]).contains { $0.action.hasPrefix("persistence: the template for 10.244.1.2 pins real server") })
        }
    }

    @Test func allPathsWithRoundRobinIsOnePathAndSaysWhichStateDecided() throws {
        var p = try ipvsDemo()
        let t = try trace("pod/default/client", "service/default/web:80", plane: &p, allPaths: true)
        #expect(t.paths.count == 1 && t.paths[0].probability == 1)
        #expect(ipvsSteps(t.paths[0]).contains { $0.action.contains("the cursor is at") })
    }

    @Test func sourceHashingSaysWhichBucketDecided() throws {
        var p = try ipvsDemo(scheduler: "sh")
        let t = try trace("pod/default/client", "service/default/web:80", plane: &p)
        let why = try #require(ipvsSteps(t.paths[0]).first { $0.action.hasPrefix("scheduler: sh:") }?.action)
        #expect(why.contains("hash of the source address → bucket "))
        // The same client always lands in the same bucket, whatever its source port.
        let again = try trace("pod/default/client", "service/default/web:80", plane: &p, sport: 50000)
        #expect(again.paths[0].deliveredTo == t.paths[0].deliveredTo)
    }

    @Test func leastConnectionComparesTheOverheads() throws {
        var p = try ipvsDemo(scheduler: "lc")
        _ = try trace("pod/default/client", "service/default/web:80", plane: &p, sport: 40001, reply: false)
        let second = try trace("pod/default/client", "service/default/web:80", plane: &p, sport: 40002, reply: false)
        let why = try #require(ipvsSteps(second.paths[0]).first { $0.action.hasPrefix("scheduler: lc:") }?.action)
        // The first connection's SYN took it to SYN_RECV, an active state (tcp_state_active_table):
        // overhead 256; the others have none, and the first of them in list order wins.
        #expect(why.contains("10.244.2.3:8080=256, 10.244.2.2:8080=0, 10.244.1.3:8080=0"))
        #expect(second.paths[0].dnat?.description == "10.244.2.2:8080")
    }

    @Test func noRouteAndLeavingTheClusterAreNamed() throws {
        var p = try ipvsDemo()
        let t = try trace("pod/default/client", "8.8.8.8:53", plane: &p, reply: false)
        #expect(t.paths[0].verdict == .leftCluster)
    }

    @Test func dualStackNodesScheduleEachFamilyInItsOwnVirtualServers() throws {
        var p = try ipvsPlane(TraceEdgeCaseTests.dualStack)
        let svc = p.cluster.service(namespace: "default", name: "s")!
        for family in [IPFamily.ipv4, .ipv6] {
            let vip = try #require(svc.clusterIP(family))
            let t = try trace("pod/default/c", family == .ipv6 ? "[\(vip)]:80" : "\(vip):80", plane: &p)
            let path = try #require(t.paths.first)
            #expect(path.deliveredTo == .pod(namespace: "default", name: "s"))
            #expect(ipvsSteps(path).contains { $0.action.contains("virtual service TCP \(vip.joined(port: 80)) rr") })
            #expect(path.reply?.reachedClient == true)
            #expect(path.reply?.path.finalPacket.source == vip)
        }
    }
}
