import Foundation
import Testing
@testable import Netfilter
import TestSupport
import Wire

/// kdp against the kernel: every verdict, DNAT, SNAT/MASQUERADE port choice, statistic and
/// recent branch that kube-proxy's rules use, on hand-written rulesets.
@Suite(.serialized) struct KernelCheckTests {
    static let rules = """
    *nat
    :KUBE-SERVICES - [0:0]
    :KUBE-NODEPORTS - [0:0]
    :KUBE-SVC-A - [0:0]
    :KUBE-SVC-B - [0:0]
    :KUBE-SVC-AFF - [0:0]
    :KUBE-SEP-1 - [0:0]
    :KUBE-SEP-2 - [0:0]
    :KUBE-SEP-U - [0:0]
    :KUBE-MARK-MASQ - [0:0]
    :KUBE-POSTROUTING - [0:0]
    -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
    -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
    -A KUBE-SERVICES -m comment --comment "ns/a cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j KUBE-SVC-A
    -A KUBE-SERVICES -m comment --comment "ns/b cluster IP" -m tcp -p tcp -d 10.96.0.20 --dport 80 -j KUBE-SVC-B
    -A KUBE-SERVICES -m comment --comment "ns/aff cluster IP" -m tcp -p tcp -d 10.96.0.30 --dport 80 -j KUBE-SVC-AFF
    -A KUBE-SERVICES -m comment --comment "ns/dns cluster IP" -m udp -p udp -d 10.96.0.53 --dport 53 -j KUBE-SEP-U
    -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
    -A KUBE-NODEPORTS -m comment --comment ns/a -m tcp -p tcp --dport 30080 -j KUBE-SVC-A
    -A KUBE-SVC-A -m comment --comment "ns/a cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 ! -s 10.99.1.3/32 -j KUBE-MARK-MASQ
    -A KUBE-SVC-A -j KUBE-SEP-1
    -A KUBE-SVC-B -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-1
    -A KUBE-SVC-B -j KUBE-SEP-2
    -A KUBE-SVC-AFF -m recent --name KUBE-SEP-1 --rcheck --seconds 10800 --reap -j KUBE-SEP-1
    -A KUBE-SVC-AFF -m recent --name KUBE-SEP-2 --rcheck --seconds 10800 --reap -j KUBE-SEP-2
    -A KUBE-SVC-AFF -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-1
    -A KUBE-SVC-AFF -j KUBE-SEP-2
    -A KUBE-SEP-1 -s 10.99.2.2/32 -j KUBE-MARK-MASQ
    -A KUBE-SEP-1 -m recent --name KUBE-SEP-1 --set -m tcp -p tcp -j DNAT --to-destination 10.99.2.2:8080
    -A KUBE-SEP-2 -m recent --name KUBE-SEP-2 --set -m tcp -p tcp -j DNAT --to-destination 10.99.2.2:8081
    -A KUBE-SEP-U -m udp -p udp -j DNAT --to-destination 10.99.2.2:5353
    -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
    -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
    -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
    -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
    COMMIT
    *filter
    :KUBE-SERVICES - [0:0]
    :KUBE-FORWARD - [0:0]
    -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
    -A FORWARD -m comment --comment "kubernetes service portals" -m conntrack --ctstate NEW -j KUBE-SERVICES
    -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
    -A KUBE-SERVICES -m comment --comment "ns/none has no endpoints" -m tcp -p tcp -d 10.96.0.40 --dport 80 -j REJECT
    -A KUBE-SERVICES -m comment --comment "ns/local has no local endpoints" -m tcp -p tcp -d 10.96.0.41 --dport 80 -j DROP
    -A KUBE-SERVICES -m multiport -p tcp --dports 7000:7010,7100 -j REJECT --reject-with icmp-port-unreachable
    COMMIT

    """

    /// The rules with a TRACE rule in raw PREROUTING for packets from the client side, so the
    /// kernel reports each probe's rule path.
    static let tracedRules = "*raw\n-A PREROUTING -i n1 -j TRACE\nCOMMIT\n" + rules

    struct Probe {
        let proto: IPProtocol, src: String, sport: UInt16, dst: String, dport: UInt16
        var packet: Packet {
            Packet(source: try! IPAddress(parsing: src), destination: try! IPAddress(parsing: dst), proto: proto,
                   sourcePort: sport, destinationPort: dport, inInterface: "n1")
        }
    }

