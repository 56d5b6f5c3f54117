import Testing
@testable import Netfilter
import Wire

/// Small rulesets, one behaviour each.
struct Bench {
    let tracer: Tracer
    var host: Host

    init(_ text: String, host: Host = Host.simple(localAddresses: [KubeProxyExample.ip("192.168.0.2")])) throws {
        tracer = Tracer(ruleset: try Ruleset.parse(text: text, file: "test"))
        self.host = host
    }

    func run(_ p: Packet, _ o: TraceOptions = TraceOptions()) -> TracePath { tracer.trace(packet: p, host: host, options: o).paths[0] }

    static func tcp(_ src: String, _ sport: UInt16, _ dst: String, _ dport: UInt16, in iface: String? = "eth0") -> Packet {
        KubeProxyExample.tcp(src, sport, dst, dport, in: iface)
    }
}

@Suite struct MatchAndTargetTests {
    static let ip = KubeProxyExample.ip

    @Test func negatedSourceAndInterfaceWildcard() throws {
        let b = try Bench("*filter\n:INPUT DROP [0:0]\n-A INPUT ! -s 10.0.0.0/8 -i eth+ -j ACCEPT\nCOMMIT\n")
        #expect(b.run(Bench.tcp("192.168.5.5", 1, "192.168.0.2", 22)).verdict == .accepted)
        #expect(b.run(Bench.tcp("10.1.2.3", 1, "192.168.0.2", 22)).verdict == .dropped)
        #expect(b.run(Bench.tcp("192.168.5.5", 1, "192.168.0.2", 22, in: "cni0")).verdict == .dropped)
    }

    @Test func nonPrefixNetmasksMatchByMask() throws {
        let b = try Bench("*filter\n:INPUT DROP [0:0]\n-A INPUT -s 10.0.0.7/255.255.0.255 -j ACCEPT\nCOMMIT\n")
        #expect(b.run(Bench.tcp("10.0.99.7", 1, "192.168.0.2", 80)).verdict == .accepted)
        #expect(b.run(Bench.tcp("10.1.99.7", 1, "192.168.0.2", 80)).verdict == .dropped)
        #expect(b.run(Bench.tcp("10.0.99.8", 1, "192.168.0.2", 80)).verdict == .dropped)
    }

    @Test func portRangesMultiportAndNegatedPorts() throws {
        let b = try Bench("""
        *filter
        :INPUT DROP [0:0]
        -A INPUT -p tcp -m tcp --dport 1000:2000 -j ACCEPT
        -A INPUT -p udp -m multiport --dports 53,5000:5002 -j ACCEPT
        -A INPUT -p tcp -m tcp ! --dport 22 -j REJECT --reject-with tcp-reset
        COMMIT

        """)
        #expect(b.run(Bench.tcp("1.1.1.1", 1, "192.168.0.2", 1500)).verdict == .accepted)
        var u = Bench.tcp("1.1.1.1", 1, "192.168.0.2", 5001); u.proto = .udp
        #expect(b.run(u).verdict == .accepted)
        u.destinationPort = 5003
        #expect(b.run(u).verdict == .dropped)
        #expect(b.run(Bench.tcp("1.1.1.1", 1, "192.168.0.2", 80)).verdict == .rejected)
        #expect(b.run(Bench.tcp("1.1.1.1", 1, "192.168.0.2", 22)).verdict == .dropped)
    }

    @Test func markTargetsUseTheKernelXmarkForm() throws {
        // libxt_MARK: --set-mark v/m is (mask v|m); --and-mark v is (0, ~v); --or-mark v is (v, v); --xor-mark v is (v, 0).
        let b = try Bench("""
        *mangle
        -A PREROUTING -j MARK --set-mark 0xf0/0xff
        -A PREROUTING -j MARK --or-mark 0x1
        -A PREROUTING -j MARK --xor-mark 0x3
        -A PREROUTING -j MARK --and-mark 0xfe
        -A PREROUTING -j MARK --set-xmark 0x100/0x0
        COMMIT

        """)
        var p = Bench.tcp("1.1.1.1", 1, "192.168.0.2", 80)
        p.mark = 0xF00
        // 0xf00 → (&~0xff)^0xf0 = 0xff0 → |1 = 0xff1 → ^3 = 0xff2 → &0xfe = 0xf2 → ^0x100 = 0x1f2
        #expect(b.run(p).finalPacket.mark == 0x1F2)
    }

