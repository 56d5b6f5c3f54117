import Testing
@testable import Netfilter
import Wire

/// A router between a client subnet (eth0, 10.0.1.0/24) and a server subnet (eth1,
/// 10.0.2.0/24) whose conntrack table carries across packets, each sent at a time on the
/// host's clock.
struct ConntrackRouter {
    let tracer: Tracer
    var host: Host

    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    init(_ rules: String = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate INVALID -j DROP\n-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -i eth0 -j ACCEPT\nCOMMIT\n") throws {
        tracer = Tracer(ruleset: try Ruleset.parse(text: rules, file: "test"))
        host = Host(name: "router", interfaces: [
            Interface(name: "eth0", addresses: [(Self.ip("10.0.1.1"), 24)]),
            Interface(name: "eth1", addresses: [(Self.ip("10.0.2.1"), 24)]),
        ])
    }

    /// Sends `packet` at `time` and keeps the host it leaves behind.
    @discardableResult
    mutating func send(_ packet: Packet, at time: Double) -> TracePath {
        host.now = time
        let path = tracer.trace(packet: packet, host: host).paths[0]
        host = path.host
        return path
    }

    static func tcp(_ flags: UInt8, reply: Bool = false, sport: UInt16 = 40000) -> Packet {
        reply ? Packet(source: ip("10.0.2.2"), destination: ip("10.0.1.2"), proto: .tcp, sourcePort: 80, destinationPort: sport,
                       tcpFlags: flags, inInterface: "eth1")
              : Packet(source: ip("10.0.1.2"), destination: ip("10.0.2.2"), proto: .tcp, sourcePort: sport, destinationPort: 80,
                       tcpFlags: flags, inInterface: "eth0")
    }

    static func udp(reply: Bool = false, sport: UInt16 = 40000) -> Packet {
        reply ? Packet(source: ip("10.0.2.2"), destination: ip("10.0.1.2"), proto: .udp, sourcePort: 53, destinationPort: sport, inInterface: "eth1")
              : Packet(source: ip("10.0.1.2"), destination: ip("10.0.2.2"), proto: .udp, sourcePort: sport, destinationPort: 53, inInterface: "eth0")
    }

    func entry(_ p: Packet) -> ConntrackEntry? {
        host.conntrack.lookup(p.tuple).map { host.conntrack[$0.index] }
    }
}

@Suite struct ConntrackStateMachineTests {
    typealias R = ConntrackRouter
    static let syn = TCPFlag.syn, synAck = TCPFlag.syn | TCPFlag.ack, ack = TCPFlag.ack
    static let finAck = TCPFlag.fin | TCPFlag.ack, pshAck = TCPFlag.psh | TCPFlag.ack, rst = TCPFlag.rst

    @Test func aFullConversationWalksTheKernelStatesWithTheirTimeouts() throws {
        var r = try R()
        // (time, packet, state after, seconds left after)
        let steps: [(Double, Packet, TCPConntrackState, Double)] = [
            (0.0, R.tcp(Self.syn), .synSent, 120),
            (0.1, R.tcp(Self.synAck, reply: true), .synRecv, 60),
            (0.2, R.tcp(Self.ack), .established, 432_000),
            (1.0, R.tcp(Self.pshAck), .established, 432_000),
            (1.1, R.tcp(Self.ack, reply: true), .established, 432_000),
            (2.0, R.tcp(Self.finAck), .finWait, 120),
            (2.1, R.tcp(Self.ack, reply: true), .closeWait, 60),
            (3.0, R.tcp(Self.finAck, reply: true), .lastAck, 30),
            (3.1, R.tcp(Self.ack), .timeWait, 120),
        ]
        for (t, p, state, left) in steps {
            let path = r.send(p, at: t)
            #expect(path.verdict == .accepted, "packet at \(t)")
            let e = try #require(r.entry(p))
            #expect(e.tcpState == state, "after the packet at \(t)")
            #expect(abs(e.expires - (t + left)) < 1e-9, "timeout after the packet at \(t)")
            #expect(e.assured == (t >= 0.2), "ASSURED once ESTABLISHED after SYN_RECV, at \(t)")
        }
        let e = try #require(r.entry(R.tcp(Self.ack)))
        #expect(e.conntrackListing(now: 4.1) == "tcp      6 119 TIME_WAIT src=10.0.1.2 dst=10.0.2.2 sport=40000 dport=80 src=10.0.2.2 dst=10.0.1.2 sport=80 dport=40000 [ASSURED] mark=0 use=1")
        // A new SYN on the TIME_WAIT connection reopens it: the old entry goes, a new one starts.
        let again = r.send(R.tcp(Self.syn), at: 10)
        #expect(again.verdict == .accepted)
        #expect(again.steps.contains { $0.action.hasPrefix("SYN reopens closed connection") })
        let fresh = try #require(r.entry(R.tcp(Self.syn)))
        #expect(fresh.tcpState == .synSent && !fresh.assured && !fresh.seenReply)
        #expect(r.host.conntrack.liveCount == 1)
    }

