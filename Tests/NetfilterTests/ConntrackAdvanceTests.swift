import Testing
@testable import Netfilter
import Wire

/// `ConntrackTable.advance` and `restore`, replay's flow cache's way of moving a known
/// connection on by one packet without a walk: it must leave the entry exactly as the full
/// tracer would, refuse what changes state, and undo without a trace.
@Suite struct ConntrackAdvanceTests {
    /// An assured ESTABLISHED connection through the router, at t = 3.
    static func established() throws -> ConntrackRouter {
        var r = try ConntrackRouter()
        r.send(ConntrackRouter.tcp(TCPFlag.syn), at: 0)
        r.send(ConntrackRouter.tcp(TCPFlag.syn | TCPFlag.ack, reply: true), at: 1)
        r.send(ConntrackRouter.tcp(TCPFlag.ack), at: 2)
        r.send(ConntrackRouter.tcp(TCPFlag.ack, reply: true), at: 3)
        return r
    }

    static func slot(_ r: ConntrackRouter) -> (Int, UInt32) {
        let (i, _) = r.host.conntrack.lookup(ConntrackRouter.tcp(0).tuple)!
        return (i, r.host.conntrack.generation(ofSlot: i))
    }

    @Test func anAdvancedEntryEqualsWhatTheFullTracerLeaves() throws {
        for (flags, reply) in [(TCPFlag.ack, false), (TCPFlag.psh | TCPFlag.ack, true), (TCPFlag.ack, true)] {
            var walked = try Self.established()
            var advanced = walked
            #expect(walked.host.conntrack[Self.slot(walked).0].assured)
            walked.send(ConntrackRouter.tcp(flags, reply: reply), at: 50)
            let (i, g) = Self.slot(advanced)
            let saved = advanced.host.conntrack.advance(slot: i, generation: g, isReply: reply, proto: .tcp, tcpFlags: flags, now: 50)
            #expect(saved != nil)
            #expect(advanced.host.conntrack[i] == walked.host.conntrack[Self.slot(walked).0])
            #expect(advanced.host.conntrack[i].expires == 50 + TCPConntrackState.established.timeout)
        }
    }

    @Test func aPacketThatChangesTheStateIsRefusedAndLeavesTheEntryAsItWas() throws {
        var r = try Self.established()
        let (i, g) = Self.slot(r)
        let before = r.host.conntrack[i]
        #expect(r.host.conntrack.advance(slot: i, generation: g, isReply: false, proto: .tcp, tcpFlags: TCPFlag.fin | TCPFlag.ack, now: 10) == nil)
        #expect(r.host.conntrack.advance(slot: i, generation: g, isReply: true, proto: .tcp, tcpFlags: TCPFlag.rst, now: 10) == nil)
        #expect(r.host.conntrack[i] == before)
        // An expired entry is refused too: the packet starts a new connection.
        #expect(r.host.conntrack.advance(slot: i, generation: g, isReply: false, proto: .tcp, tcpFlags: TCPFlag.ack, now: before.expires) == nil)
        #expect(r.host.conntrack[i] == before)
    }

    @Test func aSlotReusedByAnotherConnectionIsRefusedByItsGeneration() throws {
        var r = try Self.established()
        let (i, g) = Self.slot(r)
        r.host.conntrack.remove(at: i)
        // The next connection takes the freed slot.
        r.send(ConntrackRouter.tcp(TCPFlag.ack, sport: 40001), at: 4)
        let (j, _) = r.host.conntrack.lookup(ConntrackRouter.tcp(0, sport: 40001).tuple)!
        #expect(j == i)
        #expect(r.host.conntrack.generation(ofSlot: i) != g)
        #expect(r.host.conntrack.advance(slot: i, generation: g, isReply: false, proto: .tcp, tcpFlags: TCPFlag.ack, now: 5) == nil)
    }

    @Test func restorePutsTheEntryBackExactly() throws {
        for proto in [IPProtocol.tcp, .udp] {
            var r = try Self.established()
            if proto == .udp {
                r.send(ConntrackRouter.udp(), at: 4)
                r.send(ConntrackRouter.udp(reply: true), at: 5)
            }
            // (UDP within 2 s of its first packet: only the timeout moves, it does not become assured.)
            let tuple = proto == .tcp ? ConntrackRouter.tcp(0).tuple : ConntrackRouter.udp().tuple
            let (i, _) = r.host.conntrack.lookup(tuple)!
            let before = r.host.conntrack[i]
            let g = r.host.conntrack.generation(ofSlot: i)
            let advanced = r.host.conntrack.advance(slot: i, generation: g, isReply: true, proto: proto, tcpFlags: TCPFlag.ack,
                                                    now: proto == .tcp ? 9 : 5.5)
            let saved = try #require(advanced)
            #expect(r.host.conntrack[i] != before)
            r.host.conntrack.restore(slot: i, saved)
            #expect(r.host.conntrack[i] == before)
        }
    }
}