    @Test func markMatchWithMaskAndNegation() throws {
        let b = try Bench("*filter\n:INPUT DROP [0:0]\n-A INPUT -m mark ! --mark 0x4000/0x4000 -j ACCEPT\nCOMMIT\n")
        var p = Bench.tcp("1.1.1.1", 1, "192.168.0.2", 80)
        p.mark = 0x1
        #expect(b.run(p).verdict == .accepted)
        p.mark = 0x4001
        #expect(b.run(p).verdict == .dropped)
    }

    @Test func gotoReturnsToTheCallerOfTheCallingChain() throws {
        // A jumps to B; B gotos C; C returns: evaluation resumes in A after the jump, skipping B's rest.
        let b = try Bench("""
        *filter
        :INPUT DROP [0:0]
        :A - [0:0]
        :B - [0:0]
        :C - [0:0]
        -A INPUT -j A
        -A A -j B
        -A A -j ACCEPT
        -A B -g C
        -A B -j REJECT
        -A C -j RETURN
        COMMIT

        """)
        let p = b.run(Bench.tcp("1.1.1.1", 1, "192.168.0.2", 80))
        #expect(p.verdict == .accepted)
        #expect(p.decidedBy.description == "-A A -j ACCEPT")
    }

    @Test func returnInABuiltinChainAppliesThePolicy() throws {
        let b = try Bench("*filter\n:INPUT DROP [0:0]\n-A INPUT -j RETURN\n-A INPUT -j ACCEPT\nCOMMIT\n")
        let p = b.run(Bench.tcp("1.1.1.1", 1, "192.168.0.2", 80))
        #expect(p.verdict == .dropped)
        #expect(p.decidedBy == .policy)
    }

    @Test func addrtypeKnowsLocalBroadcastAndLoopback() throws {
        let b = try Bench("""
        *filter
        :INPUT DROP [0:0]
        :FORWARD DROP [0:0]
        -A INPUT -m addrtype --dst-type BROADCAST -j REJECT
        -A INPUT -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT
        COMMIT

        """)
        #expect(b.run(Bench.tcp("1.1.1.1", 1, "192.168.0.2", 80)).verdict == .accepted)
        #expect(b.run(Bench.tcp("1.1.1.1", 1, "192.168.0.255", 80)).verdict == .rejected)
        #expect(b.host.addressType(Self.ip("127.0.0.9")) == .local)
        #expect(b.host.addressType(Self.ip("8.8.8.8")) == .unicast)
        #expect(b.host.addressType(Self.ip("224.0.0.1")) == .multicast)
        // --limit-iface-in: 192.168.0.2 is not an address of cni0
        #expect(b.run(Bench.tcp("1.1.1.1", 1, "192.168.0.2", 80, in: "cni0")).verdict == .dropped)
    }

    @Test func ctstateNotrackIsUntrackedAndSkipsNat() throws {
        let b = try Bench("""
        *raw
        -A PREROUTING -p tcp -m tcp --dport 53 -j CT --notrack
        COMMIT
        *nat
        -A PREROUTING -p tcp -j DNAT --to-destination 10.9.9.9
        COMMIT
        *filter
        :INPUT DROP [0:0]
        -A INPUT -m conntrack --ctstate UNTRACKED -j ACCEPT
        COMMIT

        """)
        let p = b.run(Bench.tcp("1.1.1.1", 1, "192.168.0.2", 53))
        #expect(p.verdict == .accepted)
        #expect(p.dnat == nil)
        #expect(b.run(Bench.tcp("1.1.1.1", 1, "192.168.0.2", 54)).dnat?.description == "10.9.9.9:54")
    }