    @Test func aSynAckInTheOriginalDirectionIsInvalidAndLeavesTheEntry() throws {
        var r = try R()
        r.send(R.tcp(Self.syn), at: 0)
        let bad = r.send(R.tcp(Self.synAck), at: 0.1)
        #expect(bad.verdict == .dropped, "INVALID, dropped by --ctstate INVALID")
        #expect(bad.steps.contains { $0.action.hasPrefix("invalid: invalid state") })
        let e = try #require(r.entry(R.tcp(Self.syn)))
        #expect(e.tcpState == .synSent && e.expires == 120)
        // The table itself: sIV for SYN-ACK in ORIGINAL from SYN_SENT, sIG for a SYN in ESTABLISHED.
        #expect(TCPConntrackTransition(reply: false, index: .synAck, state: .synSent) == .invalid)
        #expect(TCPConntrackTransition(reply: false, index: .syn, state: .established) == .ignored)
        #expect(TCPConntrackTransition(reply: true, index: .syn, state: .timeWait) == .move(.synSent))
        // No connection: a SYN-ACK cannot start one.
        #expect(r.send(R.tcp(Self.synAck, sport: 40001), at: 0.2).verdict == .dropped)
    }

    @Test func anIgnoredSynPassesWithoutChangingTheState() throws {
        var r = try R()
        for (t, p) in [(0.0, R.tcp(Self.syn)), (0.1, R.tcp(Self.synAck, reply: true)), (0.2, R.tcp(Self.ack))] { r.send(p, at: t) }
        let before = try #require(r.entry(R.tcp(Self.ack)))
        let path = r.send(R.tcp(Self.syn), at: 5)
        #expect(path.verdict == .accepted)
        let after = try #require(r.entry(R.tcp(Self.ack)))
        #expect(after.tcpState == .established && after.expires == before.expires, "sIG: no state change, no refresh")
    }

    @Test func anRSTAnsweringAnUnrepliedSynDeletesTheEntry() throws {
        var r = try R()
        r.send(R.tcp(Self.syn), at: 0)
        let reset = r.send(R.tcp(Self.rst | Self.ack, reply: true), at: 0.1)
        #expect(reset.verdict == .accepted)
        #expect(r.entry(R.tcp(Self.syn)) == nil)
        // An RST on an established connection moves it to CLOSE for 10 s.
        for (t, p) in [(1.0, R.tcp(Self.syn)), (1.1, R.tcp(Self.synAck, reply: true)), (1.2, R.tcp(Self.ack))] { r.send(p, at: t) }
        r.send(R.tcp(Self.rst), at: 2)
        let e = try #require(r.entry(R.tcp(Self.syn)))
        #expect(e.tcpState == .close && e.expires == 12)
    }

