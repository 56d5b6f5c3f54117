import Bench
import TestSupport
import Cluster
import Testing
import Wire
@testable import Dataplane

/// `kdp replay` walks a topology's extra rules as `kdp trace` does.
@Suite struct ExtraRulesReplayTests {
    @Test func aReplayedConnectionMeetsTheNodesExtraRules() throws {
        let text = TopologyLoader.embeddedDefault.replacingOccurrences(of: "  - {name: worker-1, ip: 172.18.0.3, zone: zone-a}\n", with: """
          - name: worker-1
            ip: 172.18.0.3
            zone: zone-a
            extraRules: |
              *filter
              -I FORWARD -p tcp --dport 8080 -j DROP
              COMMIT

        """)
        let c = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "demo-extra.yaml"))
        #expect(c.node(named: "worker-1")?.extraRules.count == 1)
        var f = PacketFactory()
        for port in UInt16(40001)...40002 { f.connection(ReplayTests.client, port, ReplayTests.clusterIP("web", c), 80) }
        let (report, _) = try ReplayTests.replay(f, cluster: c)
        #expect(report.summary.verdicts["delivered"] == 0)
        let drop = try #require(report.drops.first)
        #expect(drop.verdict == "dropped" && drop.why == "dropped by FORWARD")
        // The same cluster without the extra rule delivers them.
        let (plain, _) = try ReplayTests.replay(f)
        #expect(plain.drops.isEmpty && plain.summary.verdicts["delivered"] == plain.summary.packets)
    }
}