    @Test func synAckWithoutConnectionIsInvalid() throws {
        let b = try Bench("*filter\n-A INPUT -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n")
        var p = Bench.tcp("1.1.1.1", 1, "192.168.0.2", 80)
        p.tcpFlags = TCPFlag.syn | TCPFlag.ack
        #expect(b.run(p).verdict == .dropped)
        p.tcpFlags = TCPFlag.ack  // nf_conntrack_tcp_loose picks up a bare ACK as NEW
        #expect(b.run(p).verdict == .accepted)
    }

    @Test func ctstateDNATAndCtorigdstSeeTheTranslation() throws {
        let b = try Bench("""
        *nat
        -A PREROUTING -d 1.2.3.4/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.5:8080
        COMMIT
        *filter
        :FORWARD DROP [0:0]
        -A FORWARD -m conntrack --ctstate DNAT --ctorigdst 1.2.3.4 --ctorigdstport 80 -j ACCEPT
        COMMIT

        """)
        let p = b.run(Bench.tcp("9.9.9.9", 1234, "1.2.3.4", 80))
        #expect(p.verdict == .accepted)
        #expect(p.dnat?.description == "10.0.0.5:8080")
        #expect(b.run(Bench.tcp("9.9.9.9", 1234, "10.0.0.5", 8080)).verdict == .dropped)
    }

    @Test func masqueradeKeepsTheSourcePortUnlessItCollides() throws {
        var b = try Bench("*nat\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n")
        let first = b.run(Bench.tcp("10.244.0.5", 5555, "8.8.8.8", 53, in: "cni0"))
        #expect(first.snat?.description == "192.168.0.2:5555")
        b.host = first.host
        let second = b.run(Bench.tcp("10.244.0.6", 5555, "8.8.8.8", 53, in: "cni0"))
        #expect(second.verdict == .accepted)
        let port = second.finalPacket.sourcePort
        #expect(port != 5555 && port >= 1024, "a clashing source port is remapped within 1024-65535")
    }

    @Test func masqueradePicksTheAddressWhoseSubnetHoldsTheNextHop() throws {
        let h = Host(interfaces: [Interface(name: "eth0", addresses: [(Self.ip("192.168.0.2"), 24), (Self.ip("10.5.0.2"), 16)])],
                     routes: [Route(destination: try Prefix(parsing: "0.0.0.0/0"), device: "eth0", gateway: Self.ip("10.5.0.1"))])
        let b = try Bench("*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n", host: h)
        #expect(b.run(Bench.tcp("10.244.0.5", 5555, "8.8.8.8", 53, in: "cni0")).snat?.description == "10.5.0.2:5555")
    }

    @Test func dnatPortRangeKeepsAnInRangePortElsePicksTheFirst() throws {
        let b = try Bench("*nat\n-A PREROUTING -p tcp -j DNAT --to-destination 10.0.0.1:8000-8010\nCOMMIT\n")
        #expect(b.run(Bench.tcp("1.1.1.1", 1, "2.2.2.2", 8005)).dnat?.description == "10.0.0.1:8005")
        #expect(b.run(Bench.tcp("1.1.1.1", 1, "2.2.2.2", 80)).dnat?.description == "10.0.0.1:8000")
    }

    @Test func dnatAddressRangeBranchesInAllPaths() throws {
        let b = try Bench("*nat\n-A PREROUTING -p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.4\nCOMMIT\n")
        let t = b.tracer.trace(packet: Bench.tcp("1.1.1.1", 1, "2.2.2.2", 80), host: b.host, options: TraceOptions(allPaths: true))
        #expect(Set(t.paths.compactMap { $0.dnat?.description }) == ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"])
        #expect(t.paths.allSatisfy { abs($0.probability - 0.25) < 1e-12 })
    }

    @Test func statisticProbabilitiesMultiplyAlongAPath() throws {
        let b = try Bench("""
        *nat
        :S - [0:0]
        -A PREROUTING -j S
        -A S -m statistic --mode random --probability 0.33333333333 -j DNAT --to-destination 10.0.0.1
        -A S -m statistic --mode random --probability 0.50000000000 -j DNAT --to-destination 10.0.0.2
        -A S -j DNAT --to-destination 10.0.0.3
        COMMIT

        """)
        let t = b.tracer.trace(packet: Bench.tcp("1.1.1.1", 1, "2.2.2.2", 80), host: b.host, options: TraceOptions(allPaths: true))
        #expect(t.paths.count == 3)
        let by = Dictionary(uniqueKeysWithValues: t.paths.map { ($0.dnat!.description, $0.probability) })
        let p1 = (0.33333333333 * 2147483648.0).rounded() / 2147483648.0
        #expect(by["10.0.0.1:80"] == p1)
        #expect(abs(by["10.0.0.2:80"]! - (1 - p1) * 0.5) < 1e-15)
        #expect(abs(by["10.0.0.3:80"]! - (1 - p1) * 0.5) < 1e-15)
    }

