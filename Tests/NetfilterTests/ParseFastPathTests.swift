import Testing
@testable import Netfilter
import TestSupport
import Wire

/// The parser's fast paths must give what its general paths give: `-A` lines in plain words
/// tokenized after the chain, the chain found by position, the jumps handed to HookCheck,
/// counters and chain names read as bytes, option and module names found by scanning.
@Suite struct ParseFastPathTests {
    /// Every rule of every table, as (table, chain, words, matches, target[, line]), in order.
    static func rules(_ rs: Ruleset, lines: Bool = true) -> [String] {
        rs.tables.flatMap { t in
            t.chains.flatMap { c in
                c.rules.map { r in
                    "\(t.name) \(c.name) \(r.words) \(r.matches) \(String(describing: r.target))" + (lines ? " \(r.line)" : "")
                }
            }
        }
    }

    /// The text with each rule line sent through the general path (counters before `-A`) and
    /// HookCheck made to find the jumps itself (an empty chain flushed before each COMMIT);
    /// rules keep their line numbers up to the first COMMIT.
    static func generalVariant(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if line.hasPrefix("-A ") { return "[0:0] " + line }
            if line == "COMMIT" { return "-N KDP-EMPTY\n-F KDP-EMPTY\nCOMMIT" }
            return String(line)
        }.joined(separator: "\n")
    }

    static func outcome(_ text: String) -> String {
        do {
            let rs = try Ruleset.parse(text: text, file: "t")
            return rules(rs).joined(separator: "\n")
        } catch {
            return "\(error)"
        }
    }

    @Test func plainAppendLinesParseAsTheGeneralPathDoes() throws {
        for text in [SyntheticRuleset.kubeProxyShaped(services: 1500, seed: 7).text, Fixtures.kubeProxySave, Fixtures.kubeProxyRestore] {
            let fast = try Ruleset.parse(text: text, file: "t")
            #expect(fast.iptablesSave() == text)
            let general = try Ruleset.parse(text: Self.generalVariant(text), file: "t")
            #expect(Self.rules(fast, lines: false) == Self.rules(general, lines: false))
            #expect(Self.rules(fast).count > 30)
        }
    }

    /// Random chain graphs with targets and matches confined to some hooks: the first refusal
    /// (or none) is the same whether HookCheck gets the parser's jumps or walks the rules.
    @Test func hookCheckWithParsedJumpsAgreesWithTheWalk() throws {
        var rng = SeededGenerator(seed: 99)
        func r(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        var refusals = 0, accepted = 0
        for round in 0..<300 {
            let table: TableName = round % 3 == 0 ? .filter : .nat
            let builtins = table.builtinChains.map(\.rawValue)
            let users = (0..<(2 + r(12))).map { "C\($0)" }
            var text = "*\(table.rawValue)\n" + users.map { ":\($0) - [0:0]\n" }.joined()
            let bodies = table == .nat
                ? ["-p tcp -j DNAT --to-destination 10.0.0.1:80", "-j SNAT --to-source 10.0.0.2", "-j MASQUERADE",
                   "-p tcp -j REDIRECT --to-ports 80", "-i eth0 -j RETURN", "-o eth0 -j RETURN",
                   "-m addrtype --dst-type LOCAL --limit-iface-in -j RETURN", "-m comment --comment x -j RETURN"]
                : ["-j REJECT", "-i eth0 -j ACCEPT", "-o eth0 -j DROP", "-m addrtype --src-type LOCAL --limit-iface-out -j RETURN",
                   "-s 10.0.0.0/8 -j ACCEPT"]
            for _ in 0..<(4 + r(30)) {
                let chain = r(3) == 0 ? builtins[r(builtins.count)] : users[r(users.count)]
                switch r(4) {
                case 0: text += "-A \(chain) \(bodies[r(bodies.count)])\n"
                case 1: text += "-A \(chain) -g \(users[r(users.count)])\n"
                default: text += "-A \(chain) -j \(r(40) == 0 ? "MISSING" : users[r(users.count)])\n"
                }
            }
            text += "COMMIT\n"
            let fast = Self.outcome(text), general = Self.outcome(Self.generalVariant(text))
            #expect(fast == general, "round \(round):\n\(text)")
            if fast.hasPrefix("t:") { refusals += 1 } else { accepted += 1 }
        }
        #expect(refusals > 20 && accepted > 20)
    }

    @Test func nameTableFindsWhatADictionaryFinds() {
        let names = ["MARK", "CONNMARK", "DNAT", "LOG", "--dport", "--to-destination", "--limit-iface-in", "-x"]
        let dict = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        let table = NameTable(dict)
        let words = names + ["MAR\u{212A}", "CONNMAR\u{212A}", "mark", "--dpor", "--dportx", "KUBE-SVC-ABCDEFGHIJKLMNOP",
                             "", "\u{212A}", "D\u{0301}NAT", "--to-destination\u{0301}", "ＭARK", "-x\u{0301}"]
        for w in words { #expect(table[w] == dict[w], "\(w.unicodeScalars.map { $0.value })") }
    }

    @Test func countersReadAsBytesAsByTheGeneralParse() {
        func reference(_ s: Substring) -> Counters? {
            guard s.hasPrefix("["), s.hasSuffix("]") else { return nil }
            let inner = s.utf8.dropFirst().dropLast().split(separator: 58, omittingEmptySubsequences: false)
            guard inner.count == 2, let p = UInt64(Substring(inner[0])), let b = UInt64(Substring(inner[1])) else { return nil }
            return Counters(packets: p, bytes: b)
        }
        let cases = ["[0:0]", "[1:2]", "[01:002]", "[+1:2]", "[-0:1]", "[18446744073709551615:0]", "[18446744073709551616:0]",
                     "[9999999999999999999:1]", "[1:2:3]", "[:1]", "[1:]", "[]", "[1 :2]", "[1:2] ", "1:2", "[a:b]", "[:]",
                     "[1\u{0301}:2]", "[1:2\u{0301}]"]
        for c in cases { #expect(Ruleset.parseCounters(Substring(c)) == reference(Substring(c)), "\(c)") }
    }

    @Test func probabilitiesReadDirectlyAsStrtodReadsThem() {
        var rng = SeededGenerator(seed: 5)
        var cases = ["0.50000000000", "0.33333333333", "1", "1.0", "0", ".5", "5.", ".", "", "0.1", "0.7", "1e-1", "+0.5",
                     "-0.5", "0x1p-1", "inf", "nan", "0.5.5", "1..", "123456789012345", "1234567890123456",
                     "0.123456789012345", "0.1234567890123456", "00000000000000.5", "9007199254740993", "0.99999999999999999"]
        for _ in 0..<20_000 {
            let digits = (0..<Int(rng.next() % 19)).map { _ in String(rng.next() % 10) }.joined()
            let at = Int(rng.next() % UInt64(digits.count + 1))
            cases.append(rng.next() % 4 == 0 ? digits : String(digits.prefix(at)) + "." + String(digits.dropFirst(at)))
        }
        for c in cases {
            let fast = RuleParser.decimal(c), reference = Double(c)
            #expect(fast?.bitPattern == reference?.bitPattern || (fast?.isNaN == true && reference?.isNaN == true), "\(c)")
        }
    }

    @Test func plainAddressesParseAsTheGeneralAddressParsers() {
        let words = ["10.0.0.1", "10.0.0.0/8", "10.0.0.1/32", "1.2.3.4/0", "10.0.0.0/255.0.0.0", "10.0.0.1/255.0.255.0",
                     "010.0.0.1", "10.0.0.1/033", "1.2.3.4,5.6.7.8", "::1", "256.0.0.1", "1.2.3", "1.2.3.4/", "1.2.3.4/33",
                     "0.0.0.0/0", "1.2.3.4/08", "1.2.3.4.5", "1..2.3"]
        for w in words {
            func reference() throws(RuleError) -> Match {
                if let (v, m) = RuleParser.nonPrefixMask(w) { return .sourceMasked(value: v, mask: m, negated: false) }
                return .source(try RuleParser.prefixes(w), negated: false)
            }
            let expected: String
            do { expected = "\(try reference())" } catch { expected = "\(error.reason): '\(error.word)'" }
            let got: String
            do {
                let rs = try Ruleset.parse(text: "*filter\n-A INPUT -s \(w) -j ACCEPT\nCOMMIT\n")
                got = "\(rs.table(.filter)!.chain("INPUT")!.rules[0].matches[0])"
            } catch {
                got = "\(error.reason): '\(error.word)'"
            }
            #expect(got == expected, "\(w)")
        }
    }

    @Test func chainNamesCheckedAsBytesAsByTheStringTests() {
        func valid(_ name: String) -> Bool {
            !name.isEmpty && name.utf8.count <= 28 && !name.hasPrefix("-") && !name.hasPrefix("!")
                && !name.unicodeScalars.contains(" ") && !name.unicodeScalars.contains("\t")
        }
        let names = ["A", "KUBE-SVC-ABCDEFGHIJKLMNOP", String(repeating: "x", count: 28), String(repeating: "x", count: 29),
                     "-X", "!X", "X!", "a\tb", "-\u{0301}X", "!\u{0301}X", "é", String(repeating: "é", count: 14),
                     String(repeating: "é", count: 15)]
        for name in names {
            let text = "*filter\n:\(name) - [0:0]\nCOMMIT\n"
            let accepted = (try? Ruleset.parse(text: text)) != nil
            #expect(accepted == valid(name), "\(name)")
        }
    }
}
