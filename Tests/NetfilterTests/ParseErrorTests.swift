import Testing
@testable import Netfilter
import Wire

@Suite struct ParseErrorTests {
    func error(_ text: String) -> RulesetParseError? {
        do { _ = try Ruleset.parse(text: text, file: "rules.txt"); return nil } catch { return error }
    }

    @Test func unknownOptionNamesFileLineAndWord() {
        let e = error("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --frobnicate 3 -j ACCEPT\nCOMMIT\n")
        #expect(e?.file == "rules.txt")
        #expect(e?.line == 3)
        #expect(e?.word == "--frobnicate")
        #expect(e?.description == "rules.txt:3: unknown option: '--frobnicate'")
    }

    @Test func unknownMatchModuleAndTargetAreErrors() {
        #expect(error("*filter\n-A INPUT -m bogus -j ACCEPT\nCOMMIT\n")?.word == "bogus")
        #expect(error("*filter\n-A INPUT -j NOSUCHCHAIN\nCOMMIT\n")?.word == "NOSUCHCHAIN")
    }

    @Test func structuralErrorsAreReported() {
        #expect(error("-A INPUT -j ACCEPT\n")?.reason.contains("outside a table") == true)
        #expect(error("*filter\n-A INPUT -j ACCEPT\n")?.reason.contains("COMMIT") == true)
        #expect(error("*bogus\nCOMMIT\n")?.reason == "unknown table")
        #expect(error("*filter\n-A NOPE -j ACCEPT\nCOMMIT\n")?.word == "NOPE")
        #expect(error("*filter\n-A INPUT -m comment --comment \"open\nCOMMIT\n")?.reason == "unterminated quote")
        #expect(error("*filter\n:FOO ACCEPT [0:0]\nCOMMIT\n")?.reason.contains("user chain") == true)
        #expect(error("*nat\n-A OUTPUT -m tcp --dport 80 -j ACCEPT\nCOMMIT\n")?.word == "tcp")
    }

    @Test func badValuesNameTheValue() {
        #expect(error("*filter\n-A INPUT -s 10.0.0.300 -j ACCEPT\nCOMMIT\n")?.word == "10.0.0.300")
        #expect(error("*filter\n-A INPUT -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n")?.word == "99999")
        #expect(error("*filter\n-A INPUT -m statistic --mode random --probability 1.5 -j ACCEPT\nCOMMIT\n")?.word == "1.5")
        #expect(error("*filter\n-A INPUT -m conntrack --ctstate NEWISH -j ACCEPT\nCOMMIT\n")?.word == "NEWISH")
    }

    @Test func lenientKeepsTheRuleAsNeverMatchingAndSaysSo() throws {
        let text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m bogus --x 1 -j DROP\n-A INPUT -j ACCEPT\nCOMMIT\n"
        let rs = try Ruleset.parse(text: text, file: "r", lenient: true)
        #expect(rs.problems.count == 1)
        #expect(rs.problems.first?.line == 3)
        #expect(rs.problems.first?.word == "bogus")
        #expect(rs.iptablesSave() == text)
        let t = Tracer(ruleset: rs)
        let host = Host.simple(localAddresses: [try IPAddress(parsing: "10.0.0.1")])
        let trace = t.trace(packet: Packet(source: try IPAddress(parsing: "10.0.0.9"), destination: try IPAddress(parsing: "10.0.0.1"),
                                           proto: .tcp, sourcePort: 1, destinationPort: 2), host: host)
        #expect(trace.paths[0].verdict == .accepted)
        #expect(trace.paths[0].decidedBy.description == "-A INPUT -j ACCEPT")
    }
}

/// Mutated and truncated real rulesets: the parser answers with a value or an error, and
/// never crashes (a crash fails the whole test run).
@Suite struct ParserFuzzTests {
    @Test func mutatedAndTruncatedRulesetsNeverCrash() {
        var rng = SeededGenerator(seed: 42)
        let sources = [Fixtures.kubeProxySave, Fixtures.kubeProxyRestore + KubeProxyExample.builtinJumps]
        let alphabet = Array(" \t\"\\!-:/,[]*#0123456789abcdefxyzACDMNPX\n".utf8)
        let words = ["-A", "-j", "-m", "!", "--dport", "-p", "tcp", "COMMIT", "*nat", ":X - [0:0]", "\"", "--comment",
                     "-g", "RETURN", "DNAT", "--to-destination", "1.2.3.4:99999", "-s", "::1/200", "--probability", "nan"]
        var parsed = 0, failed = 0
        for round in 0..<3000 {
            var bytes = Array(sources[round % 2].utf8)
            let edits = 1 + Int(rng.next() % 6)
            for _ in 0..<edits {
                let pos = Int(rng.next() % UInt64(max(bytes.count, 1)))
                switch rng.next() % 5 {
                case 0: bytes = Array(bytes[..<pos])  // truncate
                case 1: if pos < bytes.count { bytes.remove(at: pos) }
                case 2: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: min(pos, bytes.count))
                case 3: bytes.insert(contentsOf: Array((" " + words[Int(rng.next() % UInt64(words.count))] + " ").utf8), at: min(pos, bytes.count))
                default: if pos < bytes.count { bytes[pos] = UInt8(truncatingIfNeeded: rng.next()) }
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            do {
                let rs = try Ruleset.parse(text: text, file: "fuzz", lenient: round % 3 == 0)
                parsed += 1
                _ = rs.iptablesSave()
                let t = Tracer(ruleset: rs, compiled: true)
                _ = t.trace(packet: KubeProxyExample.tcp("203.0.113.200", 40000, "172.30.0.44", 80), host: KubeProxyExample.host,
                            options: TraceOptions(allPaths: true, maxPaths: 64))
            } catch {
                failed += 1
                #expect(error.line >= 1)
                #expect(!error.reason.isEmpty)
            }
        }
        #expect(parsed > 0)
        #expect(failed > 0)
    }
}
