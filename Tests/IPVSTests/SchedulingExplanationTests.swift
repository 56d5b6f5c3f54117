import Testing
import Wire
@testable import IPVS

/// The trace's "why" must name the server the scheduler then picks: for the hashing schedulers
/// the bucket's owner, for rr the cursor, for lc the overheads. Checked against the scheduler
/// itself over many clients, so the explanation cannot drift from the choice.
@Suite struct SchedulingExplanationTests {
    func input(_ client: String, _ port: UInt16 = 40000) -> ScheduleInput {
        ScheduleInput(sourceFold: KernelHash.fold(ip(client)), sourcePort: port, destinationFold: KernelHash.fold(vip))
    }

    /// The endpoint after the last `→` of an explanation.
    func named(_ why: String) -> String { String(why.split(separator: "→").last!.trimmingCharacters(in: .whitespaces).split(separator: " ")[0]) }

    @Test(arguments: [SchedulerName.sh, .mh, .dh])
    func hashingExplanationsNameTheServerTheSchedulerPicks(_ scheduler: SchedulerName) {
        var (t, svc) = makeTable(scheduler, weights: [1, 2, 1, 3])
        for i in 1...200 {
            let client = "192.168.\(i / 200).\(i % 250 + 1)"
            let why = t.services[Int(svc)].explainScheduling(input(client, UInt16(30000 + i)), hash: t.hashVariant)
            #expect(why.contains("bucket") || why.contains("slot"))
            let picked = syn(&t, client, UInt16(30000 + i))
            #expect(named(why) == "10.244.1.\(picked):8080", "\(why)")
        }
    }

    @Test func roundRobinNamesTheCursorItMovesFrom() {
        var (t, svc) = makeTable(.rr, weights: [1, 1, 1])
        #expect(t.services[Int(svc)].explainScheduling(input("192.168.0.1"), hash: t.hashVariant).hasPrefix("rr: the cursor is at the list head"))
        let first = syn(&t, "192.168.0.1")
        #expect(t.services[Int(svc)].explainScheduling(input("192.168.0.2"), hash: t.hashVariant)
            .hasPrefix("rr: the cursor is at 10.244.1.\(first):8080"))
    }

    @Test func leastConnectionListsEveryOverheadInListOrder() {
        var (t, svc) = makeTable(.lc, weights: [1, 1, 0])
        syn(&t, "192.168.0.1")
        let why = t.services[Int(svc)].explainScheduling(input("192.168.0.2"), hash: t.hashVariant)
        // Newest first (list_add_rcu); the weight-0 server is skipped, the SYN made its
        // connection active (256).
        #expect(why == "lc: overhead = activeconns×256 + inactconns: 10.244.1.3:8080=weight 0, skipped, 10.244.1.2:8080=256, 10.244.1.1:8080=0; the first smallest in list order wins")
    }

    @Test func aReplyFindsItsConnectionByRealServerAndClient() {
        var (t, _) = makeTable(.rr, weights: [1, 1])
        let picked = syn(&t, "192.168.0.7", 41000)
        let server = ip("10.244.1.\(picked)")
        let found = t.replyConnection(protocol: .tcp, server: server, serverPort: 8080, client: ip("192.168.0.7"), clientPort: 41000)
        #expect(found != nil)
        #expect(t.replyConnection(protocol: .tcp, server: server, serverPort: 8080, client: ip("192.168.0.7"), clientPort: 41001) == nil)
        #expect(t.replyConnection(protocol: .udp, server: server, serverPort: 8080, client: ip("192.168.0.7"), clientPort: 41000) == nil)
    }
}
