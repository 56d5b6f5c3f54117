import Testing
import Wire
@testable import IPVS

/// `ipvsadm -L -n` listings read back (issue 12 §2). There is no IPVS module here to record
/// from, so the texts are what ipvsadm.c's print_title and print_service_entry write, which
/// `IPVSAdm.list`/`listStats` print byte for byte (IPVSAdmFormatTests): every listing kdp
/// prints parses back to the same table, parse(list(t)) == t.
@Suite struct IPVSAdmListParserTests {
    /// Every scheduler, scheduler flags, persistence with and without masks in both families,
    /// one-packet scheduling, firewall-mark services, and every forwarding method and weights.
    static func everything() -> IPVSTable {
        var t = IPVSTable()
        t.connectionTableSize = 1 << 12
        var port: UInt16 = 1000
        for s in SchedulerName.allCases {
            port += 1
            let flags: ServiceFlags = s == .sh || s == .mh ? [.sched1, .sched2] : s == .rr ? [.sched3] : []
            let svc = try! t.addService(ServiceConfig(key: ServiceKey(protocol: .tcp, address: ip("10.96.0.1"), port: port), scheduler: s, flags: flags))
            for (i, f) in ForwardMethod.allCases.enumerated() {
                try! t.addDestination(service: svc, DestinationConfig(address: ip("10.244.1.\(i + 1)"), port: 8080, weight: Int32(i * 7), forward: f))
            }
        }
        let p = try! t.addService(ServiceConfig(key: ServiceKey(protocol: .udp, address: ip("10.96.0.10"), port: 53), scheduler: .rr,
                                                flags: [.persistent, .onePacket], timeout: 10800, netmask: 0xFFFF_FF00))
        try! t.addDestination(service: p, DestinationConfig(address: ip("10.244.2.1"), port: 53, weight: 65535))
        _ = try! t.addService(ServiceConfig(key: ServiceKey(protocol: .sctp, address: ip("10.96.0.11"), port: 9000), scheduler: .wlc,
                                            flags: [.persistent], timeout: 360))
        let v6 = try! t.addService(ServiceConfig(key: ServiceKey(protocol: .tcp, address: ip("fd00:96::1"), port: 443), scheduler: .sh,
                                                 flags: [.persistent], timeout: 60, netmask: 64))
        try! t.addDestination(service: v6, DestinationConfig(address: ip("fd00:10::2"), port: 6443, weight: 3, forward: .tunnel))
        let fwm = try! t.addService(ServiceConfig(key: ServiceKey(fwmark: 100), scheduler: .wrr))
        try! t.addDestination(service: fwm, DestinationConfig(address: ip("10.244.3.1"), port: 0, weight: 2))
        _ = try! t.addService(ServiceConfig(key: ServiceKey(fwmark: 7, family: .ipv6), scheduler: .lc))
        return t
    }

    @Test func everyListingKdpPrintsParsesBackToTheSameTable() throws {
        let t = Self.everything()
        let listed = IPVSAdm.list(t)
        var back = IPVSTable()
        let listing = try IPVSAdm.parseList(listed, into: &back)
        #expect(listing.kind == .list)
        #expect(listing.notes == ["ipvsadm -Ln sorts real servers (unless --nosort), so the kernel's list order is not in it: kdp adds them as listed, as ipvsadm -a would, and rr/wrr walk that order (2 virtual services)"])
        #expect(IPVSAdm.save(back) == IPVSAdm.save(t))
        #expect(IPVSAdm.list(back) == listed)
        #expect(back.services.count == t.services.count)
    }

    @Test func persistenceMasksFlagsAndForwardingMethodsAreRead() throws {
        let text = """
        TCP  10.96.0.10:80 sh (sh-fallback,sh-port) persistent 300 mask 255.255.255.0 ops
          -> 10.244.1.1:8080              Masq    1      0          0
          -> 10.244.1.2:8080              Route   5      0          0
          -> 10.244.1.3:8080              Tunnel  0      0          0
          -> 10.244.1.4:8080              Local   2      0          0
        UDP  [fd00::a]:53 mh (mh-port) persistent 10 mask 64
          -> [fd00:10::5]:53              Masq    1      0          0
        FWM  9 IPv6 rr
        """
        var t = IPVSTable()
        _ = try IPVSAdm.parseList(text, into: &t)
        let s = t.services[0]
        #expect(s.scheduler == .sh && s.flags == [.sched1, .sched2, .persistent, .onePacket])
        #expect(s.config.timeout == 300 && s.config.netmask == 0xFFFF_FF00)
        #expect(s.destinations.map(\.forward).sorted { $0.rawValue < $1.rawValue } == [.masq, .local, .tunnel, .route])
        #expect(s.destinations.map(\.weight).sorted() == [0, 1, 2, 5])
        #expect(t.services[1].key.family == .ipv6 && t.services[1].config.netmask == 64 && t.services[1].scheduler == .mh)
        #expect(t.services[2].key == ServiceKey(fwmark: 9, family: .ipv6))
    }

    @Test func statsListingsParseBackAndSayWhatTheyAssumed() throws {
        var t = Self.everything()
        t.setStats(service: 0, IPVSStats(conns: 12, inPackets: 345_678_901, outPackets: 3, inBytes: 150_000_000_000, outBytes: 5))
        t.setStats(service: 0, slot: 0, IPVSStats(conns: 1, inPackets: 2, outPackets: 3, inBytes: 4, outBytes: 5))
        let listed = IPVSAdm.listStats(t)
        var back = IPVSTable()
        let listing = try IPVSAdm.parseList(listed, into: &back)
        #expect(listing.kind == .stats)
        #expect(IPVSAdm.listStats(back) == listed)
        #expect(back.services.allSatisfy { $0.scheduler == .wlc })
        #expect(listing.notes.contains { $0.contains("gives no scheduler: wlc assumed") })
        #expect(listing.notes.contains { $0.contains("Masq and weight 1 assumed") })
    }

