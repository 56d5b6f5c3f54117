import Foundation
import Testing
@testable import Netfilter
import TestSupport
import Wire

/// Traces through upstream's TestOverallIPTablesRules ruleset, with the jumps kube-proxy
/// installs in the built-in chains (kube-proxy-rules.md §1.3, in their prepended order).
enum KubeProxyExample {
    static let builtinJumps = UpstreamKubeProxyRules.builtinJumps

    /// The fixture with the jumps placed in its own table sections.
    static func rules(nfacct: Bool = true) -> String { UpstreamKubeProxyRules.withBuiltinJumps(nfacct: nfacct) }

    static func tracer(compiled: Bool = false) throws -> Tracer {
        let rs = try Ruleset.parse(text: rules(), file: "example")
        return Tracer(ruleset: rs, compiled: compiled)
    }

    static let nodeIP = IPAddress.v4(IPv4Address(192, 168, 0, 2))
    static var host: Netfilter.Host {
        var h = Host.simple(localAddresses: [nodeIP])
        h.routeLocalnet = true
        return h
    }

    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    static func tcp(_ src: String, _ sport: UInt16, _ dst: String, _ dport: UInt16, in iface: String? = "eth0", flags: UInt8 = TCPFlag.syn) -> Packet {
        Packet(source: ip(src), destination: ip(dst), proto: .tcp, sourcePort: sport, destinationPort: dport, tcpFlags: flags, inInterface: iface)
    }
}

@Suite struct KubeProxyTraceTests {
    @Test func externalClientToClusterIPIsDNATedMasqueradedAndForwarded() throws {
        let t = try KubeProxyExample.tracer()
        let trace = t.trace(packet: KubeProxyExample.tcp("203.0.113.200", 40000, "172.30.0.41", 80), host: KubeProxyExample.host)
        #expect(trace.paths.count == 1)
        let p = try #require(trace.paths.first)
        #expect(p.verdict == .accepted)
        #expect(p.dnat?.description == "10.180.0.1:80")
        #expect(p.masquerade)
        #expect(p.snat?.description == "192.168.0.2:40000")
        #expect(p.deliveredTo == .out(interface: "eth0"))
        #expect(p.finalPacket.mark == 0, "KUBE-POSTROUTING clears the masquerade bit with --xor-mark")
        #expect(p.steps.contains { $0.chain == "KUBE-MARK-MASQ" && $0.action.hasPrefix("mark set 0x4000") })
    }

    @Test func podClientToClusterIPIsNotMasqueraded() throws {
        let t = try KubeProxyExample.tracer()
        let trace = t.trace(packet: KubeProxyExample.tcp("10.180.0.9", 40000, "172.30.0.41", 80, in: "cni0"), host: KubeProxyExample.host)
        let p = try #require(trace.paths.first)
        #expect(p.dnat?.description == "10.180.0.1:80")
        #expect(!p.masquerade)
        #expect(p.snat == nil)
    }