    /// Runs the probe on the kernel and in kdp (all paths), checks they agree, and returns the
    /// kdp path the kernel took (for following connections).
    @discardableResult
    func check(_ lab: KernelLab, _ tracer: Tracer, _ host: Netfilter.Host, _ p: Probe, traced: Bool = false,
               sourceLocation: SourceLocation = #_sourceLocation) throws -> TracePath? {
        try lab.flushConntrack()
        if traced { try lab.startTrace() }
        let outcome = try lab.probe(p.proto, from: p.src, p.sport, to: p.dst, p.dport)
        let kernelPath = traced ? lab.stopTrace() : []
        let kernel = try lab.conntrack()
        let trace = tracer.trace(packet: p.packet, host: host, options: TraceOptions(allPaths: true))
        if traced {
            #expect(!kernelPath.isEmpty, "the kernel traced \(p.packet.summary)", sourceLocation: sourceLocation)
            let kdpPaths = trace.paths.map(Self.kernelPath)
            #expect(kdpPaths.contains(kernelPath), "kernel rule path \(kernelPath) is one of kdp's \(kdpPaths)", sourceLocation: sourceLocation)
        }
        let entry = kernel.entries.first { $0.original.source == p.packet.source && $0.original.sourcePort == p.sport }
        switch outcome {
        case .refused:
            #expect(trace.paths.allSatisfy { $0.verdict == .rejected }, "kernel refused \(p.packet.summary); kdp: \(trace.paths.map { "\($0.verdict) \($0.decidedBy)" })", sourceLocation: sourceLocation)
            #expect(entry == nil, sourceLocation: sourceLocation)
            return trace.paths.first
        case .timeout:
            #expect(trace.paths.allSatisfy { $0.verdict == .dropped }, "kernel dropped \(p.packet.summary); kdp: \(trace.paths.map { "\($0.verdict) \($0.decidedBy)" })", sourceLocation: sourceLocation)
            #expect(entry == nil, sourceLocation: sourceLocation)
            return trace.paths.first
        case .connected, .sent:
            let e = try #require(entry, "kernel has a conntrack entry for \(p)", sourceLocation: sourceLocation)
            let matching = trace.paths.filter { path in
                path.verdict == .accepted && path.host.conntrack.lookup(e.original) != nil
                    && path.host.conntrack.entries.contains { $0.original == e.original && Self.sameReply($0.reply, e.reply) }
            }
            #expect(!matching.isEmpty, "kernel reply tuple \(e.reply) is one of kdp's paths: \(trace.paths.map { $0.host.conntrack.entries.map(\.reply) })",
                    sourceLocation: sourceLocation)
            return matching.first
        }
    }

    /// kdp's steps as the kernel's trace names them (nf_tables_core.c nft_do_chain: a rule
    /// that matched reports its verdict, CONTINUE when it has none; a base chain reports its
    /// policy).
    static func kernelPath(_ p: TracePath) -> [String] {
        p.steps.compactMap { s -> String? in
            guard let chain = s.chain else { return nil }
            if s.rule == nil {
                return s.action.hasPrefix("policy ") ? "\(s.table):\(chain):policy:\(s.action.dropFirst(7).uppercased())" : nil
            }
            let a = s.action
            let verdict: String
            if a.hasPrefix("jump ") { verdict = "JUMP:" + a.dropFirst(5) }
            else if a.hasPrefix("goto ") { verdict = "GOTO:" + a.dropFirst(5) }
            else if a == "return" { verdict = "RETURN" }
            else if a == "accept" || a.hasPrefix("dnat to") || a.hasPrefix("snat to") || a.hasPrefix("masquerade to") || a.hasPrefix("redirect to") { verdict = "ACCEPT" }
            else if a == "drop" || a.hasPrefix("reject") { verdict = "DROP" }
            else { verdict = "CONTINUE" }
            return "\(s.table):\(chain):\(verdict)"
        }
    }

    /// Reply tuples agree; a source port the kernel chose at random (remapped on a clash)
    /// agrees when both remapped it away from the original.
    static func sameReply(_ a: ConntrackTuple, _ b: ConntrackTuple) -> Bool {
        a.source == b.source && a.sourcePort == b.sourcePort && a.destination == b.destination && a.proto == b.proto
            && (a.destinationPort == b.destinationPort || (a.destinationPort != 0 && b.destinationPort != 0))
    }

    @Test(.enabled(if: KernelLab.enabled, "kernel check: needs CI=true and root (creates network namespaces)"))
    func kdpAgreesWithTheKernelOnKubeProxyShapedRules() throws {
        let lab = try KernelLab()
        defer { lab.close() }
        try lab.load(Self.tracedRules)
        let rs = try Ruleset.parse(text: Self.tracedRules, file: "kernel-check")
        let tracer = Tracer(ruleset: rs)
        let host = KernelLab.host

        // ClusterIP from a non-pod source: DNAT + masquerade to the node's n2 address, port kept.
        try check(lab, tracer, host, Probe(proto: .tcp, src: "10.99.1.2", sport: 41000, dst: "10.96.0.10", dport: 80), traced: true)
        // From the "pod" source: DNAT only, source kept.
        try check(lab, tracer, host, Probe(proto: .tcp, src: "10.99.1.3", sport: 41001, dst: "10.96.0.10", dport: 80), traced: true)
        // NodePort on the node's own address (addrtype LOCAL), masqueraded.
        try check(lab, tracer, host, Probe(proto: .tcp, src: "10.99.1.2", sport: 41002, dst: "10.99.1.1", dport: 30080), traced: true)
        // UDP DNAT.
        try check(lab, tracer, host, Probe(proto: .udp, src: "10.99.1.2", sport: 41003, dst: "10.96.0.53", dport: 53), traced: true)
        // REJECT (no endpoints), DROP (no local endpoints), multiport REJECT.
        try check(lab, tracer, host, Probe(proto: .tcp, src: "10.99.1.2", sport: 41004, dst: "10.96.0.40", dport: 80), traced: true)
        try check(lab, tracer, host, Probe(proto: .tcp, src: "10.99.1.2", sport: 41005, dst: "10.96.0.41", dport: 80), traced: true)
        try check(lab, tracer, host, Probe(proto: .tcp, src: "10.99.1.2", sport: 41006, dst: "10.96.0.50", dport: 7005), traced: true)
        // statistic: whatever the kernel picked is one of kdp's two paths, each 1/2.
        for i in 0..<4 {
            try check(lab, tracer, host, Probe(proto: .tcp, src: "10.99.1.2", sport: 41010 + UInt16(i), dst: "10.96.0.20", dport: 80), traced: true)
        }
    }

    @Test(.enabled(if: KernelLab.enabled, "kernel check: needs CI=true and root (creates network namespaces)"))
    func replyRulePathAndUnNATMatchTheKernel() throws {
        let lab = try KernelLab()
        defer { lab.close() }
        let rules = "*raw\n-A PREROUTING -i n1 -j TRACE\n-A PREROUTING -i n2 -j TRACE\nCOMMIT\n" + Self.rules
        try lab.load(rules)
        let tracer = Tracer(ruleset: try Ruleset.parse(text: rules, file: "reply"))
        let p = Probe(proto: .tcp, src: "10.99.1.2", sport: 41500, dst: "10.96.0.10", dport: 80)
        try lab.flushConntrack()
        try lab.startTrace()
        #expect(try lab.probe(.tcp, from: p.src, p.sport, to: p.dst, p.dport) == .connected)
        let packets = lab.stopTracePackets()
        let kernelSyn = try #require(packets.first { $0.inInterface == "n1" })
        let kernelSynAck = try #require(packets.first { $0.inInterface == "n2" })
        let first = try #require(tracer.trace(packet: p.packet, host: KernelLab.host).paths.first)
        #expect(Self.kernelPath(first) == kernelSyn.events)
        // The server answers the masqueraded, DNATed connection.
        var reply = Packet(source: KubeProxyExample.ip("10.99.2.2"), destination: first.finalPacket.source, proto: .tcp,
                           sourcePort: 8080, destinationPort: first.finalPacket.sourcePort, inInterface: "n2")
        reply.tcpFlags = TCPFlag.syn | TCPFlag.ack
        let back = try #require(tracer.trace(packet: reply, host: first.host).paths.first)
        #expect(Self.kernelPath(back) == kernelSynAck.events, "kernel \(kernelSynAck.events), kdp \(Self.kernelPath(back))")
        #expect(back.finalPacket.source == KubeProxyExample.ip("10.96.0.10") && back.finalPacket.sourcePort == 80)
        #expect(back.finalPacket.destination == KubeProxyExample.ip("10.99.1.2") && back.finalPacket.destinationPort == 41500)
    }

    @Test(.enabled(if: KernelLab.enabled, "kernel check: needs CI=true and root (creates network namespaces)"))
    func localhostDNATLeavesOnlyWithRouteLocalnet() throws {
        let lab = try KernelLab()
        defer { lab.close() }
        let rules = """
        *nat
        -A OUTPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 3001 -j DNAT --to-destination 10.99.2.2:8080
        -A POSTROUTING -o n2 -j MASQUERADE
        COMMIT

        """
        try lab.load(rules)
        let tracer = Tracer(ruleset: try Ruleset.parse(text: rules, file: "localnet"))
        for (i, localnet) in [false, true].enumerated() {
            try lab.exec(lab.node, "sysctl -qw net.ipv4.conf.all.route_localnet=\(localnet ? 1 : 0)")
            try lab.flushConntrack()
            let sport = UInt16(46000 + i)
            let outcome = try lab.probe(.tcp, from: "127.0.0.1", sport, to: "127.0.0.1", 3001, in: lab.node)
            var host = KernelLab.host
            host.routeLocalnet = localnet
            let p = Probe(proto: .tcp, src: "127.0.0.1", sport: sport, dst: "127.0.0.1", dport: 3001)
            var packet = p.packet
            packet.inInterface = nil
            let path = tracer.trace(packet: packet, host: host).paths[0]
            #expect((outcome == .connected) == (path.verdict == .accepted), "route_localnet=\(localnet): kernel \(outcome), kdp \(path.verdict)")
            if outcome == .connected {
                let e = try #require(try lab.conntrack().entries.first { $0.original.sourcePort == sport })
                #expect(path.host.conntrack.entries.first?.reply == e.reply)
            }
        }
    }

    /// MASQUERADE out of `lo` (a node reaching a Service whose endpoint is itself, in IPVS mode)
    /// cannot use 127.0.0.1, which is host-scoped: inet_select_addr falls back to the first
    /// device with a universe-scoped address, here n1's, even towards n2's address.
    @Test(.enabled(if: KernelLab.enabled, "kernel check: needs CI=true and root (creates network namespaces)"))
    func masqueradeOutOfLoopbackTakesTheFirstDevicesAddress() throws {
        let lab = try KernelLab()
        defer { lab.close() }
        let rules = """
        *nat
        -A POSTROUTING -o lo -p udp -j MASQUERADE
        COMMIT

        """
        try lab.load(rules)
        let tracer = Tracer(ruleset: try Ruleset.parse(text: rules, file: "masq-lo"))
        for (i, dst) in ["10.99.1.1", "10.99.2.1"].enumerated() {
            let sport = UInt16(47000 + i)
            #expect(try lab.probe(.udp, from: "127.0.0.1", sport, to: dst, 9999, in: lab.node) == .sent)
            let kernel = try #require(try lab.conntrack().entries.first { $0.original.sourcePort == sport })
            let packet = Packet(source: try IPAddress(parsing: "127.0.0.1"), destination: try IPAddress(parsing: dst), proto: .udp,
                                sourcePort: sport, destinationPort: 9999, tcpFlags: 0)
            let path = tracer.trace(packet: packet, host: KernelLab.host).paths[0]
            #expect(kernel.reply.destination.description == "10.99.1.1")
            #expect(path.host.conntrack.entries.first?.reply == kernel.reply, "to \(dst): kernel \(kernel.reply)")
        }
    }

    @Test(.enabled(if: KernelLab.enabled, "kernel check: needs CI=true and root (creates network namespaces)"))
    func kdpFollowsTheKernelThroughAffinityAndPortClashes() throws {
        let lab = try KernelLab()
        defer { lab.close() }
        try lab.load(Self.rules)
        let tracer = Tracer(ruleset: try Ruleset.parse(text: Self.rules, file: "kernel-check"))
        var host = KernelLab.host

        // recent: the first connection picks an endpoint; later ones from the same client stick.
        let first = try #require(try check(lab, tracer, host, Probe(proto: .tcp, src: "10.99.1.2", sport: 42000, dst: "10.96.0.30", dport: 80)))
        host.recent = first.host.recent
        for i in 1...3 {
            let p = Probe(proto: .tcp, src: "10.99.1.2", sport: 42000 + UInt16(i), dst: "10.96.0.30", dport: 80)
            let again = try #require(try check(lab, tracer, host, p))
            let t = tracer.trace(packet: p.packet, host: host, options: TraceOptions(allPaths: true))
            #expect(t.paths.count == 1, "affinity leaves one path")
            #expect(again.dnat == first.dnat)
            host.recent = again.host.recent
        }

        // MASQUERADE keeps the source port unless it collides: two clients, one source port.
        try lab.flushConntrack()
        let a = Probe(proto: .tcp, src: "10.99.1.2", sport: 43000, dst: "10.96.0.10", dport: 80)
        let b = Probe(proto: .tcp, src: "10.99.1.3", sport: 43000, dst: "10.99.1.1", dport: 30080)
        #expect(try lab.probe(.tcp, from: a.src, a.sport, to: a.dst, a.dport) == .connected)
        #expect(try lab.probe(.tcp, from: b.src, b.sport, to: b.dst, b.dport) == .connected)
        let kernel = try lab.conntrack()
        let ka = try #require(kernel.entries.first { $0.original.sourcePort == 43000 && $0.original.source == a.packet.source })
        let kb = try #require(kernel.entries.first { $0.original.sourcePort == 43000 && $0.original.source == b.packet.source })
        var kdpHost = KernelLab.host
        let ta = tracer.trace(packet: a.packet, host: kdpHost).paths[0]
        kdpHost = ta.host
        let tb = tracer.trace(packet: b.packet, host: kdpHost).paths[0]
        #expect(ka.reply.destinationPort == 43000)
        #expect(ta.finalPacket.sourcePort == 43000)
        #expect((kb.reply.destinationPort == 43000) == (tb.finalPacket.sourcePort == 43000),
                "kernel remapped to \(kb.reply.destinationPort), kdp to \(tb.finalPacket.sourcePort)")
        #expect(kb.reply.destination == tb.finalPacket.source)
    }
}