    @Test func aFlowIdleLongerThanItsTimeoutStartsAgainAsNew() throws {
        var r = try R()
        r.send(R.tcp(Self.syn), at: 0)
        #expect(r.host.conntrack.lookup(R.tcp(Self.syn).tuple, now: 119.9) != nil)
        #expect(r.host.conntrack.lookup(R.tcp(Self.syn).tuple, now: 120) == nil, "nf_ct_is_expired: timeout - now <= 0")
        for (t, p) in [(130.0, R.tcp(Self.syn)), (130.1, R.tcp(Self.synAck, reply: true)), (130.2, R.tcp(Self.ack))] { r.send(p, at: t) }
        #expect(r.host.conntrack.liveCount == 1)
        // Five days and a second later the ACK of the old conversation is a new, picked-up flow.
        let late = r.send(R.tcp(Self.pshAck), at: 130.2 + 432_001)
        #expect(late.steps.contains { $0.action == "new connection" })
        let e = try #require(r.entry(R.tcp(Self.ack)))
        #expect(e.tcpState == .established && !e.assured && !e.seenReply)
        #expect(e.expires == 130.2 + 432_001 + 300, "ESTABLISHED without a reply is capped at 5 min")
        // expire(now:) reaps every expired entry.
        r.send(R.udp(), at: 432_200)
        #expect(r.host.conntrack.liveCount == 2)
        #expect(r.host.conntrack.expire(now: 432_230) == 1, "the UDP flow (30 s), not the TCP one (until 432431.2)")
        #expect(r.host.conntrack.liveCount == 1)
        #expect(r.host.conntrack.expire(now: 432_431.2) == 1)
        #expect(r.host.conntrack.liveCount == 0)
    }

    @Test func udpIsThirtySecondsUntilAStreamOfMoreThanTwoSeconds() throws {
        var r = try R()
        r.send(R.udp(), at: 0)
        var e = try #require(r.entry(R.udp()))
        #expect(e.expires == 30 && !e.assured)
        r.send(R.udp(reply: true), at: 0.5)
        e = try #require(r.entry(R.udp()))
        #expect(e.expires == 30.5 && e.seenReply && !e.assured, "the reply itself is tracked before SEEN_REPLY is set")
        r.send(R.udp(), at: 1.5)
        e = try #require(r.entry(R.udp()))
        #expect(e.expires == 31.5 && !e.assured, "within 2 s of the first packet: still 30 s")
        r.send(R.udp(), at: 2.5)
        e = try #require(r.entry(R.udp()))
        #expect(e.expires == 122.5 && e.assured, "after 2 s: a stream, 120 s and ASSURED")
        #expect(e.conntrackListing(now: 3) == "udp      17 119 src=10.0.1.2 dst=10.0.2.2 sport=40000 dport=53 src=10.0.2.2 dst=10.0.1.2 sport=53 dport=40000 [ASSURED] mark=0 use=1")
        // A query nobody answers is gone after 30 s.
        r.send(R.udp(sport: 40001), at: 10)
        #expect(r.host.conntrack.lookup(R.udp(sport: 40001).tuple, now: 39.9) != nil)
        #expect(r.host.conntrack.lookup(R.udp(sport: 40001).tuple, now: 40) == nil)
        let unreplied = try #require(r.entry(R.udp(sport: 40001)))
        #expect(unreplied.conntrackListing(now: 11).contains("sport=40001 dport=53 [UNREPLIED] src=10.0.2.2"))
    }

    @Test func aFullTableEvictsTheOldestUnassuredEntryAndOtherwiseDrops() throws {
        var r = try R()
        r.host.conntrack.maxEntries = 2
        r.send(R.udp(sport: 1), at: 0)  // unassured
        for (t, p) in [(0.0, R.udp(sport: 2)), (0.1, R.udp(reply: true, sport: 2)), (3.0, R.udp(sport: 2))] { r.send(p, at: t) }  // assured
        #expect(r.entry(R.udp(sport: 2))?.assured == true)
        let third = r.send(R.udp(sport: 3), at: 4)
        #expect(third.verdict == .accepted)
        #expect(r.host.conntrack.earlyDrops == 1 && r.entry(R.udp(sport: 1)) == nil && r.entry(R.udp(sport: 3)) != nil)
        // Make the third assured too: nothing can be evicted, the next new flow is dropped.
        r.send(R.udp(reply: true, sport: 3), at: 4.1)
        r.send(R.udp(sport: 3), at: 7)
        let fourth = r.send(R.udp(sport: 4), at: 8)
        #expect(fourth.verdict == .dropped)
        #expect(fourth.end.reason?.contains("nf_conntrack_max=2") == true)
        #expect(r.host.conntrack.tableFullDrops == 1 && r.host.conntrack.liveCount == 2)
        // Expired entries make room before anything is evicted.
        #expect(r.send(R.udp(sport: 5), at: 200).verdict == .accepted)
        #expect(r.host.conntrack.earlyDrops == 1)
    }
}

