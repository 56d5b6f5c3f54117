import Testing
import Wire
@testable import IPVS

@Suite struct PersistenceTests {
    @Test func clientsInTheSameNetmaskShareATemplateAndServer() {
        var (t, svc) = makeTable(.rr, weights: [1, 1], flags: .persistent, timeout: 300, netmask: 0xFFFF_FF00)
        guard case .forwarded(_, true) = connect(&t, "192.168.10.1") else { Issue.record("first not scheduled"); return }
        guard case .forwarded(let cp, false) = connect(&t, "192.168.10.2") else { Issue.record("second not pinned"); return }
        #expect(t.entries[Int(cp)].destinationAddress == ip("10.244.1.2"))
        #expect(syn(&t, "192.168.11.1") == 1)  // another /24: scheduled (rr moves on)
        #expect(server(t, svc, 2).persistConns == 1)
        #expect(server(t, svc, 2).activeConns == 2)
        #expect(server(t, svc, 1).persistConns == 1)
        let tmpl = t.entries.first { $0.live && $0.isTemplate && $0.key.clientAddress == UInt128(ip("192.168.10.0").v4!.value) }
        #expect(tmpl?.key.virtualPort == 80 && tmpl?.key.clientPort == 0 && tmpl?.nControl == 2)
        #expect(tmpl?.state == TemplateState.assured.rawValue)
    }

    @Test func templateOutlivesItsConnectionsUntilItsOwnTimeout() {
        var (t, svc) = makeTable(.rr, weights: [1, 1], flags: .persistent, timeout: 300)
        #expect(syn(&t, "192.168.10.1") == 2)
        t.expire(connection: t.connectionIndex(ConnectionKey(protocol: .tcp, client: ip("192.168.10.1"), clientPort: 40000, virtual: vip, virtualPort: 80)))
        #expect(server(t, svc, 2).activeConns == 0 && server(t, svc, 2).persistConns == 1)
        #expect(syn(&t, "192.168.10.1", 40001) == 2)  // template still pins
        t.expire(connection: t.connectionIndex(ConnectionKey(protocol: .tcp, client: ip("192.168.10.1"), clientPort: 40001, virtual: vip, virtualPort: 80)))
        t.advance(bySeconds: 300)
        #expect(server(t, svc, 2).persistConns == 0)
        #expect(t.liveConnections == 0)
    }

    @Test func templateWithLiveConnectionsIsPostponedAndDropsToSixtySeconds() {
        var (t, svc) = makeTable(.rr, weights: [1, 1], flags: .persistent, timeout: 300)
        connect(&t, "192.168.10.1")  // ESTABLISHED, 900 s
        t.advance(bySeconds: 300)    // template fires with n_control 1: postponed
        let tmpl = t.entries.first { $0.live && $0.isTemplate }!
        #expect(tmpl.timeout == 60)
        #expect(tmpl.expires == t.now + 60_000)
        _ = syn(&t, "192.168.10.1", 40001)  // reuse re-arms with 60 s, not 300
        #expect(t.entries.first { $0.live && $0.isTemplate }!.expires == t.now + 60_000)
        #expect(server(t, svc, 2).persistConns == 1)
    }

    @Test func quiescedServerKeepsPersistentClientsUnlessExpireQuiescentTemplate() {
        for expireQuiescent in [false, true] {
            var (t, svc) = makeTable(.rr, weights: [1, 1], flags: .persistent, timeout: 300,
                                     sysctls: IPVSSysctls(expireQuiescentTemplate: expireQuiescent))
            #expect(syn(&t, "192.168.10.1") == 2)
            setWeight(&t, svc, 2, 0)
            #expect(syn(&t, "192.168.10.1", 40001) == (expireQuiescent ? 1 : 2))
            if expireQuiescent {
                // The old template is invalidated (ports 0xffff) but keeps its persistconn until it expires.
                #expect(server(t, svc, 2).persistConns == 1)
                #expect(t.entries.contains { $0.live && $0.isTemplate && $0.key.virtualPort == 0xFFFF })
            }
        }
    }

    @Test func persistentShServiceStillPinsThroughTheTemplate() {
        var (t, _) = makeTable(.sh, weights: [1, 1, 2], flags: .persistent, timeout: 60)
        #expect(syn(&t, "192.168.10.1") == 3)
        #expect(syn(&t, "192.168.10.1", 5) == 3)
    }

    @Test func ipv6PersistenceMasksByPrefixLength() {
        var t = IPVSTable()
        let v = ip("fd00::10")
        let svc = try! t.addService(ServiceConfig(key: ServiceKey(protocol: .tcp, address: v, port: 80), scheduler: .rr,
                                                  flags: .persistent, timeout: 300, netmask: 64))
        try! t.addDestination(service: svc, DestinationConfig(address: ip("fd01::1"), port: 80))
        try! t.addDestination(service: svc, DestinationConfig(address: ip("fd01::2"), port: 80))
        func go(_ c: String) -> IPAddress? {
            if case .forwarded(let cp, _) = t.input(IPVSPacket(protocol: .tcp, source: ip(c), sourcePort: 1, destination: v, destinationPort: 80, tcpFlags: [.syn])) {
                return t.entries[Int(cp)].destinationAddress
            }
            return nil
        }
        #expect(go("2001:db8::1") == ip("fd01::2"))
        #expect(go("2001:db8::ffff") == ip("fd01::2"))
        #expect(go("2001:db8:0:1::1") == ip("fd01::1"))
    }
}