/// Matches and targets beyond kube-proxy's core set, each probe compared on verdict, conntrack
/// tuples and the kernel's rule path: CT --notrack and ctstate UNTRACKED, MARK/CONNMARK with
/// mark and connmark matches, interface wildcards, --syn and --tcp-flags, source-port ranges,
/// negated protocol, multiport, goto and RETURN.
@Suite(.serialized) struct MoreMatchesKernelCheckTests {
    static let rules = """
    *raw
    -A PREROUTING -i n1 -j TRACE
    -A PREROUTING -i n+ -p tcp -m tcp --dport 9000 -j CT --notrack
    COMMIT
    *mangle
    -A PREROUTING -i n1 -p tcp -m tcp --sport 43000:43099 -j MARK --set-xmark 0x10/0xff
    -A PREROUTING -m mark --mark 0x10/0xff -j CONNMARK --save-mark
    COMMIT
    *nat
    :GO - [0:0]
    :BACK - [0:0]
    -A PREROUTING -d 10.96.1.1/32 -p tcp -m tcp --dport 80 -g GO
    -A PREROUTING -d 10.96.1.2/32 -p tcp -m multiport --dports 81,82:85 -j BACK
    -A PREROUTING -d 10.96.1.2/32 ! -p udp -j BACK
    -A PREROUTING -d 10.96.1.2/32 -p tcp -j DNAT --to-destination 10.99.2.2:8081
    -A GO -p tcp -m connmark --mark 0x10/0xff -j DNAT --to-destination 10.99.2.2:8081
    -A GO -p tcp -m tcp --tcp-flags SYN,RST,ACK,FIN SYN -j DNAT --to-destination 10.99.2.2:8080
    -A BACK -m mark ! --mark 0x10/0xff -j RETURN
    -A BACK -p tcp -j DNAT --to-destination 10.99.2.2:8080
    COMMIT
    *filter
    :FORWARD DROP [0:0]
    -A FORWARD -m conntrack --ctstate UNTRACKED -j REJECT
    -A FORWARD -i n1 -o n+ -p tcp -m tcp --syn -j ACCEPT
    -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    COMMIT

    """

