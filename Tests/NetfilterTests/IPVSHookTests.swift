import Testing
@testable import Netfilter
import Wire

/// A stand-in IPVS with one virtual service and one real server, counting what it is asked:
/// enough to pin where the tracer calls IPVS and what it does with the answers.
struct OneServiceIPVS: IPVSHook {
    var virtual: IPAddress
    var virtualPort: UInt16
    var real: IPAddress
    var realPort: UInt16
    var requests = 0
    var noServer = false

    mutating func request(_ p: Packet, explain: Bool) -> IPVSDecision {
        guard p.destination == virtual, p.destinationPort == virtualPort else { return .pass(note: nil) }
        requests += 1
        if noServer { return .noDestination(explanation: ["virtual service without servers"]) }
        return .forward(to: real, port: realPort, explanation: ["scheduled"])
    }

    mutating func reply(_ p: Packet, explain: Bool) -> IPVSReply? {
        guard p.source == real, p.sourcePort == realPort else { return nil }
        return IPVSReply(source: virtual, sourcePort: virtualPort, explanation: "un-NATed by IPVS")
    }

    var virtualAddresses: [IPAddress] { [virtual] }
}

@Suite struct IPVSHookTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }
    static let vip = ip("10.96.0.10"), real = ip("10.244.2.3"), client = ip("10.244.1.2"), node = ip("172.18.0.3")

    /// A node with the VIP on kube-ipvs0, its pods on cni0, and a default route out of eth0.
    static func host(realServer: IPAddress = real, noServer: Bool = false) -> Host {
        var h = Host(name: "n", interfaces: [
            Interface(name: "eth0", addresses: [(node, 24)]),
            Interface(name: "cni0", addresses: [(ip("10.244.1.1"), 24)]),
            Interface(name: "kube-ipvs0", addresses: [(vip, 32)]),
        ], routes: [
            Route(destination: try! Prefix(parsing: "10.244.1.0/24"), device: "cni0"),
            Route(destination: try! Prefix(parsing: "0.0.0.0/0"), device: "eth0", gateway: ip("172.18.0.1")),
        ])
        h.ipvs = OneServiceIPVS(virtual: vip, virtualPort: 80, real: realServer, realPort: 8080, noServer: noServer)
        return h
    }

    static func rules(_ extra: String = "") throws -> Ruleset {
        try Ruleset.parse(text: """
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A PREROUTING -d 10.96.0.10/32 -j ACCEPT
        -A INPUT -j ACCEPT
        -A OUTPUT -d 10.244.2.3/32 -j DNAT --to-destination 10.244.9.9
        -A POSTROUTING -d 10.244.2.3/32 -j ACCEPT
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -d 10.96.0.10/32 -j ACCEPT
        -A OUTPUT -d 10.244.2.3/32 -j ACCEPT
        \(extra)
        COMMIT

        """, file: "t")
    }

    func request(from source: IPAddress = client, in iface: String? = "cni0") -> Packet {
        Packet(source: source, destination: Self.vip, proto: .tcp, sourcePort: 40000, destinationPort: 80, inInterface: iface)
    }

    func where_(_ p: TracePath, _ hook: Hook, _ table: String) -> Int? { p.steps.firstIndex { $0.hook == hook && $0.table == table } }

    @Test func ipvsSchedulesInInputAfterFilterThenSendsThePacketThroughOutputAndPostrouting() throws {
        let t = Tracer(ruleset: try Self.rules()).trace(packet: request(), host: Self.host())
        let p = try #require(t.paths.first)
        #expect(p.verdict == .accepted)
        #expect(p.deliveredTo == .out(interface: "eth0"))
        #expect(p.dnat?.description == "10.244.2.3:8080")
        #expect(p.finalPacket.destination == Self.real && p.finalPacket.destinationPort == 8080)
        let filterIn = try #require(where_(p, .input, "filter")), ipvs = try #require(where_(p, .input, "ipvs"))
        let filterOut = try #require(where_(p, .output, "filter")), natPost = try #require(where_(p, .postrouting, "nat"))
        #expect(filterIn < ipvs && ipvs < filterOut && filterOut < natPost)
        // The packet is stolen from INPUT: nat INPUT never sees it.
        #expect(where_(p, .input, "nat") == nil)
        // nat OUTPUT is not walked again: the connection's destination binding was made in PREROUTING.
        #expect(!p.steps.contains { $0.action.contains("10.244.9.9") })
    }

    @Test func conntrackExpectsTheReplyFromTheRealServerAndIPVSUnNATsItInForward() throws {
        let tracer = Tracer(ruleset: try Self.rules())
        let first = try #require(tracer.trace(packet: request(), host: Self.host()).paths.first)
        let entry = try #require(first.host.conntrack.entries.first)
        #expect(entry.reply.source == Self.real && entry.reply.sourcePort == 8080)
        // IPVS sets no IPS_DST_NAT: conntrack will not rewrite the reply itself.
        #expect(!entry.destinationNAT)
        let reply = Packet(source: Self.real, destination: Self.client, proto: .tcp, sourcePort: 8080, destinationPort: 40000,
                           tcpFlags: TCPFlag.syn | TCPFlag.ack, inInterface: "eth0")
        let back = try #require(tracer.trace(packet: reply, host: first.host).paths.first)
        #expect(back.steps.contains { $0.table == "conntrack" && $0.action.hasPrefix("established reply") })
        let ipvs = try #require(back.steps.first { $0.table == "ipvs" })
        #expect(ipvs.hook == .forward && ipvs.action == "un-NATed by IPVS")
        #expect(back.finalPacket.source == Self.vip && back.finalPacket.sourcePort == 80)
        #expect(back.deliveredTo == .out(interface: "cni0"))
    }

    @Test func aFilterInputDropKeepsThePacketFromIPVS() throws {
        let t = Tracer(ruleset: try Self.rules("-I INPUT 1 -d 10.96.0.10/32 -j DROP")).trace(packet: request(), host: Self.host())
        let p = try #require(t.paths.first)
        #expect(p.verdict == .dropped)
        #expect(!p.steps.contains { $0.table == "ipvs" })
        #expect((p.host.ipvs as? OneServiceIPVS)?.requests == 0)
    }

    @Test func aLocalRealServerContinuesThroughNatInputToLocalDelivery() throws {
        let t = Tracer(ruleset: try Self.rules()).trace(packet: request(), host: Self.host(realServer: Self.node))
        let p = try #require(t.paths.first)
        #expect(p.deliveredTo == .local)
        #expect(p.finalPacket.destination == Self.node)
        let ipvs = try #require(where_(p, .input, "ipvs")), natIn = try #require(where_(p, .input, "nat"))
        #expect(ipvs < natIn)
    }

    @Test func locallyGeneratedPacketsAreScheduledAfterNatOutputAndBeforeFilterOutput() throws {
        let t = Tracer(ruleset: try Self.rules()).trace(packet: request(from: Self.node, in: nil), host: Self.host())
        let p = try #require(t.paths.first)
        #expect(p.deliveredTo == .out(interface: "eth0"))
        let ipvs = try #require(where_(p, .output, "ipvs")), filterOut = try #require(where_(p, .output, "filter"))
        #expect(ipvs < filterOut)
        // The nat OUTPUT DNAT on the real server's address does not fire: nat chains ran once,
        // for the packet to the VIP, before IPVS rewrote it.
        #expect(p.finalPacket.destination == Self.real)
    }

    @Test func aVirtualServiceWithoutServersRejects() throws {
        let t = Tracer(ruleset: try Self.rules()).trace(packet: request(), host: Self.host(noServer: true))
        let p = try #require(t.paths.first)
        #expect(p.verdict == .rejected)
        #expect(p.decidedBy == .ipvs)
        #expect(p.reason?.contains("ICMP port unreachable") == true)
    }

    @Test func aHostWithoutIPVSHasNoIPVSSteps() throws {
        var h = Self.host()
        h.ipvs = nil
        let p = try #require(Tracer(ruleset: try Self.rules()).trace(packet: request(), host: h).paths.first)
        #expect(p.deliveredTo == .local)
        #expect(!p.steps.contains { $0.table == "ipvs" })
    }
}
