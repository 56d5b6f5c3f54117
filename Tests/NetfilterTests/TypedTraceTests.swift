import Testing
@testable import Netfilter
import Wire

/// The typed values a trace hands on: deliveries, step subjects, rewrites and path ends, built
/// where the fact is known, and the printed strings derived from them.
@Suite struct TypedTraceTests {
    static let ip = KubeProxyExample.ip

    @Test func deliveryIsTypedAndPrintsAsBefore() throws {
        let b = try Bench("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")
        let local = b.run(Bench.tcp("10.1.1.1", 1000, "192.168.0.2", 22))
        #expect(local.deliveredTo == .local)
        #expect(local.deliveredTo?.description == "local")
        #expect(local.steps.last?.subject == .routing)
        let forwarded = b.run(Bench.tcp("10.1.1.1", 1000, "8.8.8.8", 53))
        #expect(forwarded.deliveredTo == .out(interface: "eth0"))
        #expect(forwarded.deliveredTo?.description == "out eth0")
        let dropped = try Bench("*filter\n:FORWARD DROP [0:0]\nCOMMIT\n").run(Bench.tcp("10.1.1.1", 1000, "8.8.8.8", 53))
        #expect(dropped.deliveredTo == nil)
    }

    @Test func aDNATStepCarriesItsRuleAndTypedRewrite() throws {
        let b = try Bench("*nat\n-A PREROUTING -d 1.2.3.4/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.5:8080\nCOMMIT\n")
        let p = b.run(Bench.tcp("9.9.9.9", 1000, "1.2.3.4", 80))
        let step = try #require(p.steps.first { $0.rewrite != nil })
        #expect(step.rewrite == .dnat(Self.ip("10.0.0.5"), port: 8080))
        let text = try #require(step.text)
        #expect(step.subject == .rule(RuleReference(table: .nat, chain: "PREROUTING", number: 1, text: text)))
        #expect(step.hook == .prerouting)
        // The printed columns come from the subject.
        #expect(step.table == "nat" && step.chain == "PREROUTING" && step.rule == 1)
        #expect(step.action == "dnat to 10.0.0.5:8080")
        // The rule sets up the binding; the nat hook then applies it to the packet.
        #expect(p.steps.compactMap(\.rewrite) == [.dnat(Self.ip("10.0.0.5"), port: 8080),
                                                   .conntrackNAT(.destination, reply: false, Self.ip("10.0.0.5"), port: 8080)])
        #expect(p.steps.contains { $0.subject == .conntrack && $0.table == "conntrack" })
        #expect(p.steps.contains { $0.subject == .routing && $0.table == "routing" })
    }

    @Test func masqueradeAndTheReplyUnNATAreTypedRewrites() throws {
        var b = try Bench("*nat\n-A POSTROUTING -s 10.244.0.0/16 -o eth0 -j MASQUERADE\nCOMMIT\n")
        let out = b.run(Bench.tcp("10.244.0.5", 40000, "8.8.8.8", 443, in: "cni0"))
        #expect(out.steps.contains { $0.rewrite == .masquerade(Self.ip("192.168.0.2"), port: 40000) && $0.action == "masquerade to 192.168.0.2:40000" })
        b.host = out.host
        var reply = Bench.tcp("8.8.8.8", 443, "192.168.0.2", 40000)
        reply.tcpFlags = TCPFlag.syn | TCPFlag.ack
        let back = b.run(reply)
        let unNAT = try #require(back.steps.first { $0.rewrite != nil })
        #expect(unNAT.rewrite == .conntrackNAT(.destination, reply: true, Self.ip("10.244.0.5"), port: 40000))
        #expect(unNAT.subject == .natBinding && unNAT.table == "nat" && unNAT.chain == nil)
        #expect(unNAT.action.hasPrefix("reply un-NATed from conntrack"))
    }

    @Test func thePathEndNamesTheDecidingRule() throws {
        let b = try Bench("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp -j DROP\nCOMMIT\n")
        let dropped = b.run(Bench.tcp("10.1.1.1", 1000, "192.168.0.2", 80))
        #expect(dropped.end == PathEnd(.dropped, decidedBy: .rule(RuleReference(table: .filter, chain: "INPUT", number: 2, text: "-A INPUT -p tcp -j DROP")),
                                       reason: "dropped by INPUT"))
        #expect(dropped.decidedBy.description == "-A INPUT -p tcp -j DROP")
        let accepted = b.run(Bench.tcp("10.1.1.1", 1000, "192.168.0.2", 22))
        guard case .rule(let r) = accepted.decidedBy else { Issue.record("decided by \(accepted.decidedBy)"); return }
        #expect(r.table == .filter && r.chain == "INPUT" && r.number == 1)
        #expect(accepted.verdict == .accepted && accepted.reason == nil)
        // No filter rule: the policy, and the chain policy's own step has its subject.
        let policy = try Bench("*filter\n:INPUT DROP [0:0]\nCOMMIT\n").run(Bench.tcp("10.1.1.1", 1000, "192.168.0.2", 80))
        #expect(policy.end == PathEnd(.dropped, decidedBy: .policy, reason: "policy DROP of filter INPUT"))
        #expect(policy.steps.contains { $0.subject == .policy(table: .filter, chain: "INPUT") && $0.text == "policy DROP" })
        // Routing decides a martian.
        var host = Host.simple(localAddresses: [Self.ip("192.168.0.2")])
        host.routeLocalnet = false
        let martian = try Bench("*filter\nCOMMIT\n", host: host).run(Bench.tcp("10.1.1.1", 1000, "127.0.0.1", 80))
        #expect(martian.decidedBy == .routing && martian.verdict == .dropped)
    }

    @Test func withoutRecordedStepsThePathEndAndDeliveryAreTheSame() throws {
        let b = try Bench("*nat\n-A PREROUTING -d 1.2.3.4/32 -p tcp -j DNAT --to-destination 10.0.0.5:8080\nCOMMIT\n*filter\n-A FORWARD -d 10.0.0.5/32 -j ACCEPT\nCOMMIT\n")
        let packet = Bench.tcp("9.9.9.9", 1000, "1.2.3.4", 80)
        let recorded = b.run(packet)
        let bulk = b.run(packet, TraceOptions(recordSteps: false))
        #expect(bulk.steps.isEmpty)
        #expect(bulk.end == recorded.end && bulk.deliveredTo == recorded.deliveredTo)
        #expect(recorded.deliveredTo == .out(interface: "eth0"))
        #expect(recorded.decidedBy.description == "-A FORWARD -d 10.0.0.5/32 -j ACCEPT")
    }
}