@Suite struct ConntrackRelatedTests {
    typealias R = ConntrackRouter

    static let nat = """
    *nat
    -A PREROUTING -d 10.96.0.10/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.0.2.2:5353
    -A POSTROUTING -o eth1 -j MASQUERADE
    COMMIT
    *filter
    :FORWARD DROP [0:0]
    -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    -A FORWARD -i eth0 -m conntrack --ctstate NEW -j ACCEPT
    COMMIT

    """

    @Test func aPortUnreachableQuotingATrackedUDPFlowIsRelatedAndUnNATed() throws {
        var r = try R(Self.nat)
        let query = Packet(source: R.ip("10.0.1.2"), destination: R.ip("10.96.0.10"), proto: .udp, sourcePort: 40000, destinationPort: 53, inInterface: "eth0")
        let out = r.send(query, at: 0)
        #expect(out.finalPacket.source == R.ip("10.0.2.1") && out.finalPacket.destination == R.ip("10.0.2.2"))
        // The server answers with port unreachable, quoting the query as it received it.
        let quoted = ConntrackTuple(FlowKey(source: R.ip("10.0.2.1"), sourcePort: 40000, destination: R.ip("10.0.2.2"), destinationPort: 5353, proto: .udp))
        let error = Packet(source: R.ip("10.0.2.2"), destination: R.ip("10.0.2.1"), proto: .icmp, icmpType: 3, icmpCode: 3,
                           inInterface: "eth1", quoted: quoted)
        let back = r.send(error, at: 0.1)
        #expect(back.verdict == .accepted, "RELATED is accepted by --ctstate RELATED,ESTABLISHED")
        #expect(back.steps.contains { $0.action.hasPrefix("related reply of src=10.0.1.2 dst=10.96.0.10") })
        #expect(back.finalPacket.source == R.ip("10.96.0.10") && back.finalPacket.destination == R.ip("10.0.1.2"))
        #expect(back.finalPacket.quoted == ConntrackTuple(source: R.ip("10.0.1.2"), sourcePort: 40000, destination: R.ip("10.96.0.10"),
                                                          destinationPort: 53, proto: .udp), "the quote is what the client sent")
        // The error changes neither the state nor the timeout.
        let e = try #require(r.entry(query))
        #expect(!e.seenReply && e.expires == 30)
        // An error quoting a flow nobody tracks is INVALID.
        var stray = error
        stray.quoted?.sourcePort = 40001
        let lost = r.send(stray, at: 0.2)
        #expect(lost.steps.contains { $0.action.hasPrefix("invalid: ICMP error quotes") })
        #expect(lost.finalPacket.destination == R.ip("10.0.2.1") && lost.deliveredTo == .local, "not un-NATed: it stays on the router")
    }

    @Test func anICMPv6PacketTooBigForATrackedTCPFlowIsRelated() throws {
        var r = try R("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate RELATED -j ACCEPT\n-A FORWARD -i eth0 -j ACCEPT\nCOMMIT\n")
        r.host = Host(name: "router", interfaces: [
            Interface(name: "eth0", addresses: [(R.ip("fd00:1::1"), 64)]),
            Interface(name: "eth1", addresses: [(R.ip("fd00:2::1"), 64)]),
        ])
        let syn = Packet(source: R.ip("fd00:1::2"), destination: R.ip("fd00:2::2"), proto: .tcp, sourcePort: 40000, destinationPort: 443,
                         tcpFlags: TCPFlag.syn, inInterface: "eth0")
        #expect(r.send(syn, at: 0).verdict == .accepted)
        let tooBig = Packet(source: R.ip("fd00:2::2"), destination: R.ip("fd00:1::2"), proto: .icmpv6, icmpType: 2, icmpCode: 0,
                            inInterface: "eth1", quoted: syn.tuple)
        let path = r.send(tooBig, at: 0.1)
        #expect(path.verdict == .accepted)
        #expect(path.steps.contains { $0.action.hasPrefix("related reply of") })
        // The same error addressed elsewhere than the connection's client is INVALID
        // (nf_conntrack_inet_error: outer daddr != inner).
        var misdirected = tooBig
        misdirected.destination = R.ip("fd00:1::3")
        let other = r.send(misdirected, at: 0.2)
        #expect(other.verdict == .dropped)
        #expect(other.steps.contains { $0.action.hasPrefix("invalid: ICMP error to fd00:1::3") })
    }

    @Test func ctstateRelatedMatchesOnlyRelatedPackets() throws {
        var r = try R("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m state --state RELATED -j ACCEPT\n-A FORWARD -i eth0 -j ACCEPT\nCOMMIT\n")
        r.send(R.tcp(TCPFlag.syn), at: 0)
        #expect(r.send(R.tcp(TCPFlag.syn | TCPFlag.ack, reply: true), at: 0.1).verdict == .dropped, "ESTABLISHED is not RELATED")
        let quoted = R.tcp(TCPFlag.syn).tuple
        let error = Packet(source: R.ip("10.0.2.2"), destination: R.ip("10.0.1.2"), proto: .icmp, icmpType: 3, icmpCode: 1,
                           inInterface: "eth1", quoted: quoted)
        #expect(r.send(error, at: 0.2).verdict == .accepted)
    }
}