    @Test(.enabled(if: KernelLab.enabled, "kernel check: needs CI=true and root (creates network namespaces)"))
    func kdpAgreesWithTheKernelOnMoreMatchesAndTargets() throws {
        let lab = try KernelLab()
        defer { lab.close() }
        try lab.load(Self.rules)
        let tracer = Tracer(ruleset: try Ruleset.parse(text: Self.rules, file: "more"))
        let host = KernelLab.host
        let checks = KernelCheckTests()
        typealias P = KernelCheckTests.Probe
        for (sport, dst, dport) in [(43001, "10.96.1.1", 80), (44001, "10.96.1.1", 80), (43002, "10.96.1.2", 83),
                                    (44002, "10.96.1.2", 83), (44003, "10.96.1.2", 86), (44004, "10.99.2.2", 9000)] as [(UInt16, String, UInt16)] {
            try checks.check(lab, tracer, host, P(proto: .tcp, src: "10.99.1.2", sport: sport, dst: dst, dport: dport), traced: true)
        }
    }
}

/// Upstream kube-proxy's own rules (TestOverallIPTablesRules, nfacct removed as this kernel
/// lacks it) with kube-proxy's jumps from the built-in chains, loaded into the lab's node,
/// which also owns the example's node IP 192.168.0.2. The server namespace owns the endpoint
/// addresses 10.180.0.1-5 and serves port 80; clients probe from 10.99.1.2 (inside the
/// example's cluster CIDR 10.0.0.0/8, so "a pod"), 203.0.113.5 (in svc5's LB source range) and
/// 198.51.100.7 (outside it).
@Suite(.serialized) struct KubeProxyKernelCheckTests {
    @Test(.enabled(if: KernelLab.enabled, "kernel check: needs CI=true and root (creates network namespaces)"))
    func kdpAgreesWithTheKernelOnUpstreamKubeProxyRules() throws {
        let lab = try KernelLab()
        defer { lab.close() }
        try lab.exec(lab.node, "ip addr add 192.168.0.2/32 dev n1 && ip route add 10.180.0.0/24 via 10.99.2.2 dev n2 && ip route add 203.0.113.0/24 via 10.99.1.2 dev n1 && ip route add 198.51.100.0/24 via 10.99.1.2 dev n1")
        try lab.exec(lab.server, "for i in 1 2 3 4 5; do ip addr add 10.180.0.$i/32 dev s0; done")
        try lab.exec(lab.client, "ip addr add 203.0.113.5/32 dev c0 && ip addr add 198.51.100.7/32 dev c0")
        try lab.addServer(port: 80)
        let rules = "*raw\n-A PREROUTING -i n1 -j TRACE\nCOMMIT\n" + KubeProxyExample.rules(nfacct: false)
        try lab.load(rules)
        let tracer = Tracer(ruleset: try Ruleset.parse(text: rules, file: "upstream"))
        let ip = KubeProxyExample.ip
        let host = Netfilter.Host(name: "node", interfaces: [
            Interface(name: "n1", addresses: [(ip("10.99.1.1"), 24), (ip("192.168.0.2"), 32)]),
            Interface(name: "n2", addresses: [(ip("10.99.2.1"), 24)]),
        ], routes: [
            Route(destination: try Prefix(parsing: "10.180.0.0/24"), device: "n2", gateway: ip("10.99.2.2")),
            Route(destination: try Prefix(parsing: "203.0.113.0/24"), device: "n1", gateway: ip("10.99.1.2")),
            Route(destination: try Prefix(parsing: "198.51.100.0/24"), device: "n1", gateway: ip("10.99.1.2")),
        ])
        let checks = KernelCheckTests()
        typealias P = KernelCheckTests.Probe
        var sport: UInt16 = 45000
        func probe(_ src: String, _ dst: String, _ dport: UInt16) throws {
            sport += 1
            try checks.check(lab, tracer, host, P(proto: .tcp, src: src, sport: sport, dst: dst, dport: dport), traced: true)
        }
        try probe("203.0.113.5", "172.30.0.41", 80)    // ClusterIP from outside: DNAT + masquerade
        try probe("10.99.1.2", "172.30.0.44", 80)      // from a pod, two endpoints (statistic)
        try probe("10.99.1.2", "172.30.0.44", 80)
        try probe("203.0.113.5", "172.30.0.46", 80)    // no endpoints: REJECT in filter
        try probe("203.0.113.5", "192.168.0.2", 3001)  // eTP=Local NodePort, no local endpoints: DROP
        try probe("10.99.1.2", "192.168.0.2", 3001)    // the same NodePort from a pod: short-circuit to the service
        try probe("203.0.113.5", "5.6.7.8", 80)        // LB with source ranges, allowed (recent --set)
        try probe("198.51.100.7", "5.6.7.8", 80)       // LB, source not allowed: DROP in KUBE-PROXY-FIREWALL
        try probe("203.0.113.5", "192.168.99.22", 80)  // externalIP, eTP=Local without local endpoints: DROP
        try probe("203.0.113.5", "1.2.3.4", 80)        // LB IP of the same service: DROP
        try probe("203.0.113.5", "192.168.99.33", 80)  // externalIP, eTP=Cluster: DNAT + masquerade
    }
}