    @Test func rateListingsAndHeaderlessListingsParse() throws {
        // print_title(FMT_RATE), then print_service_entry: `%-33s` and five print_largenum;
        // servers `  -> %-28s %8u %8u %8u` and two print_largenum.
        let rate = """
        IP Virtual Server version 1.2.1 (size=4096)
        Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
          -> RemoteAddress:Port
        TCP  10.96.0.1:443                       0        3        2      180      120
          -> 172.18.0.2:6443                     0        3        2      180      120
        """
        var t = IPVSTable()
        #expect(try IPVSAdm.parseList(rate, into: &t).kind == .rate)
        #expect(t.services.count == 1 && t.services[0].destinations.count == 1)
        let headerless = """
        TCP  10.96.0.1:443 rr
          -> 172.18.0.2:6443              Masq    1      3          1
        """
        var h = IPVSTable()
        let listing = try IPVSAdm.parseList(headerless, into: &h)
        #expect(listing.kind == .list)
        #expect(listing.notes == ["ipvsadm -Ln lists 4 open connections (ActiveConn + InActConn): not loaded, kdp schedules as if none were open"])
    }

    @Test func theFormatIsDetected() {
        #expect(IPVSAdmFormat.detect("-A -t 10.96.0.1:443 -s rr\n") == .save)
        #expect(IPVSAdmFormat.detect("IP Virtual Server version 1.2.1 (size=4096)\n") == .list)
        #expect(IPVSAdmFormat.detect("TCP  10.96.0.1:443 rr\n") == .list)
        var t = IPVSTable()
        #expect((try? IPVSAdm.parseDump("-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 10.0.0.1:6443 -m -w 1\n", into: &t)) == [])
        #expect(t.services.count == 1)
    }

    @Test func malformedListingsNameTheLine() {
        func error(_ text: String) -> IPVSAdmParseError? {
            var t = IPVSTable()
            do { _ = try IPVSAdm.parseList(text, into: &t); return nil } catch { return error }
        }
        #expect(error("TCP  10.96.0.1:443 rr\n  -> 10.0.0.1:80 Masq x 0 0\n")?.line == 2)
        #expect(error("TCP  10.96.0.1:443 fo\n")?.reason.hasPrefix("scheduler \"fo\" is not emulated") == true)
        #expect(error("  -> 10.0.0.1:80 Masq 1 0 0\n")?.line == 1)
        #expect(error("TCP  10.96.0.1:443 rr\nbogus\n")?.line == 2)
        #expect(error("TCP  host.example:http rr\n")?.line == 1, "only numeric listings (-n)")
        #expect(error("TCP  10.96.0.1:443 rr persistent\n")?.line == 1)
        #expect(error("TCP  10.96.0.1:443 rr\n  -> 10.0.0.1:80 0 0 0 0\n")?.line == 2, "a threshold listing needs its header")
        #expect(error("IP Virtual Server version 1.2.1 (size=x)\n")?.line == 1)
        #expect(error("TCP  10.96.0.1:443 rr\n  -> [fd00::1]:80 Masq 1 0 0\n")?.line == 2)
    }
}

/// Mutated and truncated `ipvsadm -Ln` listings: a table or an error naming a line, never a crash.
@Suite struct IPVSAdmListFuzzTests {
    @Test func mutatedListingsNeverCrash() {
        var rng = SeededGenerator(seed: 14)
        var t = IPVSAdmListParserTests.everything()
        t.setStats(service: 0, IPVSStats(conns: 1, inPackets: 200_000_000, outPackets: 3, inBytes: 4, outBytes: 5))
        let sources = [IPVSAdm.list(t), IPVSAdm.listStats(t), IPVSAdm.listThresholds(t), IPVSAdm.listPersistentConnections(t)]
        let alphabet = Array(" :.[]()-0123456789KMGTabcdef\n".utf8)
        let words = ["  -> ", "TCP  ", "FWM  ", "persistent ", "mask ", "(sh-port)", "Masq ", "Prot LocalAddress:Port CPS\n", "99999999999999999999"]
        var parsed = 0, failed = 0
        for round in 0..<1500 {
            var bytes = Array(sources[round % sources.count].utf8)
            for _ in 0..<(1 + Int(rng.next() % 5)) {
                let pos = Int(rng.next() % UInt64(max(bytes.count, 1)))
                switch rng.next() % 5 {
                case 0: bytes = Array(bytes[..<pos])
                case 1: if pos < bytes.count { bytes.remove(at: pos) }
                case 2: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: min(pos, bytes.count))
                case 3: bytes.insert(contentsOf: Array(words[Int(rng.next() % UInt64(words.count))].utf8), at: min(pos, bytes.count))
                default: if pos < bytes.count { bytes[pos] = UInt8(truncatingIfNeeded: rng.next()) }
                }
            }
            var table = IPVSTable()
            do {
                _ = try IPVSAdm.parseList(String(decoding: bytes, as: UTF8.self), into: &table)
                parsed += 1
            } catch {
                failed += 1
                #expect(error.line >= 1)
            }
        }
        #expect(parsed > 0 && failed > 0)
    }
}
