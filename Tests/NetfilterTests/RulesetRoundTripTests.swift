import Testing
@testable import Netfilter
import Wire

@Suite struct RulesetRoundTripTests {
    @Test func iptablesSaveOutputPrintsBackByteForByte() throws {
        let text = Fixtures.kubeProxySave
        #expect(text.count > 1000)
        let rs = try Ruleset.parse(text: text, file: "kp.save")
        #expect(rs.iptablesSave() == text)
    }

    @Test func kubeProxyRestoreTextPrintsBackByteForByte() throws {
        let text = Fixtures.kubeProxyRestore
        let rs = try Ruleset.parse(text: text, file: "kp.restore")
        #expect(rs.iptablesSave() == text)
    }

    @Test func bothOptionOrdersGiveTheSameMatches() throws {
        let a = try Ruleset.parse(text: "*nat\n:X - [0:0]\n-A X -m tcp -p tcp -d 10.0.0.1 --dport 80 -j RETURN\nCOMMIT\n")
        let b = try Ruleset.parse(text: "*nat\n:X - [0:0]\n-A X -d 10.0.0.1/32 -p tcp -m tcp --dport 80 -j RETURN\nCOMMIT\n")
        let ra = a.table(.nat)!.chain("X")!.rules[0], rb = b.table(.nat)!.chain("X")!.rules[0]
        #expect(Set(ra.matches) == Set(rb.matches))
        #expect(ra.target == .returnFromChain)
        #expect(ra.matches.contains(.destinationPort(.tcp, PortRange(80), negated: false)))
    }

    @Test func quotedWordsKeepTheirSpellingAndDecode() throws {
        let text = "*filter\n-A INPUT -m comment --comment \"a \\\"b\\\" c\" -j ACCEPT\nCOMMIT"
        let rs = try Ruleset.parse(text: text)
        #expect(rs.iptablesSave() == text)
        #expect(rs.table(.filter)!.chain("INPUT")!.rules[0].matches == [.comment("a \"b\" c")])
    }

    @Test func savedStringQuotesLikeXtablesSaveString() {
        #expect(RuleWord.saved("KUBE-SEP_1").printed == "KUBE-SEP_1")
        #expect(RuleWord.saved("ns2/svc2:p80").printed == "\"ns2/svc2:p80\"")
        #expect(RuleWord.saved("it's").printed == "\"it\\'s\"")
    }

    @Test func countersOnRulesAndChainsRoundTrip() throws {
        let text = "*filter\n:INPUT DROP [12:3400]\n:FOO - [0:0]\n[5:300] -A INPUT -s 10.0.0.0/8 -j FOO\n-A FOO -j ACCEPT\nCOMMIT\n"
        let rs = try Ruleset.parse(text: text)
        #expect(rs.iptablesSave() == text)
        let input = rs.table(.filter)!.chain("INPUT")!
        #expect(input.policy == .drop)
        #expect(input.rules[0].counters == Counters(packets: 5, bytes: 300))
    }

    @Test func builtinChainsExistWithoutChainLines() throws {
        let rs = try Ruleset.parse(text: "*nat\n-A OUTPUT -j ACCEPT\nCOMMIT\n")
        #expect(rs.table(.nat)!.chains.map(\.name) == ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"])
    }

    @Test func insertAndDeleteCommandsChangeTheChains() throws {
        let text = "*filter\n:A - [0:0]\n-A A -j DROP\n-I A 1 -s 1.2.3.4 -j ACCEPT\n-D A -j DROP\n-N B\n-X B\nCOMMIT\n"
        let rs = try Ruleset.parse(text: text)
        #expect(rs.table(.filter)!.chain("A")!.rules.map(\.target) == [.accept])
        #expect(rs.table(.filter)!.chain("B") == nil)
        #expect(rs.iptablesSave() == text)
    }
}

@Suite struct RestoreSemanticsTests {
    static let twice = "*filter\n:A - [0:0]\n-A A -j DROP\n-A INPUT -j A\nCOMMIT\n*filter\n-A INPUT -j ACCEPT\nCOMMIT\n"

    @Test func aTableNamedTwiceStartsEmptyAgainLikeIPTablesRestore() throws {
        let rs = try Ruleset.parse(text: Self.twice)
        #expect(rs.table(.filter)!.chain("A") == nil)
        #expect(rs.table(.filter)!.chain("INPUT")!.rules.map(\.target) == [.accept])
        #expect(rs.iptablesSave() == Self.twice)
    }

    @Test func noflushContinuesATableNamedTwice() throws {
        let rs = try Ruleset.parse(text: Self.twice, noflush: true)
        #expect(rs.table(.filter)!.chain("INPUT")!.rules.map(\.target) == [.jump("A"), .accept])
    }

    @Test func aChainLineFlushesUserChainsButNotBuiltinChains() throws {
        let text = "*filter\n:A - [0:0]\n-A A -j DROP\n-A INPUT -j A\nCOMMIT\n*filter\n:INPUT DROP [0:0]\n:A - [0:0]\nCOMMIT\n"
        let rs = try Ruleset.parse(text: text, noflush: true)
        #expect(rs.table(.filter)!.chain("A")!.rules.isEmpty)
        #expect(rs.table(.filter)!.chain("INPUT")!.rules.count == 1)
        #expect(rs.table(.filter)!.chain("INPUT")!.policy == .drop)
    }
}
