import Testing
import Wire
@testable import IPVS

/// `kdp ipvs simulate` replays events at one instant unless told to `advance`, so one client's
/// connection is re-armed again and again with the same expiry. Compaction must drop those
/// duplicate timer records, or every later re-arm compacts again (quadratic: 20,000 connects of
/// one client took 14.6 s). These tests count work, not time.
@Suite struct TimerCompactionTests {
    /// SYN, SYN+ACK, ACK from one client:port, `n` times, with the clock standing still.
    func reconnect(_ t: inout IPVSTable, times n: Int) {
        var p = IPVSPacket(protocol: .tcp, source: ip("192.168.0.1"), sourcePort: 40000, destination: vip, destinationPort: 80, tcpFlags: [.syn])
        for _ in 0..<n {
            p.tcpFlags = [.syn]
            guard case .forwarded(let cp, _) = t.input(p) else { Issue.record("SYN not forwarded"); return }
            t.output(connection: cp, flags: [.syn, .ack])
            p.tcpFlags = [.ack]
            _ = t.input(p)
        }
    }

    @Test func reArmingOneConnectionAtOneInstantKeepsCompactionLinear() {
        var (t, _) = makeTable(.rr, weights: [1])
        reconnect(&t, times: 20_000)
        #expect(t.liveConnections == 1)
        // Each compaction reads at most 2 × live + 4097 records and leaves at most one per live
        // entry, so over the run it reads at most about twice what was pushed. Before the fix
        // every re-arm past the first 4096 read all records: about 60,000² / 2.
        #expect(t.timers.pushes >= 60_000)
        #expect(t.timers.compactionReads <= 3 * t.timers.pushes, "compaction read \(t.timers.compactionReads) records for \(t.timers.pushes) pushes")
        #expect(t.timers.count <= 2 * t.liveConnections + 4097)
    }

    @Test func duplicateTimerRecordsAreDroppedAndTheEntryStillExpiresOnTime() {
        var (t, svc) = makeTable(.rr, weights: [1])
        reconnect(&t, times: 5_000)
        t.compactTimers()
        #expect(t.timers.count == 1)
        #expect(t.entries.allSatisfy { !$0.timerKept })
        // ESTABLISHED: 900 s, counted from the last packet.
        t.advance(bySeconds: 899)
        #expect(t.liveConnections == 1)
        t.advance(bySeconds: 1)
        #expect(t.liveConnections == 0)
        #expect(server(t, svc, 1).activeConns == 0)
    }

    @Test func aConnectionEntryStillFitsIn96BytesWithTheCompactionMark() {
        #expect(MemoryLayout<ConnectionEntry>.stride == 96)
    }
}
