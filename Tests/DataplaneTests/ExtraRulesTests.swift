import Testing
@testable import Cluster
@testable import Dataplane
@testable import Netfilter
import Wire

/// A cluster of two workers with one pod each, w1 carrying `extra` (the lines of its
/// `extraRules` block, indented by six spaces in the file). Line 7 of the file is the block's first.
func extraRulesPlane(_ extra: String, key: String = "extraRules") throws -> Dataplane {
    let block = extra.split(separator: "\n", omittingEmptySubsequences: false).map { "      " + $0 }.joined(separator: "\n")
    let yaml = """
    kind: Topology
    nodes:
      - name: cp
        role: control-plane
      - name: w1
        \(key): |
    \(block)
      - name: w2
    pods: [{name: a, node: w1}, {name: b, node: w2}]
    """
    let p = try plane(yaml)
    try p.checkExtraRules()
    return p
}

func extraRulesError(_ extra: String, key: String = "extraRules") -> InputError? {
    do { _ = try extraRulesPlane(extra, key: key) } catch let e as InputError { return e } catch { return nil }
    return nil
}

@Suite struct ExtraRulesTests {
    @Test func anInsertedMasqueradeRuleFiresBeforeKubeProxysAndFlannelsRules() throws {
        var p = try extraRulesPlane("*nat\n-I POSTROUTING -s 10.244.0.0/16 -j MASQUERADE\nCOMMIT")
        let t = try trace("pod/default/a", "pod/default/b:8080", plane: &p)
        let path = try #require(t.paths.first)
        #expect(path.verdict == .delivered)
        #expect(path.masquerade)
        #expect(path.finalPacket.source.description == "172.18.0.3")  // w1's eth0
        let step = try #require(path.steps.first { $0.text == "-A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE" })
        #expect(step.node == "w1" && step.rule == 1 && step.chain == "POSTROUTING")
        let rs = try #require(try p.node(named: "w1")?.netfilterRuleset(for: .ipv4))
        #expect(rs.table(.nat)?.chain("POSTROUTING")?.rules.first?.origin == RuleOrigin(.extraRule(file: "t.yaml", line: 8)))
    }

    @Test func anAppendedRuleComesAfterFlannelsAndANewChainIsWalked() throws {
        var p = try extraRulesPlane("""
        *filter
        -N AUDIT
        -A AUDIT -p tcp --dport 8080 -j DROP
        -A FORWARD -j AUDIT
        -I FORWARD 1 -d 10.244.2.0/24 -j AUDIT
        COMMIT
        """)
        let rs = try #require(try p.node(named: "w1")?.netfilterRuleset(for: .ipv4))
        let forward = try #require(rs.table(.filter)?.chain("FORWARD")).rules
        #expect(forward.first?.text == "-d 10.244.2.0/24 -j AUDIT")
        #expect(forward.last?.text == "-j AUDIT")
        #expect(forward[forward.count - 2].origin == RuleOrigin(.flannelForward))
        let t = try trace("pod/default/a", "pod/default/b:8080", plane: &p)
        let path = try #require(t.paths.first)
        #expect(path.verdict == .dropped)
        #expect(path.steps.contains { $0.node == "w1" && $0.chain == "AUDIT" && $0.rule == 1 })
        // w2 has no extra rules: the reverse direction is untouched.
        let back = try trace("pod/default/b", "pod/default/a:9090", plane: &p)
        #expect(back.paths.first?.verdict == .delivered)
    }

    @Test func badExtraRulesNameTheTopologyLineAndColumn() {
        // Line 7 is `*nat`, 8 the first rule; the block is indented six spaces.
        let jump = extraRulesError("*nat\n-A POSTROUTING -j NOPE\nCOMMIT")
        #expect(jump?.location == InputLocation(file: "t.yaml", line: 8, column: 25))
        #expect(jump?.message == "node w1 extraRules: jump to a chain that does not exist in table nat: 'NOPE'")
        let option = extraRulesError("*filter\n\n-A INPUT --bogus 1 -j ACCEPT\nCOMMIT")
        #expect(option?.location?.line == 9)
        #expect(option?.message.contains("unknown option") == true)
        let commit = extraRulesError("*nat\n-A POSTROUTING -j MASQUERADE")
        #expect(commit?.message.contains("not finished with COMMIT") == true)
        let hook = extraRulesError("*nat\n-A PREROUTING -j MASQUERADE\nCOMMIT")
        #expect(hook?.location?.line == 8)
    }

    @Test func extraRulesMustBeALiteralBlockAndFamiliesMustExist() throws {
        #expect(throws: InputError.self) { try plane("kind: Topology\nnodes: [{name: a, extraRules: \"*nat\"}]") }
        let v6 = extraRulesError("*filter\n-A INPUT -j ACCEPT\nCOMMIT", key: "extraRules6")
        #expect(v6?.message == "node w1 has extraRules6, but the cluster has no IPv6 (its clusterCIDR)")
        #expect(v6?.location == InputLocation(file: "t.yaml", line: 6, column: 5))
    }
}
