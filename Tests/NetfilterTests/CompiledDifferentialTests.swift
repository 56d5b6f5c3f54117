import Testing
@testable import Netfilter
import TestSupport
import Wire

/// The compiled fast path must give exactly the linear reference's answers.
@Suite struct CompiledDifferentialTests {
    @Test func compiledIndexesTheDispatchChains() throws {
        let synth = SyntheticRuleset.kubeProxyShaped(services: 300, seed: 1)
        let t = Tracer(ruleset: try Ruleset.parse(text: synth.text, file: "synthetic"), compiled: true)
        let nat = try #require(t.prepared.tables[.nat])
        let services = try #require(nat.chains.first { $0.name == "KUBE-SERVICES" })
        let index = try #require(services.dispatch)
        #expect(index.exactKeys > 0)
        #expect(index.rest.count < services.rules.count / 4)
        #expect((nat.chains.first { $0.name == "KUBE-NODEPORTS" }?.dispatch?.protoPortKeys ?? 0) > 0)
    }

    @Test func compiledAndLinearAgreeOnOneHundredThousandPackets() throws {
        var rng = SeededGenerator(seed: 2024)
        var compared = 0
        for (round, services) in [(0, 2000), (1, 1000), (2, 150)] {
            let synth = SyntheticRuleset.kubeProxyShaped(services: services, seed: UInt64(10 + round))
            let rs = try Ruleset.parse(text: synth.text, file: "synthetic-\(round)")
            let linear = Tracer(ruleset: rs), compiled = Tracer(ruleset: rs, compiled: true)
            var hostL = Host.simple(localAddresses: [synth.nodeAddress]), hostC = hostL
            hostL.routeLocalnet = true
            hostC.routeLocalnet = true
            let fresh = hostL
            let count = round == 2 ? 4_000 : 48_000
            for i in 0..<count {
                if i % 64 == 0 { hostL = fresh; hostC = fresh }  // keep conntrack small; state still carries within a run
                let packet = synth.randomPacket(&rng)
                let allPaths = i % 50 == 0
                // Verbose traces list the rules the index skipped, as the linear walk tries them.
                let o = TraceOptions(allPaths: allPaths, seed: UInt64(i), verbose: i % 97 == 0, recordSteps: i % 10 == 0 || i % 97 == 0)
                let a = linear.trace(packet: packet, host: hostL, options: o)
                let b = compiled.trace(packet: packet, host: hostC, options: o)
                let agree = a.paths.count == b.paths.count && zip(a.paths, b.paths).allSatisfy { $0.agrees(with: $1) }
                #expect(agree, "packet \(i) \(packet.summary) in \(packet.inInterface ?? "local")")
                if !agree { return }
                if !allPaths { hostL = a.paths[0].host; hostC = b.paths[0].host }
                compared += 1
            }
        }
        #expect(compared >= 100_000)
    }

    @Test func compiledTriesFewerRulesOnDispatchChains() throws {
        let synth = SyntheticRuleset.kubeProxyShaped(services: 2000, seed: 5, adversarial: false)
        let rs = try Ruleset.parse(text: synth.text, file: "synthetic")
        let linear = Tracer(ruleset: rs), compiled = Tracer(ruleset: rs, compiled: true)
        let s = synth.services[1500]
        let p = Packet(source: KubeProxyExample.ip("203.0.113.9"), destination: s.address, proto: s.proto,
                       sourcePort: 5000, destinationPort: s.port, inInterface: "eth0")
        let host = Host.simple(localAddresses: [synth.nodeAddress])
        let a = linear.trace(packet: p, host: host).paths[0], b = compiled.trace(packet: p, host: host).paths[0]
        #expect(a.dnat == b.dnat)
        #expect(a.rulesTried > 1000)
        #expect(b.rulesTried < 40)
    }
}
