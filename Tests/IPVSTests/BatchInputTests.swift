import Bench
import Testing
import Wire
@testable import IPVS

@Suite struct BatchInputTests {
    @Test(arguments: IPVSBench.schedulers)
    func batchedInputGivesTheSameVerdictsAsOnePacketAtATime(_ scheduler: SchedulerName) {
        var a = IPVSBench.makeTable(services: 20, endpoints: 3, scheduler: scheduler, expectedConnections: 16, seed: 4)
        var b = a
        var packets = IPVSBench.synPackets(count: 2000, services: 20, seed: 4)
        packets += packets.prefix(300)  // existing connections too
        var batched: [InputVerdict] = []
        a.input(batch: packets[...], into: &batched)
        let single = packets.map { b.input($0) }
        #expect(batched == single)
        #expect(IPVSAdm.list(a) == IPVSAdm.list(b))
    }

    /// The lookahead window (hashes computed on entry, prefetch stages) at its edges: batches
    /// shorter than the window, a window of 1, and windows past the ring's size.
    @Test(arguments: [1, 2, 3, 6, 15, 16, 100])
    func batchesOfEverySizeAndLookaheadMatchOnePacketAtATime(_ lookahead: Int) {
        var a = IPVSBench.makeTable(services: 7, endpoints: 2, scheduler: .sh, expectedConnections: 16, seed: 5)
        var b = a
        var packets = IPVSBench.synPackets(count: 300, services: 7, seed: 5)
        packets += packets.prefix(40)
        var batched: [InputVerdict] = []
        var i = 0
        var size = 1
        while i < packets.count {
            let j = min(i + size, packets.count)
            a.input(batch: packets[i..<j], into: &batched, lookahead: lookahead)
            i = j
            size = size % 9 + 1
        }
        let single = packets.map { b.input($0) }
        #expect(batched == single)
        #expect(IPVSAdm.listConnections(a) == IPVSAdm.listConnections(b))
    }

    @Test func steadyStateReusesEntriesAndKeepsTimersBounded() {
        var (t, _) = makeTable(.rr, weights: [1, 1])
        for round in 0..<30 {
            for c in 0..<200 { _ = syn(&t, "192.168.\(round % 2).\(c % 250)", UInt16(1000 + c)) }
            t.advance(bySeconds: 61)  // SYN_RECV entries time out
        }
        #expect(t.liveConnections == 0)
        #expect(t.entries.count <= 400)
        #expect(t.timers.count == 0)
    }
}