/// kdp refuses exactly what the kernel refuses: each snippet is loaded with the real
/// iptables-restore into its own fresh namespace, and parsed by kdp; both must accept or both
/// reject.
@Suite(.serialized) struct RestoreAcceptanceKernelCheckTests {
    static let cases: [(TableName, String)] = [
        (.filter, "-A INPUT -p tcp --dport 80 -j ACCEPT"),
        (.filter, "-A INPUT -m tcp -p tcp -d 10.0.0.1 --dport 80 -j ACCEPT"),
        (.filter, "-A INPUT ! -s 10.0.0.0/8 -i eth+ -j DROP"),
        (.filter, "-A INPUT -m conntrack --ctstate NEW,ESTABLISHED,DNAT -j ACCEPT"),
        (.filter, "-A INPUT -m statistic --mode nth --every 3 --packet 2 -j ACCEPT"),
        (.filter, "-A INPUT -m recent --name X --rcheck --seconds 10 --reap -j ACCEPT"),
        (.filter, "-A INPUT -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT"),
        (.filter, "-A INPUT -p udp -m multiport --dports 53,5353:5360 -j ACCEPT"),
        (.filter, "-A INPUT -m comment --comment \"a b\" -m mark ! --mark 0x1/0x1 -j ACCEPT"),
        (.filter, "-A INPUT -j REJECT --reject-with icmp-host-prohibited"),
        (.filter, "-A INPUT -p tcp -j REJECT --reject-with tcp-reset"),
        (.filter, "-A INPUT -p icmp -m icmp --icmp-type echo-request -j ACCEPT"),
        (.filter, "-A INPUT -j LOG --log-prefix \"kdp: \""),
        (.nat, "-A PREROUTING -j MARK --or-mark 0x4000"),
        (.nat, "-A POSTROUTING -j MASQUERADE --random-fully"),
        (.nat, "-A OUTPUT -p tcp -j DNAT --to-destination 10.0.0.1:8080"),
        (.raw, "-A PREROUTING -p udp -m udp --dport 53 -j CT --notrack"),
        (.filter, "-A INPUT -j REJECT --reject-with tcp-reset"),
        (.filter, "-A INPUT -p tcp -j DNAT --to-destination 1.2.3.4:80"),
        (.nat, "-A POSTROUTING -p tcp -j DNAT --to-destination 1.2.3.4:80"),
        (.nat, "-A PREROUTING -j MASQUERADE"),
        (.nat, "-A OUTPUT -j SNAT --to-source 1.2.3.4"),
        (.nat, ":X - [0:0]\n-A X -p tcp -j DNAT --to-destination 1.2.3.4:80\n-A POSTROUTING -j X"),
        (.filter, "-A INPUT -j CT --notrack"),
        (.raw, "-A PREROUTING -j REJECT"),
        (.mangle, "-A PREROUTING -p tcp -j REJECT"),
        (.nat, "-A PREROUTING -j DNAT --to-destination 1.2.3.4:80"),
        (.filter, "-A INPUT -m tcp --dport 80 -j ACCEPT"),
        (.filter, "-A INPUT --dport 80 -j ACCEPT"),
        (.filter, "-A INPUT -m recent --reap -j ACCEPT"),
        (.filter, "-A INPUT -m recent --name X --rcheck --set -j ACCEPT"),
        (.filter, "-A INPUT -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 -j ACCEPT"),
        (.filter, "-A INPUT -m statistic --mode nth --every 3 --packet 3 -j ACCEPT"),
        (.filter, "-A INPUT -m statistic --mode random --probability 0.5 --every 3 -j ACCEPT"),
        (.filter, "-A INPUT -i eth0 -i eth1 -j ACCEPT"),
        (.filter, "-A INPUT -p tcp --dport 80 --dport 81 -j ACCEPT"),
        (.filter, "-A INPUT -m addrtype -j ACCEPT"),
        (.filter, "-A INPUT -m conntrack -j ACCEPT"),
        (.filter, "-A INPUT -p tcp --syn --tcp-flags SYN SYN -j ACCEPT"),
        (.filter, "-A INPUT -o eth0 -j ACCEPT"),
        (.filter, "-A OUTPUT -i eth0 -j ACCEPT"),
        (.filter, "-A OUTPUT -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT"),
        (.filter, "-A INPUT -s 10.0.0.256 -j ACCEPT"),
        (.filter, "-A INPUT -s 10.0.0.1/255.255.0.255 -j ACCEPT"),
        (.filter, "-A INPUT -d 10.0.0.0/255.0.0.0 -j ACCEPT"),
        (.filter, "-A INPUT -j NOSUCHCHAIN"),
        (.filter, "-A INPUT -m conntrack --ctstate BOGUS -j ACCEPT"),
        (.filter, "-A INPUT -m statistic --mode random --probability 1.5 -j ACCEPT"),
        // Issue 12: each NAT extension's own parser (an option at most once, ports), kubernetes#114537.
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination :0 --persistent --to-destination :0 --persistent --to-destination 0.0.0.0:0"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:80 --to-destination 1.2.3.5:80"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:80 --random --random"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:80 --persistent --persistent"),
        (.nat, "-A POSTROUTING -p tcp -j SNAT --to-source 1.2.3.4 --to-source 1.2.3.5"),
        (.nat, "-A POSTROUTING -p tcp -j MASQUERADE --to-ports 80 --to-ports 90"),
        (.nat, "-A POSTROUTING -p tcp -j MASQUERADE --random --random"),
        (.nat, "-A PREROUTING -p tcp -j REDIRECT --to-ports 80 --to-ports 81"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination :0"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:0"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:80-70"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:65536"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4/24"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:80 --random-fully"),
        (.nat, "-A PREROUTING -j DNAT"),
        (.nat, "-A PREROUTING -j DNAT --to-destination 1.2.3.4:80"),
        (.nat, "-A POSTROUTING -j MASQUERADE --to-ports 0"),
        (.nat, "-A POSTROUTING -p tcp -j MASQUERADE --to-ports 0"),
        (.nat, "-A PREROUTING -p tcp -j REDIRECT --to-ports 8x"),
        (.nat, "-A PREROUTING -p tcp -j REDIRECT --random-fully"),
        (.nat, "-A POSTROUTING -p tcp -j MASQUERADE --to-ports 80:90"),
        (.nat, "-A POSTROUTING -p tcp -j MASQUERADE --to-ports 80-"),
        (.nat, "-A POSTROUTING -p tcp -j MASQUERADE --to-ports 0x10"),
        (.nat, "-A PREROUTING -p tcp -j REDIRECT --to-ports 80-90/85"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination [1.2.3.4]:80"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:80:90"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:080"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:0x50"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:80-"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination -1.2.3.4"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4-"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4-1.2.3.5:80-81"),
        (.nat, "-A PREROUTING -p tcp -j DNAT --to 1.2.3.4"),
        (.nat, "-A POSTROUTING -p tcp -j SNAT --to 1.2.3.4 --rand"),
        // A built-in chain declared with '-' keeps its policy.
        (.filter, ":INPUT - [0:0]\n-A INPUT -j ACCEPT"),
        // -m owner: libxt_owner's parser, xt_owner's checkentry and hooks (OUTPUT, POSTROUTING).
        (.filter, "-A OUTPUT -m owner --uid-owner 0 -j ACCEPT"),
        (.filter, "-A OUTPUT -m owner ! --uid-owner 1000-2000 ! --gid-owner 0x10 ! --socket-exists -j ACCEPT"),
        (.filter, "-A OUTPUT -m owner --gid-owner 3 --suppl-groups -j ACCEPT"),
        (.nat, "-A POSTROUTING -m owner ! --uid-owner 0 -j MASQUERADE"),
        (.filter, "-A INPUT -m owner --uid-owner 0 -j ACCEPT"),
        (.filter, "-A FORWARD -m owner --socket-exists -j ACCEPT"),
        (.filter, ":X - [0:0]\n-A INPUT -j X\n-A X -m owner --uid-owner 0 -j ACCEPT"),
        (.mangle, "-A PREROUTING -m owner --uid-owner 0 -j ACCEPT"),
        (.filter, "-A OUTPUT -m owner -j ACCEPT"),
        (.filter, "-A OUTPUT -m owner --uid-owner 5-3 -j ACCEPT"),
        (.filter, "-A OUTPUT -m owner --uid-owner 4294967295 -j ACCEPT"),
        (.filter, "-A OUTPUT -m owner --uid-owner -1 -j ACCEPT"),
        (.filter, "-A OUTPUT -m owner --uid-owner 0 --uid-owner 1 -j ACCEPT"),
        (.filter, "-A OUTPUT -m owner --suppl-groups -j ACCEPT"),
    ]

    @Test(.enabled(if: KernelLab.enabled, "kernel check: needs CI=true and root (creates network namespaces)"))
    func kdpRefusesExactlyWhatIPTablesRestoreRefuses() throws {
        for (table, body) in Self.cases {
            let text = "*\(table.rawValue)\n\(body)\nCOMMIT\n"
            let ns = try NetworkNamespace("restore")
            defer { ns.delete() }
            let kernelAccepts = (try? ns.sh("iptables-restore <<'KDP_RULES'\n\(text)KDP_RULES\n")) != nil
            var kdpError: RulesetParseError?
            do { _ = try Ruleset.parse(text: text, file: "case") } catch { kdpError = error }
            #expect(kernelAccepts == (kdpError == nil),
                    "\(table.rawValue): \(body) — kernel \(kernelAccepts ? "accepts" : "refuses"), kdp \(kdpError.map { "refuses: \($0)" } ?? "accepts")")
        }
    }
}

