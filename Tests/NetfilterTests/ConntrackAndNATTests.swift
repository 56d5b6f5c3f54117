import Testing
@testable import Netfilter
import Wire

@Suite struct ConntrackAndNATTests {
    static let ip = KubeProxyExample.ip

    @Test func pingIsMasqueradedAndItsEchoReplyUnNATed() throws {
        var b = try Bench("*nat\n-A POSTROUTING -s 10.244.0.0/16 -o eth0 -j MASQUERADE\nCOMMIT\n*filter\n:FORWARD DROP [0:0]\n-A FORWARD -i cni0 -j ACCEPT\n-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n")
        let ping = Packet(source: Self.ip("10.244.0.5"), destination: Self.ip("8.8.8.8"), proto: .icmp, sourcePort: 77, icmpType: 8, inInterface: "cni0")
        let out = b.run(ping)
        #expect(out.verdict == .accepted)
        #expect(out.finalPacket.source == Self.ip("192.168.0.2"))
        b.host = out.host
        let reply = Packet(source: Self.ip("8.8.8.8"), destination: Self.ip("192.168.0.2"), proto: .icmp, sourcePort: 77, icmpType: 0, inInterface: "eth0")
        let back = b.run(reply)
        #expect(back.verdict == .accepted)
        #expect(back.finalPacket.destination == Self.ip("10.244.0.5"))
        // An echo reply with no request is INVALID and dropped by the FORWARD policy.
        let stray = Packet(source: Self.ip("8.8.4.4"), destination: Self.ip("10.244.0.5"), proto: .icmp, sourcePort: 9, icmpType: 0, inInterface: "eth0")
        #expect(b.run(stray).verdict == .dropped)
    }

    @Test func conntrackListTextIsReadWithBothTuples() {
        let t = ConntrackTable.parse(conntrackList: """
        tcp      6 119 TIME_WAIT src=10.99.1.2 dst=10.96.0.10 sport=41000 dport=80 src=10.99.2.2 dst=10.99.2.1 sport=8080 dport=41000 [ASSURED] mark=0 use=1
        udp      17 29 src=10.99.1.2 dst=10.96.0.53 sport=41003 dport=53 [UNREPLIED] src=10.99.2.2 dst=10.99.1.2 sport=5353 dport=41003 mark=0 use=1
        icmp     1 29 src=10.0.0.1 dst=8.8.8.8 type=8 code=0 id=77 src=8.8.8.8 dst=192.168.0.2 type=0 code=0 id=77 mark=0 use=1
        """)
        #expect(t.entries.count == 3)
        #expect(t.entries[0].destinationNAT && t.entries[0].sourceNAT)
        #expect(t.entries[1].destinationNAT && !t.entries[1].sourceNAT && !t.entries[1].seenReply)
        #expect(t.entries[2].sourceNAT && !t.entries[2].destinationNAT)
    }

    @Test func redirectSendsToTheInputInterfaceAddress() throws {
        let b = try Bench("*nat\n-A PREROUTING -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 3128\nCOMMIT\n")
        let p = b.run(Bench.tcp("1.1.1.1", 5, "93.184.216.34", 80))
        #expect(p.dnat?.description == "192.168.0.2:3128")
        #expect(p.deliveredTo == .local)
    }

    @Test func snatToAFixedAddressKeepsTheFreePort() throws {
        let b = try Bench("*nat\n-A POSTROUTING -o eth0 -p udp -j SNAT --to-source 192.168.0.50\nCOMMIT\n")
        var p = Bench.tcp("10.244.0.9", 5353, "8.8.8.8", 53, in: "cni0")
        p.proto = .udp
        let r = b.run(p)
        #expect(r.snat?.description == "192.168.0.50:5353")
        #expect(r.host.conntrack.entries[0].reply.destination == Self.ip("192.168.0.50"))
    }

    @Test func hairpinTrafficToItsOwnServiceIsMasqueraded() throws {
        let t = try KubeProxyExample.tracer()
        let trace = t.trace(packet: KubeProxyExample.tcp("10.180.0.1", 40000, "172.30.0.41", 80, in: "cni0"), host: KubeProxyExample.host)
        let p = try #require(trace.paths.first)
        #expect(p.dnat?.description == "10.180.0.1:80")
        #expect(p.masquerade, "KUBE-SEP's -s <endpoint> rule marks hairpin traffic")
    }

    @Test func verboseListsEveryRuleTriedAndCompiledSkipsThem() throws {
        let rs = try Ruleset.parse(text: KubeProxyExample.rules())
        let pkt = KubeProxyExample.tcp("203.0.113.200", 40000, "172.30.0.45", 80)
        let quiet = Tracer(ruleset: rs).trace(packet: pkt, host: KubeProxyExample.host).paths[0]
        let verbose = Tracer(ruleset: rs).trace(packet: pkt, host: KubeProxyExample.host, options: TraceOptions(verbose: true)).paths[0]
        #expect(verbose.steps.filter { $0.action == "no match" }.count >= 7, "KUBE-SERVICES rules 1-7 are tried and fail")
        #expect(!quiet.steps.contains { $0.action == "no match" })
        #expect(verbose.dnat == quiet.dnat)
    }

