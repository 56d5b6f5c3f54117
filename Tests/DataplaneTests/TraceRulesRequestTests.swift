import Dataplane
@testable import Netfilter
import Testing
import TestSupport
import Wire

@Suite struct TraceRulesRequestTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    @Test func aSourceThatIsALocalAddressIsGeneratedLocally() throws {
        let req = TraceRulesRequest(rulesText: UpstreamKubeProxyRules.withBuiltinJumps(), rulesFile: "r", localAddresses: [Self.ip("192.168.0.2")],
                                    source: Self.ip("192.168.0.2"), sourcePort: 40000, destination: Self.ip("172.30.0.41"))
        let t = try req.run()
        #expect(t.packet.inInterface == nil)
        #expect(t.paths[0].steps.contains { $0.hook == .output && $0.table == "nat" })
        #expect(t.paths[0].dnat?.description == "10.180.0.1:80")
        #expect(t.paths[0].masquerade, "node traffic to a ClusterIP is masqueraded (! -s 10.0.0.0/8)")
    }

    @Test func otherSourcesArriveOnTheInputInterface() throws {
        let req = TraceRulesRequest(rulesText: UpstreamKubeProxyRules.withBuiltinJumps(), rulesFile: "r", localAddresses: [Self.ip("192.168.0.2")],
                                    source: Self.ip("10.180.0.9"), destination: Self.ip("172.30.0.41"), inInterface: "cni0")
        let t = try req.run()
        #expect(t.packet.inInterface == "cni0")
        #expect(t.paths[0].steps.first?.hook == .prerouting)
    }

    @Test func lenientProblemsAreNotedInTheTrace() throws {
        let rules = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m frob --x -j DROP\nCOMMIT\n"
        let req = TraceRulesRequest(rulesText: rules, rulesFile: "node.rules", localAddresses: [Self.ip("192.168.0.2")],
                                    source: Self.ip("1.1.1.1"), destination: Self.ip("192.168.0.2"), lenient: true)
        let t = try req.run()
        let problems = t.notes.filter { $0.hasPrefix("node.rules:") }
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("node.rules: line 3") == true)
        #expect(t.paths[0].steps.contains { $0.action.hasPrefix("never matches") })
        #expect(t.json().contains("\"notes\""))
        var strict = req
        strict.lenient = false
        #expect(throws: TraceRulesError.self) { try strict.run() }
    }

    @Test func badIpsetsAreAnErrorNamingTheFile() {
        let req = TraceRulesRequest(rulesText: "*filter\nCOMMIT\n", rulesFile: "r", ipsetsText: "add NOPE 1.2.3.4\n",
                                    localAddresses: [Self.ip("192.168.0.2")], source: Self.ip("1.1.1.1"), destination: Self.ip("192.168.0.2"))
        do {
            _ = try req.run(ipsetsFile: "sets.txt")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix("sets.txt:1:"))
        }
    }

    /// The IPVS dump is parsed first, and its errors name the file and line.
    @Test func badIPVSDumpsAreAnErrorNamingTheFileAndLine() {
        var req = TraceRulesRequest(rulesText: "*filter\nBROKEN\n", rulesFile: "r", localAddresses: [Self.ip("192.168.0.2")],
                                    source: Self.ip("1.1.1.1"), destination: Self.ip("192.168.0.2"))
        req.ipvsText = "-A -t 10.96.0.1:80 -s rr\n-a -t 10.96.0.1:80 -r nonsense -m -w 1\n"
        do {
            _ = try req.run(ipvsFile: "node.ipvs")
            Issue.record("expected an error")
        } catch {
            guard case .ipvs(let file, let e) = error else { Issue.record("not an ipvs error: \(error)"); return }
            #expect(file == "node.ipvs")
            #expect(error.description.hasPrefix("node.ipvs:\(e.line):0: "))
            #expect(e.line == 2)
        }
    }
}