    @Test func statisticNthMatchesEveryNthPacketStartingAtPacket() throws {
        // xt_statistic.c: --every 3 --packet 0 matches packets 1, 4, 7...
        var b = try Bench("*filter\n-A INPUT -m statistic --mode nth --every 3 --packet 0 -j DROP\nCOMMIT\n")
        var verdicts: [Verdict] = []
        for i in 0..<6 {
            let p = b.run(Bench.tcp("1.1.1.1", UInt16(100 + i), "192.168.0.2", 80))
            verdicts.append(p.verdict)
            b.host = p.host
        }
        #expect(verdicts == [.dropped, .accepted, .accepted, .dropped, .accepted, .accepted])
    }

    @Test func recentSetThenRcheckWithinSecondsGivesAffinity() throws {
        var b = try Bench("""
        *nat
        :SVC - [0:0]
        :SEP1 - [0:0]
        :SEP2 - [0:0]
        -A PREROUTING -j SVC
        -A SVC -m recent --name SEP1 --rcheck --seconds 100 --reap -j SEP1
        -A SVC -m recent --name SEP2 --rcheck --seconds 100 --reap -j SEP2
        -A SVC -m statistic --mode random --probability 0.5 -j SEP1
        -A SVC -j SEP2
        -A SEP1 -p tcp -m recent --name SEP1 --set -j DNAT --to-destination 10.0.0.1:80
        -A SEP2 -p tcp -m recent --name SEP2 --set -j DNAT --to-destination 10.0.0.2:80
        COMMIT

        """)
        let first = b.run(Bench.tcp("7.7.7.7", 1000, "2.2.2.2", 80), TraceOptions(seed: 99))
        let chosen = try #require(first.dnat)
        b.host = first.host
        for i in 0..<10 {
            let again = b.run(Bench.tcp("7.7.7.7", UInt16(2000 + i), "2.2.2.2", 80), TraceOptions(seed: UInt64(i)))
            #expect(again.dnat == chosen)
        }
        b.host.now += 101
        let all = b.tracer.trace(packet: Bench.tcp("7.7.7.7", 3000, "2.2.2.2", 80), host: b.host, options: TraceOptions(allPaths: true))
        #expect(all.paths.count == 2, "after the window the choice is random again")
    }