    @Test func ipv6RulesMatchIPv6PacketsAndDNATWithBrackets() throws {
        let h = Host.simple(localAddresses: [Self.ip("fd00::2")])
        let b = try Bench("*nat\n-A PREROUTING -d fd00:96::10/128 -p tcp -m tcp --dport 80 -j DNAT --to-destination [fd00:244::5]:8080\nCOMMIT\n", host: h)
        let p = b.run(Packet(source: Self.ip("fd00::9"), destination: Self.ip("fd00:96::10"), proto: .tcp, sourcePort: 1000,
                             destinationPort: 80, inInterface: "eth0"))
        #expect(p.dnat?.description == "[fd00:244::5]:8080")
        #expect(p.deliveredTo == .out(interface: "eth0"))
    }

    @Test func aSourcePortClashWithoutNATRulesIsStillRemapped() throws {
        // nf_nat_alloc_null_binding: two clients DNATed to one backend from the same source
        // address and port would share a reply tuple; the second gets a new source port.
        var b = try Bench("*nat\n-A PREROUTING -d 1.2.3.4 -p tcp -j DNAT --to-destination 10.0.0.5:80\n-A PREROUTING -d 1.2.3.5 -p tcp -j DNAT --to-destination 10.0.0.5:80\nCOMMIT\n")
        let a = b.run(Bench.tcp("9.9.9.9", 1000, "1.2.3.4", 80))
        b.host = a.host
        let c = b.run(Bench.tcp("9.9.9.9", 1000, "1.2.3.5", 80))
        #expect(c.verdict == .accepted)
        #expect(c.finalPacket.sourcePort != 1000)
        #expect(c.snat != nil)
    }
}

@Suite struct RouteLocalnetTests {
    @Test func localhostNodePortNeedsRouteLocalnet() throws {
        let t = try KubeProxyExample.tracer()
        var host = KubeProxyExample.host
        host.routeLocalnet = false
        let p = t.trace(packet: KubeProxyExample.tcp("127.0.0.1", 40000, "127.0.0.1", 3001, in: nil), host: host).paths[0]
        #expect(p.verdict == .dropped)
        #expect(p.reason?.contains("route_localnet") == true)
    }
}

@Suite struct IP6TablesTests {
    /// ip6tables-save spells REJECT's default and ICMPv6 matches its own way (libip6t_REJECT.c,
    /// libip6t_icmp6.c).
    @Test func ip6tablesSaveRejectAndICMPv6ParseAndEvaluate() throws {
        let text = """
        *filter
        :INPUT DROP [0:0]
        -A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT
        -A INPUT -p ipv6-icmp --icmpv6-type neighbour-solicitation -j ACCEPT
        -A INPUT -d fd00::2/128 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp6-port-unreachable
        COMMIT

        """
        let rs = try Ruleset.parse(text: text, file: "v6")
        #expect(rs.iptablesSave() == text)
        let host = Host.simple(localAddresses: [try IPAddress(parsing: "fd00::2")])
        let t = Tracer(ruleset: rs)
        let ping = Packet(source: try IPAddress(parsing: "fd00::9"), destination: try IPAddress(parsing: "fd00::2"), proto: .icmpv6,
                          icmpType: 128, inInterface: "eth0")
        #expect(t.trace(packet: ping, host: host).paths[0].verdict == .accepted)
        let web = Packet(source: try IPAddress(parsing: "fd00::9"), destination: try IPAddress(parsing: "fd00::2"), proto: .tcp,
                         sourcePort: 1000, destinationPort: 80, inInterface: "eth0")
        #expect(t.trace(packet: web, host: host).paths[0].verdict == .rejected)
    }
}

@Suite struct ICMPv6ConntrackTests {
    @Test func pingv6ReplyIsEstablishedAndAStrayReplyInvalid() throws {
        let text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n"
        let t = Tracer(ruleset: try Ruleset.parse(text: text))
        let me = try IPAddress(parsing: "fd00::2"), peer = try IPAddress(parsing: "fd00::9")
        let host = Host.simple(localAddresses: [me])
        let out = t.trace(packet: Packet(source: me, destination: peer, proto: .icmpv6, sourcePort: 5, icmpType: 128), host: host).paths[0]
        #expect(out.verdict == .accepted)
        let reply = Packet(source: peer, destination: me, proto: .icmpv6, sourcePort: 5, icmpType: 129, inInterface: "eth0")
        #expect(t.trace(packet: reply, host: out.host).paths[0].verdict == .accepted)
        #expect(t.trace(packet: reply, host: host).paths[0].verdict == .dropped)
    }
}
