import Bench
import TestSupport
import Cluster
import Testing
import Wire
@testable import Dataplane

/// Replay's flow cache and TCP flags: a path no rule read the flags on is reused for a packet
/// with other flags (an ACK after a PSH-ACK); a path where a rule read them is reused only for
/// the same flags.
@Suite struct ReplayFlowCacheFlagsTests {
    /// The demo, with worker-1 (the client's node) dropping forwarded segments that carry PSH.
    static func pushDroppingCluster() throws -> Cluster {
        let text = TopologyLoader.embeddedDefault.replacingOccurrences(of: "  - {name: worker-1, ip: 172.18.0.3, zone: zone-a}\n", with: """
          - name: worker-1
            ip: 172.18.0.3
            zone: zone-a
            extraRules: |
              *filter
              -I FORWARD -p tcp --dport 8080 --tcp-flags PSH PSH -j DROP
              COMMIT

        """)
        return try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "demo-push-drop.yaml"))
    }

    /// A handshake, then the client's segments alternating PSH-ACK and ACK.
    static func capture(_ c: Cluster) -> PacketFactory {
        let client = ReplayTests.client, web = ReplayTests.clusterIP("web", c)
        var f = PacketFactory()
        f.add(PacketFactory.tcp(client, 46000, web, 80, .syn))
        f.add(PacketFactory.tcp(web, 80, client, 46000, [.syn, .ack], seq: 100, ack: 2))
        f.add(PacketFactory.tcp(client, 46000, web, 80, .ack, seq: 2, ack: 101))
        for k in UInt32(0)..<4 {
            f.add(PacketFactory.tcp(client, 46000, web, 80, [.psh, .ack], seq: 2 + 20 * k, ack: 101, payload: 10))
            f.add(PacketFactory.tcp(client, 46000, web, 80, .ack, seq: 12 + 20 * k, ack: 101))
        }
        return f
    }

    static var options: ReplayOptions {
        var o = ReplayOptions()
        o.recordSteps = false
        return o
    }

    @Test func withoutARuleOnFlagsAnACKAfterAPSHACKIsAnsweredByTheCache() throws {
        let c = try ReplayTests.cluster()
        let (_, outcomes) = try ReplayTests.replay(Self.capture(c), Self.options)
        #expect(outcomes.count == 11)
        #expect(outcomes.allSatisfy { $0.verdict == .delivered })
        // Packets 6, 8, 10 (an ACK after a PSH-ACK) and 7, 9, 11 come from the cache: no path walked.
        #expect(outcomes[5...].allSatisfy { $0.path == nil })
    }

    @Test func aRuleOnFlagsKeysTheCacheOnThemAndItStillAgreesWithTheFullWalk() throws {
        let c = try Self.pushDroppingCluster()
        var walked = Self.options
        walked.flowCache = false
        let (cachedReport, cached) = try ReplayTests.replay(Self.capture(c), Self.options, cluster: c)
        let (walkedReport, full) = try ReplayTests.replay(Self.capture(c), walked, cluster: c)
        #expect(cached.map(ReplayTests.fingerprint) == full.map(ReplayTests.fingerprint))
        #expect(cachedReport == walkedReport)
        // The PSH-ACKs are dropped on worker-1, the ACKs between them delivered.
        #expect(cached[3...].map(\.verdict) == [.dropped, .delivered, .dropped, .delivered, .dropped, .delivered, .dropped, .delivered])
        // Each segment's flags differ from the last one's in its direction, and a rule read
        // them: every one walks (the cache keeps one result per direction).
        #expect(cached[4...].allSatisfy { $0.path != nil })
    }
}