    @Test func ipsetMatchesWithDirections() throws {
        let sets = try IPSetStore.parse(ipsetSave: """
        create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
        add KUBE-CLUSTER-IP 10.96.0.10,udp:53
        add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
        create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
        add KUBE-NODE-PORT-TCP 30080
        create KUBE-LOOP-BACK hash:ip,port,ip family inet
        add KUBE-LOOP-BACK 10.244.1.5,tcp:80,10.244.1.5
        create SRC-CIDR hash:ip,port,net family inet
        add SRC-CIDR 1.2.3.4,tcp:80,10.0.0.0/8
        create NETS hash:net family inet
        add NETS 10.0.0.0/8
        add NETS 10.1.0.0/16 nomatch
        """)
        var h = Host.simple(localAddresses: [Self.ip("192.168.0.2")])
        h.ipsets = sets
        let b = try Bench("""
        *filter
        :INPUT DROP [0:0]
        :FORWARD DROP [0:0]
        -A INPUT -m set --match-set KUBE-NODE-PORT-TCP dst -j ACCEPT
        -A FORWARD -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
        -A FORWARD -m set --match-set KUBE-LOOP-BACK dst,dst,src -j ACCEPT
        -A FORWARD -m set --match-set SRC-CIDR dst,dst,src -j ACCEPT
        -A FORWARD -m set ! --match-set NETS src -j REJECT
        COMMIT

        """, host: h)
        #expect(b.run(Bench.tcp("1.1.1.1", 1, "192.168.0.2", 30080)).verdict == .accepted)
        #expect(b.run(Bench.tcp("1.1.1.1", 1, "192.168.0.2", 30081)).verdict == .dropped)
        #expect(b.run(Bench.tcp("1.1.1.1", 1, "10.96.0.1", 443)).verdict == .accepted)
        var udp = Bench.tcp("1.1.1.1", 1, "10.96.0.1", 443); udp.proto = .udp
        #expect(b.run(udp).verdict == .rejected, "the element is tcp:443; a UDP packet does not match")
        #expect(b.run(Bench.tcp("10.244.1.5", 1, "10.244.1.5", 80)).verdict == .accepted)
        #expect(b.run(Bench.tcp("10.2.0.1", 1, "1.2.3.4", 80)).verdict == .accepted)
        #expect(b.run(Bench.tcp("10.2.0.1", 1, "9.9.9.9", 80)).verdict == .dropped)
        #expect(b.run(Bench.tcp("10.1.0.1", 1, "9.9.9.9", 80)).verdict == .rejected, "nomatch excludes 10.1/16")
    }

    @Test func connmarkSaveAndRestoreFollowTheConnection() throws {
        var b = try Bench("""
        *mangle
        -A PREROUTING -m conntrack --ctstate NEW -j MARK --set-mark 0x7
        -A PREROUTING -m conntrack --ctstate NEW -j CONNMARK --save-mark
        -A PREROUTING -m conntrack --ctstate ESTABLISHED -j CONNMARK --restore-mark
        COMMIT
        *filter
        :INPUT DROP [0:0]
        -A INPUT -m connmark --mark 0x7 -m mark --mark 0x7 -j ACCEPT
        COMMIT

        """)
        let first = b.run(Bench.tcp("1.1.1.1", 1000, "192.168.0.2", 80))
        #expect(first.verdict == .accepted)
        b.host = first.host
        var ack = Bench.tcp("1.1.1.1", 1000, "192.168.0.2", 80)
        ack.tcpFlags = TCPFlag.ack
        var reply = Bench.tcp("192.168.0.2", 80, "1.1.1.1", 1000, in: nil)
        reply.tcpFlags = TCPFlag.syn | TCPFlag.ack
        let r = b.tracer.trace(packet: reply, host: b.host)
        b.host = r.paths[0].host
        let second = b.run(ack)
        #expect(second.verdict == .accepted)
        #expect(second.finalPacket.mark == 0x7)
    }

    @Test func physdevAndIPVSNeverMatchUnbridgedNonIPVSPacketsUnlessInverted() throws {
        let b = try Bench("""
        *filter
        :INPUT DROP [0:0]
        -A INPUT -m physdev --physdev-is-in -j REJECT
        -A INPUT -m ipvs --ipvs -j REJECT
        -A INPUT -m physdev ! --physdev-is-in -m ipvs ! --ipvs -j ACCEPT
        COMMIT

        """)
        #expect(b.run(Bench.tcp("1.1.1.1", 1, "192.168.0.2", 80)).verdict == .accepted)
    }

    @Test func icmpTypeMatches() throws {
        let b = try Bench("*filter\n:INPUT DROP [0:0]\n-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT\nCOMMIT\n")
        var ping = Packet(source: Self.ip("1.1.1.1"), destination: Self.ip("192.168.0.2"), proto: .icmp, icmpType: 8, inInterface: "eth0")
        #expect(b.run(ping).verdict == .accepted)
        ping.icmpType = 0
        #expect(b.run(ping).verdict == .dropped)
    }

    @Test func martianLoopbackDestinationFromOutsideIsDroppedWithoutRouteLocalnet() throws {
        let b = try Bench("*filter\nCOMMIT\n")
        let p = b.run(Bench.tcp("1.1.1.1", 1, "127.0.0.1", 80))
        #expect(p.verdict == .dropped)
        #expect(p.reason?.contains("martian") == true)
    }
}
