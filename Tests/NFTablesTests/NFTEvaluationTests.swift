@testable import NFTables
import TestSupport
import Testing
import Wire

@Suite struct NFTEvaluationTests {
    func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    func run(_ engine: NFTEngine, _ hook: NFTHook, _ p: inout NFTPacket, ct: NFTConntrack = .new, state: inout NFTDynamicState,
             choices: [UInt32] = [], local: Set<IPAddress> = []) -> (NFTHookOutcome, [NFTStep]) {
        var chooser = NFTChooser(choices: choices)
        var steps: [NFTStep]? = []
        let out = engine.run(hook: hook, packet: &p, ct: ct, local: local, state: &state, chooser: &chooser, steps: &steps)
        return (out, steps ?? [])
    }

    @Test func mapLookupStepShowsKeyAndElement() throws {
        let engine = NFTEngine(try NFTRuleset.parse(Fixtures.text("upstream-overall.list-handles")))
        var p = NFTPacket(source: ip("10.0.0.2"), destination: ip("172.30.0.41"), destinationPort: 80)
        var state = NFTDynamicState()
        let (out, steps) = run(engine, .prerouting, &p, state: &state)
        let words = steps.map { engine.ruleset.describe($0) }
        #expect(words.contains("service-ips[172.30.0.41 . tcp . 80] → goto service-ULMVA6XW-ns1/svc1/tcp/p80"))
        #expect(words.contains("map[0] → goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"))
        #expect(words.last == "dnat to 10.180.0.1:80")
        // Rules are named as nft monitor trace names them: table, chain, handle.
        let lookup = steps.first { if case .mapLookup = $0.action { true } else { false } }!
        #expect(engine.ruleset.tableName(ofChain: lookup.chain) == "ip kube-proxy")
        #expect(engine.ruleset.chainName(lookup.chain) == "services")
        #expect(engine.ruleset.rule(lookup.chain, lookup.rule)?.handle == 61)
        #expect(out.nat == .dnat(ip("10.180.0.1"), port: 80))
    }

    @Test func natChainsRunOnlyForNewConnections() throws {
        let engine = NFTEngine(try NFTRuleset.parse(Fixtures.text(UpstreamOverall.path)))
        var p = NFTPacket(source: ip("10.0.0.2"), destination: ip("172.30.0.41"), destinationPort: 80)
        var state = NFTDynamicState()
        let (out, steps) = run(engine, .prerouting, &p, ct: .established, state: &state)
        #expect(out.nat == nil && out.verdict == .accept)
        #expect(steps.allSatisfy { engine.ruleset.chains[Int($0.chain)].base?.type != .nat })
    }

    @Test func numgenBranchesEnumerateWithProbabilities() throws {
        let engine = NFTEngine(try NFTRuleset.parse(Fixtures.text(UpstreamOverall.path)))
        let results = NFTChooser.enumerate { chooser -> NFTNATDecision? in
            var p = NFTPacket(source: ip("10.0.0.2"), destination: ip("172.30.0.44"), destinationPort: 80)
            var state = NFTDynamicState()
            var steps: [NFTStep]? = nil
            return engine.run(hook: .prerouting, packet: &p, ct: .new, local: [], state: &state, chooser: &chooser, steps: &steps).nat
        }
        #expect(results.map(\.0) == [.dnat(ip("10.180.0.4"), port: 80), .dnat(ip("10.180.0.5"), port: 80)])
        #expect(results.map(\.1) == [0.5, 0.5])
        // A chosen branch, for one trace.
        var p = NFTPacket(source: ip("10.0.0.2"), destination: ip("172.30.0.44"), destinationPort: 80)
        var state = NFTDynamicState()
        #expect(run(engine, .prerouting, &p, state: &state, choices: [1]).0.nat == .dnat(ip("10.180.0.5"), port: 80))
    }