/// The same checks over IPv6 with ip6tables-restore: DNAT to `[addr]:port`, MASQUERADE,
/// statistic, and REJECT with ip6tables' default spelling.
@Suite(.serialized) struct IPv6KernelCheckTests {
    static let rules = """
    *nat
    :KUBE-SERVICES - [0:0]
    :KUBE-SVC-A - [0:0]
    -A PREROUTING -j KUBE-SERVICES
    -A KUBE-SERVICES -d fd00:96::10/128 -p tcp -m tcp --dport 80 -j KUBE-SVC-A
    -A KUBE-SVC-A -p tcp -m statistic --mode random --probability 0.50000000000 -j DNAT --to-destination [fd99:2::2]:9080
    -A KUBE-SVC-A -p tcp -j DNAT --to-destination [fd99:2::2]:9081
    -A POSTROUTING -o n2 -j MASQUERADE
    COMMIT
    *filter
    :KUBE-SERVICES - [0:0]
    -A FORWARD -m conntrack --ctstate NEW -j KUBE-SERVICES
    -A KUBE-SERVICES -d fd00:96::40/128 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp6-port-unreachable
    COMMIT

    """

    @Test(.enabled(if: KernelLab.enabled, "kernel check: needs CI=true and root (creates network namespaces)"))
    func kdpAgreesWithTheKernelOverIPv6() throws {
        let lab = try KernelLab()
        defer { lab.close() }
        try lab.exec(lab.node, "ip -6 addr add fd99:1::1/64 dev n1 nodad && ip -6 addr add fd99:2::1/64 dev n2 nodad && sysctl -qw net.ipv6.conf.all.forwarding=1")
        try lab.exec(lab.client, "ip -6 addr add fd99:1::2/64 dev c0 nodad && ip -6 route add default via fd99:1::1")
        try lab.exec(lab.server, "ip -6 addr add fd99:2::2/64 dev s0 nodad && ip -6 route add default via fd99:2::1")
        // Ports the IPv4 servers (0.0.0.0:8080/8081) do not hold: a dual-stack bind would clash.
        try lab.addServer(port: 9080, ipv6: true)
        try lab.addServer(port: 9081, ipv6: true)
        try lab.load(Self.rules, command: "ip6tables-restore")
        let tracer = Tracer(ruleset: try Ruleset.parse(text: Self.rules, file: "v6"))
        let ip = KubeProxyExample.ip
        let host = Netfilter.Host(name: "node", interfaces: [
            Interface(name: "n1", addresses: [(ip("fd99:1::1"), 64)]),
            Interface(name: "n2", addresses: [(ip("fd99:2::1"), 64)]),
        ])
        let checks = KernelCheckTests()
        typealias P = KernelCheckTests.Probe
        for i in 0..<3 {
            try checks.check(lab, tracer, host, P(proto: .tcp, src: "fd99:1::2", sport: 47000 + UInt16(i), dst: "fd00:96::10", dport: 80))
        }
        try checks.check(lab, tracer, host, P(proto: .tcp, src: "fd99:1::2", sport: 47010, dst: "fd00:96::40", dport: 80))
    }
}
