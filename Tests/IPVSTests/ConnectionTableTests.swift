import Testing
import Wire
@testable import IPVS

@Suite struct ConnectionTableTests {
    @Test func natHandshakeIsActiveAndCloseMovesToInactiveTimeWait() {
        var (t, svc) = makeTable(.rr, weights: [1])
        var p = IPVSPacket(protocol: .tcp, source: ip("192.168.0.1"), sourcePort: 40000, destination: vip, destinationPort: 80, tcpFlags: [.syn])
        guard case .forwarded(let cp, true) = t.input(p) else { Issue.record("SYN not scheduled"); return }
        #expect(t.entries[Int(cp)].tcpState == .synRecv)
        #expect(t.entries[Int(cp)].timeout == 60)
        #expect(server(t, svc, 1).activeConns == 1 && server(t, svc, 1).inactiveConns == 0)
        t.output(connection: cp, flags: [.syn, .ack])
        #expect(t.entries[Int(cp)].tcpState == .synRecv)
        p.tcpFlags = [.ack]
        _ = t.input(p)
        #expect(t.entries[Int(cp)].tcpState == .established)
        #expect(t.entries[Int(cp)].timeout == 900)
        close(&t, "192.168.0.1")
        #expect(t.entries[Int(cp)].tcpState == .timeWait)
        #expect(server(t, svc, 1).activeConns == 0 && server(t, svc, 1).inactiveConns == 1)
        t.advance(bySeconds: 119)
        #expect(entry(t, "192.168.0.1") != nil)
        t.advance(bySeconds: 1)
        #expect(entry(t, "192.168.0.1") == nil)
        #expect(server(t, svc, 1).inactiveConns == 0)
        #expect(t.liveConnections == 0)
    }

    @Test func clientFinFirstGoesThroughCloseWait() {
        var (t, _) = makeTable(.rr, weights: [1])
        connect(&t, "192.168.0.1")
        let p = IPVSPacket(protocol: .tcp, source: ip("192.168.0.1"), sourcePort: 40000, destination: vip, destinationPort: 80, tcpFlags: [.fin, .ack])
        _ = t.input(p)
        #expect(entry(t, "192.168.0.1")?.tcpState == .closeWait)
    }

    @Test func directRoutingUsesInputOnlyRowsAndStaysInFinWait() {
        var (t, svc) = makeTable(.rr, weights: [1], forward: .route)
        connect(&t, "192.168.0.1")
        #expect(entry(t, "192.168.0.1")?.tcpState == .established)
        #expect(entry(t, "192.168.0.1")!.flags.contains(.noOutput))
        close(&t, "192.168.0.1")
        #expect(entry(t, "192.168.0.1")?.tcpState == .finWait)
        #expect(server(t, svc, 1).inactiveConns == 1)
        #expect(server(t, svc, 1).stats.outPackets == 0)
    }

    @Test func rstInEstablishedGoesToClose() {
        var (t, _) = makeTable(.rr, weights: [1])
        connect(&t, "192.168.0.1")
        _ = t.input(IPVSPacket(protocol: .tcp, source: ip("192.168.0.1"), sourcePort: 40000, destination: vip, destinationPort: 80, tcpFlags: [.rst, .ack]))
        #expect(entry(t, "192.168.0.1")?.tcpState == .close)
        #expect(entry(t, "192.168.0.1")?.timeout == 10)
    }

    @Test func nonSynWithoutEntryIsNotScheduled() {
        var (t, _) = makeTable(.rr, weights: [1])
        let v = t.input(IPVSPacket(protocol: .tcp, source: ip("192.168.0.1"), sourcePort: 1, destination: vip, destinationPort: 80, tcpFlags: [.ack]))
        #expect(v == .passed)
        #expect(t.liveConnections == 0)
    }

    @Test func udpEntriesStayInactiveAndExpireAfterThreeHundredSeconds() {
        var (t, svc) = makeTable(.rr, weights: [1], protocol: .udp)
        #expect(syn(&t, "192.168.0.1", proto: .udp) == 1)
        #expect(server(t, svc, 1).inactiveConns == 1 && server(t, svc, 1).activeConns == 0)
        t.advance(bySeconds: 200)
        #expect(syn(&t, "192.168.0.1", proto: .udp) == 1)  // re-arms to 300 from now
        t.advance(bySeconds: 299)
        #expect(entry(t, "192.168.0.1", proto: .udp) != nil)
        t.advance(bySeconds: 1)
        #expect(entry(t, "192.168.0.1", proto: .udp) == nil)
        #expect(server(t, svc, 1).inactiveConns == 0)
    }

    @Test func synOnTimeWaitEntryIsRescheduledWithConnReuseMode() {
        var (t, _) = makeTable(.rr, weights: [1, 1])
        #expect(syn(&t, "192.168.0.1") == 2)
        close(&t, "192.168.0.1")
        guard case .forwarded(_, true) = connect(&t, "192.168.0.1") else { Issue.record("not rescheduled"); return }
        #expect(entry(t, "192.168.0.1")?.destinationAddress == ip("10.244.1.1"))
        #expect(t.liveConnections == 1)
    }

