import Bench
import Captures
import Cluster
import Foundation
import Testing
import TestSupport
import Wire
@testable import Dataplane

/// `Replay` over captures built from real packet bytes (Wire's emitters, checksums included)
/// on the demo topology: client 10.244.1.2 on worker-1; web-0 10.244.1.3 on worker-1, web-1
/// 10.244.2.2 and web-2 10.244.2.3 on worker-2; kube-dns 10.96.0.10 → coredns 10.244.0.2.
@Suite struct ReplayTests {
    static let client = "10.244.1.2"

    static func cluster() throws -> Cluster { try ClusterBuilder.load(paths: []) }

    static func clusterIP(_ name: String, _ c: Cluster, namespace: String = "default") -> String {
        c.service(namespace: namespace, name: name)!.clusterIPs[0].description
    }

    /// Writes `factory`'s packets to a scratch pcap and replays them, returning the report and
    /// every outcome.
    static func replay(_ factory: PacketFactory, _ options: ReplayOptions = ReplayOptions(), cluster: Cluster? = nil)
        throws -> (ReplaySummary, [ReplayOutcome]) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-replay-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).pcap").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try factory.write(to: path)
        var r = try Replay(plane: Dataplane(cluster: cluster ?? Self.cluster()), options: options)
        let reader = try CaptureReader(path: path)
        var outcomes: [ReplayOutcome] = []
        while let (record, link) = try reader.nextDecoded() {
            switch ReplayPacket.decode(record, link: link, keepBytes: true) {
            case .success(let p): if let o = r.replay(p) { outcomes.append(o) }
            case .failure(let s): r.skipped(s)
            }
        }
        return (r.finish(), outcomes)
    }

    @Test func aClientsConnectionsToAClusterIPAreInjectedAndTheirRepliesChecked() throws {
        let c = try Self.cluster()
        var f = PacketFactory()
        for port in UInt16(40001)...40003 { f.connection(Self.client, port, Self.clusterIP("web", c), 80) }
        let (report, outcomes) = try Self.replay(f, cluster: c)
        #expect(report.summary.packets == 24)
        #expect(report.summary.injected == 15)
        #expect(report.summary.checked == 9)
        #expect(report.summary.flows == 3)
        #expect(report.summary.mismatches == 0)
        #expect(report.summary.verdicts["delivered"] == 24)
        #expect(report.nat.dnat == 3)
        let web = try #require(report.services.first { $0.service == "default/web" })
        #expect(web.flows == 3 && web.endpoints.values.reduce(0, +) == 3)
        // Every reply was delivered to the client from the ClusterIP it connected to.
        for o in outcomes where o.kind == .checked {
            #expect(o.delivered?.source.description == Self.clusterIP("web", c))
            #expect(o.delivered?.destination.description == Self.client)
        }
        // Packets of one connection all reach the endpoint its SYN was DNATed to.
        let firstEndpoint = outcomes[0].path?.finalPacket.destination
        for o in outcomes.prefix(8) where o.kind == .injected { #expect(o.path?.finalPacket.destination == firstEndpoint) }
    }

    @Test func aReplyFromThePodIPInsteadOfTheClusterIPIsAMismatchNotANewFlow() throws {
        let c = try Self.cluster()
        var f = PacketFactory()
        f.add(PacketFactory.tcp(Self.client, 40010, Self.clusterIP("web", c), 80, .syn))
        f.add(PacketFactory.tcp("10.244.2.2", 8080, Self.client, 40010, [.syn, .ack], seq: 100, ack: 2))
        let (report, _) = try Self.replay(f, cluster: c)
        #expect(report.summary.flows == 1)
        #expect(report.summary.mismatches == 1)
        let m = try #require(report.mismatches.first)
        #expect(m.kind == .unexpectedSource)
        #expect(m.packet == 2)
        #expect(m.expected == "tcp \(Self.clusterIP("web", c)):80 -> \(Self.client):40010")
    }

    @Test func aServiceWithoutEndpointsRejectsAndThePortUnreachableIsCheckedAsRelated() throws {
        let c = try Self.cluster()
        var f = PacketFactory()
        let syn = PacketFactory.tcp(Self.client, 40020, Self.clusterIP("web-canary", c), 80, .syn)
        f.add(syn)
        f.add(PacketFactory.unreachable("10.244.1.1", Self.client, code: 3, quoting: syn))
        let (report, outcomes) = try Self.replay(f, cluster: c)
        #expect(report.summary.verdicts["rejected"] == 1)
        #expect(report.summary.checked == 1)
        #expect(report.summary.mismatches == 0)
        #expect(outcomes[1].kind == .checked)
        let drop = try #require(report.drops.first)
        #expect(drop.verdict == "rejected" && drop.count == 1 && drop.examplePacket == 1)
        #expect(drop.why.contains("no endpoints"))
    }

    @Test func aPortUnreachableForAFlowKdpDeliveredIsAMismatch() throws {
        let c = try Self.cluster()
        var f = PacketFactory()
        let syn = PacketFactory.tcp(Self.client, 40021, Self.clusterIP("web", c), 80, .syn)
        f.add(syn)
        f.add(PacketFactory.unreachable("10.244.1.1", Self.client, code: 3, quoting: syn))
        let (report, _) = try Self.replay(f, cluster: c)
        #expect(report.summary.mismatches == 1)
        #expect(report.mismatches.first?.kind == .unexpectedError)
    }

    @Test func sessionAffinitySendsEveryConnectionOfAClientToOneEndpoint() throws {
        let c = try Self.cluster()
        var f = PacketFactory()
        for port in UInt16(41000)..<41012 { f.connection(Self.client, port, Self.clusterIP("web-sticky", c), 80) }
        let (report, _) = try Self.replay(f, cluster: c)
        let sticky = try #require(report.services.first { $0.service == "default/web-sticky" })
        #expect(sticky.flows == 12)
        #expect(sticky.endpoints.count == 1)
        #expect(report.summary.mismatches == 0)
    }

    @Test func flowsWithoutAffinitySpreadOverTheEndpointsAndTheSeedMakesItRepeatable() throws {
        let c = try Self.cluster()
        var f = PacketFactory()
        for port in UInt16(42000)..<42030 { f.add(PacketFactory.tcp(Self.client, port, Self.clusterIP("web", c), 80, .syn)) }
        let (a, _) = try Self.replay(f, cluster: c)
        let (b, _) = try Self.replay(f, cluster: c)
        let web = try #require(a.services.first { $0.service == "default/web" })
        #expect(web.endpoints.count == 3)
        #expect(a == b)
    }

    @Test func dnsOverUDPReachesCoreDNSAndTheAnswerComesBackFromTheServiceIP() throws {
        let c = try Self.cluster()
        var f = PacketFactory()
        f.add(PacketFactory.udp(Self.client, 53001, "10.96.0.10", 53))
        f.add(PacketFactory.udp("10.96.0.10", 53, Self.client, 53001, payload: 60))
        let (report, outcomes) = try Self.replay(f, cluster: c)
        #expect(report.summary.injected == 1 && report.summary.checked == 1 && report.summary.mismatches == 0)
        let dns = try #require(report.services.first { $0.service == "kube-system/kube-dns" && $0.proto == "udp" })
        #expect(dns.endpoints == ["10.244.0.2:53": 1])
        #expect(outcomes[0].delivered?.destinationEndpoint.description == "10.244.0.2:53")
    }

    @Test func aNodePortConnectionFromOutsideEntersAtTheNodeItIsSentTo() throws {
        var f = PacketFactory()
        f.connection("203.0.113.5", 50000, "172.18.0.3", 30080)
        let (report, outcomes) = try Self.replay(f)
        #expect(report.summary.mismatches == 0)
        #expect(report.summary.checked == 3)
        #expect(outcomes[0].path?.steps.first?.node == "worker-1")
        let svc = try #require(report.services.first { $0.service == "default/web-nodeport" })
        #expect(svc.flows == 1)
        // Delivered to a pod on the other node, the source is masqueraded (eTP Cluster).
        if outcomes[0].path?.deliveredTo != .pod(namespace: "default", name: "web-0") { #expect(report.nat.masquerade == 1) }
    }

    @Test func recordsThatAreNotIPOrAreCutShortAreCountedWithTheirReasonAndReplayGoesOn() throws {
        var f = PacketFactory()
        f.add(PacketFactory.tcp(Self.client, 40030, "10.244.2.2", 8080, .syn))
        // ARP: not IP.
        f.frames.append((f.clock + 1, [UInt8](repeating: 0xFF, count: 6) + [2, 0, 0, 0, 0, 1, 0x08, 0x06] + [UInt8](repeating: 0, count: 28)))
        // An IPv4 packet whose total length says more than was captured.
        var cut = PacketFactory.tcp(Self.client, 40031, "10.244.2.2", 8080, .syn)
        cut.removeLast(8)
        f.add(cut)
        f.add(PacketFactory.tcp(Self.client, 40032, "10.244.2.2", 8080, .syn))
        let (report, _) = try Self.replay(f)
        #expect(report.summary.packets == 4)
        #expect(report.summary.notIP == 1)
        #expect(report.summary.undecodable == 1)
        #expect(report.undecodable.first?.packet == 3)
        #expect(report.summary.injected == 2)
    }

    @Test func shardsMergedGiveTheSingleRunsSummary() throws {
        let c = try Self.cluster()
        var f = PacketFactory()
        for i in UInt16(0)..<6 {
            f.connection(Self.client, 43000 + i, Self.clusterIP("web", c), 80)
            f.connection("203.0.113.\(i + 1)", 44000 + i, "198.51.100.20", 80)   // the cloud picks a node per flow
            f.connection("203.0.113.9", 45000 + i, "172.18.0.\(2 + i % 3)", 30080)
        }
        var single = try Self.replay(f, cluster: c).0
        single.normalize()
        var merged: ReplaySummary?
        for k in 0..<3 {
            var o = ReplayOptions()
            o.shard = (k, 3)
            let part = try Self.replay(f, o, cluster: c).0
            merged = merged.map { $0.merging(part) } ?? part
        }
        #expect(merged == single)
        #expect(single.summary.flows == 18)
    }

    @Test func anIdleFlowPastItsTimeoutStartsAgainAsNew() throws {
        let c = try Self.cluster()
        var f = PacketFactory()
        f.add(PacketFactory.udp(Self.client, 53002, "10.96.0.10", 53))
        f.wait(seconds: 31)   // UDP unreplied: 30 s
        f.add(PacketFactory.udp(Self.client, 53002, "10.96.0.10", 53))
        let (report, _) = try Self.replay(f, cluster: c)
        #expect(report.summary.flows == 2)
    }

    @Test func inIPVSModeRepliesComeBackFromTheVirtualServiceAndConnectionsStickToTheirRealServer() throws {
        let c = try Self.cluster().withKubeProxy { $0.mode = .ipvs }
        var f = PacketFactory()
        for port in UInt16(46000)..<46006 { f.connection(Self.client, port, Self.clusterIP("web", c), 80) }
        let (report, outcomes) = try Self.replay(f, cluster: c)
        #expect(report.summary.mismatches == 0)
        #expect(report.summary.flows == 6)
        #expect(report.summary.checked == 18)
        // rr over three real servers: each gets two of the six connections.
        let web = try #require(report.services.first { $0.service == "default/web" })
        #expect(web.endpoints.count == 3 && web.endpoints.values.allSatisfy { $0 == 2 })
        for conn in 0..<6 {
            let packets = outcomes[(conn * 8)..<(conn * 8 + 8)].filter { $0.kind == .injected }
            #expect(Set(packets.compactMap { $0.path?.finalPacket.destination }).count == 1)
        }
    }

    /// What must not differ between the flow cache and the full walk, packet by packet.
    static func fingerprint(_ o: ReplayOutcome) -> String {
        "\(o.number) \(o.kind) \(o.verdict?.rawValue ?? "-") \(o.delivered?.description ?? "-") \(o.routedHops) \(o.mismatch?.kind.rawValue ?? "-")"
    }

    /// Replays `path` twice, with the flow cache and with every packet walking every hook.
    static func cachedAndWalked(_ path: String, _ cluster: Cluster) throws -> [(ReplaySummary, [String])] {
        try [true, false].map { cached in
            var o = ReplayOptions()
            o.recordSteps = false
            o.flowCache = cached
            var r = try Replay(plane: Dataplane(cluster: cluster), options: o)
            var prints: [String] = []
            try r.replayAll(CaptureReader(path: path), keepBytes: false) { outcome, _, _, _ in
                if let outcome { prints.append(Self.fingerprint(outcome)) }
            }
            return (r.finish(), prints)
        }
    }

    @Test func theFlowCacheGivesTheFullWalksAnswerOnEveryPacket() throws {
        let c = try Self.cluster()
        var f = PacketFactory()
        for i in UInt16(0)..<8 {
            f.connection(Self.client, 47000 + i, Self.clusterIP("web", c), 80)
            f.connection(Self.client, 47100 + i, Self.clusterIP("web-sticky", c), 80)
            f.connection("203.0.113.7", 47200 + i, "172.18.0.\(2 + i % 3)", 30080)
            f.add(PacketFactory.udp(Self.client, 47300 + i, "10.96.0.10", 53))
            f.add(PacketFactory.udp("10.96.0.10", 53, Self.client, 47300 + i, payload: 60))
            f.add(PacketFactory.udp(Self.client, 47300 + i, "10.96.0.10", 53))
            f.add(PacketFactory.udp("10.96.0.10", 53, Self.client, 47300 + i, payload: 60))
            if i == 4 { f.wait(seconds: 40) }   // UDP entries expire meanwhile
        }
        // Established packets again, long after: same answers, now from the cache.
        for i in UInt16(0)..<8 {
            f.add(PacketFactory.tcp(Self.client, 47000 + i, Self.clusterIP("web", c), 80, .ack, seq: 44, ack: 302))
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-cache-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let built = dir.appendingPathComponent("built.pcap").path
        try f.write(to: built)
        let generated = dir.appendingPathComponent("generated.pcap").path
        let big = try ClusterBuilder.build(TopologyLoader.parse(
            text: TopologyGenerator.text(TopologyGenerator.Spec(nodes: 4, podsPerNode: 6, services: 40, endpointsPerService: 3, seed: 3)),
            file: "generated"))
        try SyntheticCapture.write(to: generated, cluster: big, flows: 60, packets: 3_000)
        let shipped = ["http-web.pcap", "affinity.pcap", "nodeport.pcap", "demo.pcapng", "dns-udp.pcap", "refused.pcap"]
            .map { (Self.captures.appendingPathComponent($0).path, c) }
        for (path, cluster) in [(built, c), (generated, big)] + shipped {
            let runs = try Self.cachedAndWalked(path, cluster)
            #expect(runs[0].1 == runs[1].1, "\(path)")
            #expect(runs[0].0 == runs[1].0, "\(path)")
            #expect(runs[0].1.count >= 2)
        }
    }

    static let captures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("captures")

    static func replayFile(_ name: String, _ options: ReplayOptions) throws -> ReplaySummary {
        var r = try Replay(plane: Dataplane(cluster: Self.cluster()), options: options)
        try r.replayAll(CaptureReader(path: Self.captures.appendingPathComponent(name).path), keepBytes: false) { _, _, _, _ in }
        return r.finish()
    }

    @Test func aNodesAnyCaptureChecksWhatTheNodeSentAndTheRepliesBeforeUnDNAT() throws {
        var o = ReplayOptions()
        o.capturePoint = .node("worker-1", interface: nil)
        let r = try Self.replayFile("node-any.pcap", o)
        #expect(r.summary.packets == 20)
        #expect(r.summary.injected == 5)
        #expect(r.summary.checked == 15)
        #expect(r.summary.mismatches == 0, "\(r.mismatches)")
        #expect(r.summary.flows == 1)
    }

    @Test(arguments: ["dns-udp.pcap", "http-web.pcap", "affinity.pcap", "refused.pcap", "demo.pcapng"])
    func theShippedClientCapturesReplayWithoutMismatches(_ name: String) throws {
        var o = ReplayOptions()
        o.capturePoint = .pod(namespace: "default", name: "client")
        let r = try Self.replayFile(name, o)
        #expect(r.summary.mismatches == 0, "\(r.mismatches)")
        #expect(r.summary.undecodable == 0)
        #expect(r.summary.injected > 0 && r.summary.checked > 0)
    }

    @Test func aFullConntrackTableEvictsUnassuredFlowsThenRefusesNewOnes() throws {
        var o = ReplayOptions()
        o.conntrackMax = 4
        // Four assured connections (to web-0, on the client's own node) fill worker-1's table.
        var f = PacketFactory()
        for port in UInt16(48000)..<48004 { f.connection(Self.client, port, "10.244.1.3", 8080) }
        f.add(PacketFactory.tcp(Self.client, 48010, "10.244.1.3", 8080, .syn))
        let (full, outcomes) = try Self.replay(f, o)
        let w1 = try #require(full.nodes.first { $0.name == "worker-1" })
        #expect(w1.conntrackTableFull == 1)
        #expect(outcomes.last?.verdict == .dropped)
        #expect(full.drops.first?.why.contains("nf_conntrack_max") == true)
        // Unassured SYNs are evicted instead.
        var g = PacketFactory()
        for port in UInt16(48100)..<48110 { g.add(PacketFactory.tcp(Self.client, port, "10.244.1.3", 8080, .syn)) }
        let (evicting, _) = try Self.replay(g, o)
        let node = try #require(evicting.nodes.first { $0.name == "worker-1" })
        #expect(node.conntrackEarlyDrops == 6 && node.conntrackTableFull == 0 && node.conntrackEntries == 4)
        #expect(evicting.summary.verdicts["delivered"] == 10)
    }
}