@Suite struct ConntrackTableTests {
    static func flow(_ port: UInt16, expires: Double) -> ConntrackEntry {
        var e = ConntrackEntry(original: ConntrackTuple(source: ConntrackRouter.ip("10.0.1.2"), sourcePort: port,
                                                        destination: ConntrackRouter.ip("10.0.2.2"), destinationPort: 53, proto: .udp))
        e.expires = expires
        return e
    }

    @Test func removedSlotsAreReusedAndEveryLookupStaysRight() {
        var t = ConntrackTable()
        let a = t.insert(Self.flow(1, expires: 10)), b = t.insert(Self.flow(2, expires: 20)), c = t.insert(Self.flow(3, expires: 30))
        t.remove(at: b)
        #expect(!t.isTaken(Self.flow(2, expires: 0).original) && !t.isTaken(Self.flow(2, expires: 0).reply))
        let d = t.insert(Self.flow(4, expires: 40))
        #expect(d == b, "the free slot is reused")
        for (slot, port) in [(a, 1), (c, 3), (d, 4)] as [(Int, UInt16)] {
            #expect(t.lookup(Self.flow(port, expires: 0).original)?.index == slot)
            #expect(t.lookup(Self.flow(port, expires: 0).reply).map { $0.index == slot && $0.isReply } == true)
        }
        #expect(t.liveCount == 3 && t.entries.map(\.original.sourcePort) == [1, 4, 3])
        #expect(t.expire(now: 30) == 2, "the entries expiring at 10 and 30; 40 stays")
        #expect(t.entries.map(\.original.sourcePort) == [4])
    }

    @Test func aLongChurnOfShortFlowsKeepsTheTableSmallAndConsistent() {
        var t = ConntrackTable()
        t.maxEntries = 1000
        var now = 0.0
        for k in 0..<50_000 {
            now = Double(k) * 0.01  // 100 new flows a second, each living 30 s: about 3000 at once
            if !t.makeRoom(now: now) { Issue.record("no room at \(k)"); break }
            var e = Self.flow(UInt16(truncatingIfNeeded: k), expires: now + 30)
            e.created = now
            if t.isTaken(e.original, now: now) || t.isTaken(e.reply, now: now) {
                if let hit = t.lookup(e.original) { t.remove(at: hit.index) }
            }
            t.insert(e)
            #expect(t.liveCount <= 1000)
        }
        #expect(t.earlyDrops > 0, "the table filled and evicted unassured entries")
        #expect(t.tableFullDrops == 0)
        t.expire(now: now + 31)
        #expect(t.liveCount == 0 && t.entries.isEmpty)
    }
}