    @Test func synOnTimeWaitEntryIsPinnedWithConnReuseModeZero() {
        var (t, _) = makeTable(.rr, weights: [1, 1], sysctls: IPVSSysctls(connReuseMode: 0))
        #expect(syn(&t, "192.168.0.1") == 2)
        close(&t, "192.168.0.1")
        guard case .forwarded(_, false) = connect(&t, "192.168.0.1") else { Issue.record("not pinned"); return }
        #expect(entry(t, "192.168.0.1")?.destinationAddress == ip("10.244.1.2"))
        #expect(entry(t, "192.168.0.1")?.tcpState == .synRecv || entry(t, "192.168.0.1")?.tcpState == .established)
    }

    @Test func reusedEntryStillCountsWhileTheNewSynIsScheduled() {
        // lc, order .2 .1. The TIME_WAIT entry on .2 (overhead 1) is still counted when the
        // reused SYN is scheduled, so .1 (overhead 0) wins; then the old entry is expired.
        var (t, svc) = makeTable(.lc, weights: [1, 1])
        #expect(syn(&t, "192.168.0.1") == 2)
        close(&t, "192.168.0.1")
        #expect(syn(&t, "192.168.0.1") == 1)
        #expect(server(t, svc, 2).inactiveConns == 0 && server(t, svc, 2).activeConns == 0)
        #expect(server(t, svc, 1).activeConns == 1)
    }

    @Test func expireNodestConnReschedulesASynForAQuiescedServer() {
        for expire in [false, true] {
            var (t, svc) = makeTable(.rr, weights: [1, 1], sysctls: IPVSSysctls(expireNodestConn: expire))
            #expect(syn(&t, "192.168.0.1") == 2)
            setWeight(&t, svc, 2, 0)
            let again = syn(&t, "192.168.0.1")
            #expect(again == (expire ? 1 : 2))
        }
    }

    @Test func entryOnADeletedServerIsDroppedWithoutExpireNodestConn() {
        var (t, svc) = makeTable(.rr, weights: [1, 1])
        connect(&t, "192.168.0.1")
        try! t.deleteDestination(service: svc, address: ip("10.244.1.2"), port: 8080)
        #expect(server(t, svc, 2).activeConns == 1)  // still referenced from the trash
        let v = t.input(IPVSPacket(protocol: .tcp, source: ip("192.168.0.1"), sourcePort: 40000, destination: vip, destinationPort: 80, tcpFlags: [.ack]))
        #expect(v == .dropped)
        #expect(syn(&t, "192.168.0.1") == -1)
    }

    @Test func deletingAServerWithExpireNodestConnFlushesItsEntries() {
        var (t, svc) = makeTable(.rr, weights: [1, 1], sysctls: IPVSSysctls(expireNodestConn: true))
        connect(&t, "192.168.0.1")
        try! t.deleteDestination(service: svc, address: ip("10.244.1.2"), port: 8080)
        #expect(server(t, svc, 2).activeConns == 0)
        #expect(entry(t, "192.168.0.1") == nil)
        #expect(syn(&t, "192.168.0.1") == 1)
    }

    @Test func readdingADeletedServerRevivesItsCountersAtTheHead() {
        var (t, svc) = makeTable(.rr, weights: [1, 1])
        connect(&t, "192.168.0.1")  // → .2
        try! t.deleteDestination(service: svc, address: ip("10.244.1.2"), port: 8080)
        try! t.addDestination(service: svc, DestinationConfig(address: ip("10.244.1.2"), port: 8080, weight: 3))
        #expect(server(t, svc, 2).activeConns == 1)
        #expect(server(t, svc, 2).weight == 3)
        #expect(t.services[Int(svc)].destinations.map(\.address) == [ip("10.244.1.2"), ip("10.244.1.1")])
        #expect(throws: IPVSError.destinationExists) {
            try t.addDestination(service: svc, DestinationConfig(address: ip("10.244.1.2"), port: 8080))
        }
    }

    @Test func controlPlaneRejectsBadRequests() {
        var (t, svc) = makeTable(.rr, weights: [1])
        #expect(throws: IPVSError.outOfRange("weight")) {
            try t.addDestination(service: svc, DestinationConfig(address: ip("10.244.1.9"), port: 1, weight: -1))
        }
        #expect(throws: IPVSError.noSuchDestination) { try t.deleteDestination(service: svc, address: ip("10.244.1.9"), port: 1) }
        #expect(throws: IPVSError.serviceExists) {
            try t.addService(ServiceConfig(key: ServiceKey(protocol: .tcp, address: vip, port: 80), scheduler: .rr))
        }
        #expect(throws: IPVSError.noSuchService) { try t.deleteDestination(service: 7, address: vip, port: 1) }
    }

    @Test func statisticsCountConnectionsAndPacketsPerServerServiceAndTotal() {
        var (t, svc) = makeTable(.rr, weights: [1])
        connect(&t, "192.168.0.1")  // SYN + ACK in, SYN+ACK out
        #expect(server(t, svc, 1).stats == IPVSStats(conns: 1, inPackets: 2, outPackets: 1, inBytes: 80, outBytes: 40))
        #expect(t.services[Int(svc)].stats == server(t, svc, 1).stats)
        #expect(t.totalStats == server(t, svc, 1).stats)
    }
}