    @Test func allPathsSplitsTwoEndpointsEvenly() throws {
        let t = try KubeProxyExample.tracer()
        let trace = t.trace(packet: KubeProxyExample.tcp("10.180.0.9", 40000, "172.30.0.44", 80, in: "cni0"),
                            host: KubeProxyExample.host, options: TraceOptions(allPaths: true))
        #expect(trace.paths.count == 2)
        #expect(Set(trace.paths.compactMap { $0.dnat?.description }) == ["10.180.0.4:80", "10.180.0.5:80"])
        for p in trace.paths { #expect(abs(p.probability - 0.5) < 1e-12) }
        #expect(abs(trace.paths.map(\.probability).reduce(0, +) - 1) < 1e-12)
    }

    @Test func seededModeRepeatsAndSpreadsOverEndpoints() throws {
        let t = try KubeProxyExample.tracer()
        let pkt = KubeProxyExample.tcp("10.180.0.9", 40000, "172.30.0.44", 80, in: "cni0")
        let a = t.trace(packet: pkt, host: KubeProxyExample.host, options: TraceOptions(seed: 7))
        let b = t.trace(packet: pkt, host: KubeProxyExample.host, options: TraceOptions(seed: 7))
        #expect(a.paths[0].dnat == b.paths[0].dnat)
        var counts: [String: Int] = [:]
        for seed in 0..<400 as Range<UInt64> {
            let tr = t.trace(packet: pkt, host: KubeProxyExample.host, options: TraceOptions(seed: seed, recordSteps: false))
            counts[tr.paths[0].dnat?.description ?? "none", default: 0] += 1
        }
        #expect(counts.count == 2)
        #expect(counts.values.allSatisfy { $0 > 140 })
    }

    @Test func serviceWithoutEndpointsIsRejectedInFilter() throws {
        let t = try KubeProxyExample.tracer()
        let trace = t.trace(packet: KubeProxyExample.tcp("203.0.113.200", 40000, "172.30.0.46", 80), host: KubeProxyExample.host)
        let p = try #require(trace.paths.first)
        #expect(p.verdict == .rejected)
        #expect(p.decidedBy.description.contains("ns6/svc6:p80 has no endpoints"))
        #expect(p.reason == "ns6/svc6:p80 has no endpoints")
        #expect(p.dnat == nil)
    }

    @Test func externalNodePortWithoutLocalEndpointsIsDropped() throws {
        let t = try KubeProxyExample.tracer()
        let trace = t.trace(packet: KubeProxyExample.tcp("203.0.113.200", 40000, "192.168.0.2", 3001), host: KubeProxyExample.host)
        let p = try #require(trace.paths.first)
        #expect(p.verdict == .dropped)
        #expect(p.decidedBy.description.hasPrefix("-A KUBE-EXTERNAL-SERVICES"))
        #expect(p.dnat == nil)
    }

    @Test func localhostNodePortIsDNATedAndMasqueradedToTheNodeAddress() throws {
        let t = try KubeProxyExample.tracer()
        let trace = t.trace(packet: KubeProxyExample.tcp("127.0.0.1", 40000, "127.0.0.1", 3001, in: nil), host: KubeProxyExample.host)
        let p = try #require(trace.paths.first)
        #expect(p.verdict == .accepted)
        #expect(p.dnat?.description == "10.180.0.2:80")
        #expect(p.snat?.description == "192.168.0.2:40000")
        #expect(p.deliveredTo == .out(interface: "eth0"))
    }

    @Test func loadBalancerSourceRangesDropOtherSourcesInFilter() throws {
        let t = try KubeProxyExample.tracer()
        let allowed = t.trace(packet: KubeProxyExample.tcp("203.0.113.5", 40000, "5.6.7.8", 80), host: KubeProxyExample.host)
        #expect(allowed.paths[0].dnat?.description == "10.180.0.3:80")
        #expect(allowed.paths[0].verdict == .accepted)
        let blocked = t.trace(packet: KubeProxyExample.tcp("198.51.100.1", 40000, "5.6.7.8", 80), host: KubeProxyExample.host)
        #expect(blocked.paths[0].verdict == .dropped)
        #expect(blocked.paths[0].decidedBy.description.hasPrefix("-A KUBE-PROXY-FIREWALL"))
    }

    @Test func replyIsUnNATedFromConntrackWithoutWalkingNatChains() throws {
        let t = try KubeProxyExample.tracer()
        let first = t.trace(packet: KubeProxyExample.tcp("203.0.113.200", 40000, "172.30.0.41", 80), host: KubeProxyExample.host)
        let host = first.paths[0].host
        #expect(host.conntrack.entries.count == 1)
        let e = host.conntrack.entries[0]
        #expect(e.reply.source == KubeProxyExample.ip("10.180.0.1"))
        #expect(e.reply.destination == KubeProxyExample.nodeIP)
        let reply = t.trace(packet: KubeProxyExample.tcp("10.180.0.1", 80, "192.168.0.2", 40000, flags: TCPFlag.syn | TCPFlag.ack),
                            host: host)
        let p = try #require(reply.paths.first)
        #expect(p.verdict == .accepted)
        #expect(p.finalPacket.source == KubeProxyExample.ip("172.30.0.41"))
        #expect(p.finalPacket.sourcePort == 80)
        #expect(p.finalPacket.destination == KubeProxyExample.ip("203.0.113.200"))
        #expect(p.finalPacket.destinationPort == 40000)
        #expect(!p.steps.contains { $0.table == "nat" && $0.chain != nil }, "nat chains see only the first packet")
        #expect(p.decidedBy.description.contains("kubernetes forwarding conntrack rule"))
    }

    @Test func secondPacketOfAConnectionKeepsItsEndpoint() throws {
        let t = try KubeProxyExample.tracer()
        let pkt = KubeProxyExample.tcp("10.180.0.9", 40000, "172.30.0.44", 80, in: "cni0")
        let first = t.trace(packet: pkt, host: KubeProxyExample.host, options: TraceOptions(seed: 3))
        let chosen = first.paths[0].dnat
        for seed in 10..<20 as Range<UInt64> {
            // A retransmitted SYN (SYN_SENT stays SYN_SENT; a bare ACK before any SYN-ACK would
            // be INVALID, tcp_conntracks' sSS -> sIV, and get no NAT).
            let again = t.trace(packet: pkt, host: first.paths[0].host, options: TraceOptions(seed: seed))
            #expect(SocketAddress(again.paths[0].finalPacket.destination, port: again.paths[0].finalPacket.destinationPort) == chosen)
        }
    }

    @Test func traceRendersJSONWithNullsAndTextStory() throws {
        let t = try KubeProxyExample.tracer()
        let trace = t.trace(packet: KubeProxyExample.tcp("203.0.113.200", 40000, "172.30.0.46", 80), host: KubeProxyExample.host)
        let json = trace.json()
        #expect(json.contains("\"verdict\" : \"rejected\""))
        #expect(json.contains("\"dnat\" : null"))
        #expect(json.contains("\"decided_by\""))
        let text = trace.text()
        #expect(text.contains("REJECTED"))
        #expect(text.contains("why: ns6/svc6:p80 has no endpoints"))
    }
}