    @Test func dnatThroughANumgenMapAsKubeProxy136Writes() throws {
        let engine = NFTEngine(try NFTRuleset.parse(Fixtures.text("features.list-handles")))
        let results = NFTChooser.enumerate { chooser -> NFTNATDecision? in
            var p = NFTPacket(source: ip("10.244.1.9"), destination: ip("10.96.0.10"), proto: .udp, destinationPort: 53)
            var state = NFTDynamicState()
            var steps: [NFTStep]? = nil
            return engine.run(hook: .prerouting, packet: &p, ct: .new, local: [], state: &state, chooser: &chooser, steps: &steps).nat
        }
        #expect(results.map(\.0) == ["10.244.1.2", "10.244.2.2", "10.244.3.2"].map { .dnat(ip($0), port: 53) })
        #expect(results.allSatisfy { abs($0.1 - 1.0 / 3) < 1e-12 })
        var p = NFTPacket(source: ip("203.0.113.9"), destination: ip("10.96.0.10"), proto: .udp, destinationPort: 53)
        var state = NFTDynamicState()
        let (_, steps) = run(engine, .prerouting, &p, state: &state, choices: [2])
        #expect(steps.map { engine.ruleset.describe($0) }.suffix(3) == [
            "service-ips[10.96.0.10 . udp . 53] → goto service-dns", "mark set 0x4000", "map[2] → dnat to 10.244.3.2:53",
        ])
    }

    @Test func affinitySetRemembersTheClientUntilItsTimeout() throws {
        let engine = NFTEngine(try NFTRuleset.parse(Fixtures.text(UpstreamOverall.path)))
        var state = NFTDynamicState()
        var p = NFTPacket(source: ip("10.0.0.2"), destination: ip("172.30.0.45"), destinationPort: 80)
        let (first, _) = run(engine, .prerouting, &p, state: &state)
        #expect(first.nat == .dnat(ip("10.180.0.3"), port: 80))
        let set = Int32(engine.ruleset.sets.firstIndex { $0.name.hasPrefix("affinity-") }!)
        #expect(state.entries[set]?.values.first == 10800)
        p = NFTPacket(source: ip("10.0.0.2"), destination: ip("172.30.0.45"), destinationPort: 80)
        let (_, steps) = run(engine, .prerouting, &p, state: &state)
        let affinityRule = steps.first { engine.ruleset.rule($0.chain, $0.rule)?.text.contains("@affinity-") == true && engine.ruleset.chainName($0.chain).hasPrefix("service-") }
        #expect(affinityRule.map { engine.ruleset.describe($0) } == "goto endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80")
        state.now = 10801
        p = NFTPacket(source: ip("10.0.0.2"), destination: ip("172.30.0.45"), destinationPort: 80)
        let (_, later) = run(engine, .prerouting, &p, state: &state)
        #expect(!later.contains { engine.ruleset.rule($0.chain, $0.rule)?.text.hasPrefix("ip saddr @affinity-") == true })
    }

    @Test func ctStateInterfaceWildcardsAndVerdictMapsOfMarks() throws {
        let engine = NFTEngine(try NFTRuleset.parse(Fixtures.text("features.list")))
        var state = NFTDynamicState()
        // forward policy drop; established accepted; invalid dropped; udp 53 accepted; tcp 22 rejected.
        var p = NFTPacket(source: ip("10.244.1.2"), destination: ip("8.8.8.8"), proto: .tcp, destinationPort: 443)
        #expect(run(engine, .forward, &p, ct: .established, state: &state).0.verdict == .accept)
        #expect(run(engine, .forward, &p, ct: NFTConntrack(state: 1, status: 0), state: &state).0.verdict == .drop)
        let (policy, steps) = run(engine, .forward, &p, state: &state)
        #expect(policy.verdict == .drop && policy.decidedBy?.rule == -1 && steps.last?.action == .policy(drop: true))
        p.destinationPort = 85
        #expect(run(engine, .forward, &p, state: &state).0.verdict == .reject)
        p.proto = .udp; p.destinationPort = 53
        #expect(run(engine, .forward, &p, state: &state).0.verdict == .accept)
        p.proto = .tcp; p.destinationPort = 443
        #expect(run(engine, .forward, &p, ct: NFTConntrack(state: 8, status: 32), state: &state).0.verdict == .accept)
        p.outInterface = NFTInterfaceName.pack("eth0"); p.destination = ip("10.244.9.9")
        #expect(run(engine, .forward, &p, state: &state).0.verdict == .accept)
        // prerouting: veth* from outside the pod ranges dropped; lo accepted; mark 2 dropped by the vmap.
        var q = NFTPacket(source: ip("1.1.1.1"), destination: ip("10.244.1.2"), inInterface: NFTInterfaceName.pack("veth1234"))
        #expect(run(engine, .prerouting, &q, state: &state).0.verdict == .drop)
        q.inInterface = NFTInterfaceName.pack("eth0")
        #expect(run(engine, .prerouting, &q, state: &state).0.verdict == .accept)
        q.mark = 2
        #expect(run(engine, .prerouting, &q, state: &state).0.verdict == .drop)
        // postrouting masquerade for pod traffic leaving the pod range.
        var r = NFTPacket(source: ip("10.244.1.2"), destination: ip("1.1.1.1"))
        #expect(run(engine, .postrouting, &r, state: &state).0.nat == .masquerade(fullyRandom: false))
    }

    @Test func numgenBranchesAreClassesOfValuesNotEveryValue() throws {
        let engine = NFTEngine(try NFTRuleset.parse("""
        table ip t {
            chain a { accept }
            chain b { drop }
            chain c {
                type filter hook input priority 0; policy accept;
                numgen random mod 1000 vmap { 0-499 : goto a, 500-998 : goto b }
                numgen random mod 4 offset 10 == 12 drop
            }
        }
        """))
        let results = NFTChooser.enumerate { chooser -> NFTHookVerdict in
            var p = NFTPacket(source: ip("10.0.0.1"), destination: ip("10.0.0.2"))
            var state = NFTDynamicState()
            var steps: [NFTStep]? = nil
            return engine.run(hook: .input, packet: &p, ct: .new, local: [], state: &state, chooser: &chooser, steps: &steps).verdict
        }
        // 0-499 accept, 500-998 drop; 999 (no element) goes on to the second numgen: 12 of
        // 10-13 drops, the rest reach the policy.
        #expect(results.count == 4)
        #expect(results.map(\.0) == [.accept, .drop, .drop, .accept])
        let p = results.map(\.1)
        #expect(abs(p[0] - 0.5) < 1e-12 && abs(p[1] - 0.499) < 1e-12)
        #expect(abs(p[2] - 0.001 * 0.25) < 1e-12 && abs(p[3] - 0.001 * 0.75) < 1e-12)
        #expect(abs(p.reduce(0, +) - 1) < 1e-12)
    }

    /// An ip6 table as knftables writes it and as nft 1.0.6 lists it (`dnat to [ADDR]:PORT`).
    @Test(arguments: ["ipv6.nft", "ipv6.list-handles"])
    func ipv6MapsPrefixesAndBracketedDNAT(file: String) throws {
        let engine = NFTEngine(try NFTRuleset.parse(Fixtures.text(file), file: file))
        var state = NFTDynamicState()
        var p = NFTPacket(source: ip("fd00:10::9"), destination: ip("fd00:10:96::1"), destinationPort: 80)
        #expect(run(engine, .prerouting, &p, state: &state).0.nat == .dnat(ip("fd00:10::5"), port: 8080))
        #expect(p.destination == ip("fd00:10::5") && p.destinationPort == 8080)
        var q = NFTPacket(source: ip("fd00:10::9"), destination: ip("fd00:10:96::2"), destinationPort: 80)
        #expect(run(engine, .prerouting, &q, state: &state).0.nat == nil)
        #expect(run(engine, .forward, &q, state: &state).0.verdict == .drop)
        // An IPv4 packet does not see an ip6 table.
        var r = NFTPacket(source: ip("10.0.0.1"), destination: ip("10.0.0.2"))
        #expect(run(engine, .forward, &r, state: &state).1.isEmpty)
    }

    @Test func listedElementsOfTimeoutSetsExpire() throws {
        let engine = NFTEngine(try NFTRuleset.parse("""
        table ip t {
            set seen { type ipv4_addr; flags timeout; elements = { 10.0.0.9 timeout 1h expires 30m } }
            chain c { type filter hook input priority 0; policy accept; ip saddr @seen drop }
        }
        """))
        var state = NFTDynamicState()
        var p = NFTPacket(source: ip("10.0.0.9"), destination: ip("10.0.0.1"))
        #expect(run(engine, .input, &p, state: &state).0.verdict == .drop)
        state.now = 1800
        #expect(run(engine, .input, &p, state: &state).0.verdict == .accept)
    }
}
