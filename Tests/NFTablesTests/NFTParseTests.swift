@testable import NFTables
import TestSupport
import Testing
import Wire

@Suite struct NFTParseTests {
    func parse(_ text: String, lenient: Bool = false) throws -> NFTRuleset {
        try NFTRuleset.parse(text, file: "rules.nft", lenient: lenient)
    }

    func error(_ text: String) -> NFTParseError? {
        do { _ = try NFTRuleset.parse(text, file: "rules.nft"); return nil } catch { return error }
    }

    @Test func transactionAndListingGiveTheSameObjects() throws {
        let tx = try parse(Fixtures.text(UpstreamOverall.path))
        let list = try parse(Fixtures.text("upstream-overall.list-handles"))
        #expect(tx.tables.count == 1 && list.tables.count == 1)
        #expect(tx.tables[0].family == .ip && tx.tables[0].name == "kube-proxy")
        #expect(Set(tx.chains.map(\.name)) == Set(list.chains.map(\.name)))
        for c in tx.chains {
            let other = list.chains[list.chain(0, c.name)!]
            #expect(c.rules.count == other.rules.count, "\(c.name)")
            #expect(c.base == other.base, "\(c.name)")
        }
        for name in ["cluster-ips", "nodeport-ips", "service-ips", "service-nodeports", "firewall-ips", "no-endpoint-services", "no-endpoint-nodeports"] {
            let a = tx.set(named: name)!, b = list.set(named: name)!
            #expect(Set(a.elements.map(\.low)) == Set(b.elements.map(\.low)), "\(name)")
            #expect(a.keyTypes == b.keyTypes && a.valueTypes == b.valueTypes)
        }
        #expect(tx.set(named: "service-ips")?.elements.count == 9)
        #expect(tx.set(named: "affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80")?.timeout == 10800)
        #expect(list.set(named: "affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80")?.timeout == 10800)
        #expect(list.set(named: "affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80")?.isDynamic == true)
    }

    @Test func handlesComeFromNftA() throws {
        let rs = try parse(Fixtures.text("upstream-overall.list-handles"))
        let services = rs.chains[rs.chain(0, "services")!]
        #expect(services.rules.map(\.handle) == [61, 62])
        #expect(services.handle == 22)
        #expect(rs.chains[rs.chain(0, "cluster-ips-check")!].rules[0].comment == "Reject traffic to invalid ports of ClusterIPs")
    }

    @Test func namedPrioritiesResolveAsNftDefinesThem() throws {
        let rs = try parse(Fixtures.text("upstream-overall.list"))
        func base(_ n: String) -> NFTBaseChain? { rs.chains[rs.chain(0, n)!].base }
        #expect(base("filter-prerouting-pre-dnat")?.priority == -110)  // printed "dstnat - 10"
        #expect(base("nat-prerouting")?.priority == -100)               // "dstnat"
        #expect(base("nat-postrouting")?.priority == 100)               // "srcnat"
        #expect(base("filter-forward")?.priority == 0)                  // "filter"
        #expect(base("nat-output")?.type == .nat && base("nat-output")?.hook == .output)
        let features = try parse(Fixtures.text("features.list"))
        #expect(features.chains[features.chain(0, "pre")!].base?.priority == -145)   // mangle + 5
        #expect(features.chains[features.chain(0, "post")!].base?.priority == 95)    // srcnat - 5
        #expect(features.chains[features.chain(0, "forwarding")!].base?.policyDrop == true)
        let bridge = try parse("table bridge b {\n chain c {\n type filter hook forward priority filter; policy accept;\n }\n}\n")
        #expect(bridge.chains[0].base?.priority == -200)
    }

    @Test func baseChainsRunInPriorityOrderAcrossTables() throws {
        let rs = try parse("""
        table inet late { chain c { type filter hook prerouting priority 10; } }
        table ip early { chain c { type filter hook prerouting priority raw; } }
        table ip mid { chain c { type nat hook prerouting priority dstnat; } }
        table ip6 other { chain c { type filter hook prerouting priority -500; } }
        """)
        let order = rs.baseChains(at: .prerouting, family: .ipv4).map { rs.tables[rs.chains[Int($0)].table].name }
        #expect(order == ["early", "mid", "late"])
        #expect(rs.baseChains(at: .prerouting, family: .ipv6).map { rs.tables[rs.chains[Int($0)].table].name } == ["other", "late"])
    }

    @Test func intervalsPrefixesAndRangesAreLookedUp() throws {
        let engine = NFTEngine(try parse(Fixtures.text("features.list-handles")))
        let set = engine.ruleset.set(named: "pod-cidrs")!
        func member(_ a: String) -> Bool {
            let v = UInt128((try! IPAddress(parsing: a)).v4!.value)
            var k = NFTKey(); k.append(v, bits: 32)
            return [v].withUnsafeBufferPointer { set.lookup(k, fields: $0) } != nil
        }
        #expect(member("10.244.3.7") && member("10.244.0.0") && member("10.244.255.255"))
        #expect(!member("10.245.0.0") && !member("10.243.255.255"))
        #expect(member("192.168.1.1") && member("192.168.1.10") && member("192.168.1.5") && !member("192.168.1.11"))
        #expect(member("172.16.0.1") && !member("172.16.0.2"))
    }

    @Test func concatenationsWithRangesMatchEveryField() throws {
        let rs = try parse(Fixtures.text("features.list"))
        let set = rs.set(named: "web-ports")!
        func member(_ a: String, _ port: UInt16) -> Bool {
            let v = [UInt128((try! IPAddress(parsing: a)).v4!.value), UInt128(port)]
            var k = NFTKey(); k.append(v[0], bits: 32); k.append(v[1], bits: 16)
            return v.withUnsafeBufferPointer { set.lookup(k, fields: $0) } != nil
        }
        #expect(member("10.96.0.10", 80) && member("10.111.255.255", 90))
        #expect(!member("10.96.0.10", 91) && !member("10.112.0.1", 80))
        #expect(member("10.1.2.3", 443) && !member("10.1.2.3", 444))
    }

    @Test func elementTimeoutsAndExpiriesAreRead() throws {
        let rs = try parse(Fixtures.text("features.list"))
        let seen = rs.set(named: "seen")!
        #expect(seen.timeout == 3 * 3600)
        #expect(seen.elements.first?.timeout == 3600)
        #expect(seen.elements.first?.expires == 29 * 60 + 60)  // 29m59s972ms, rounded up
        #expect(NFTParser.seconds("1d2h3m4s") == 93784)
        #expect(NFTParser.seconds("3x") == nil)
    }

    @Test func unknownConstructNamesFileLineColumnAndConstruct() {
        let text = "add table ip t\nadd chain ip t c\nadd rule ip t c ip ttl 5 drop\n"
        let e = error(text)
        #expect(e?.line == 3)
        #expect(e?.column == 20)
        #expect(e?.description == "rules.nft:3:20: 'ip ttl' is not something kdp models (--lenient takes the rule as never matching)")
        #expect(error("add table ip t\nadd chain ip t c\nadd rule ip t c limit rate 5/second accept\n")?.description.hasPrefix("rules.nft:3:17: 'limit'") == true)
    }

    @Test func syntaxErrorsNamePosition() {
        #expect(error("add chain ip t c\n")?.description == "rules.nft:1:14: no table ip t (add it first)")
        #expect(error("table ip t {\n chain c {\n  jump nowhere\n }\n}\n")?.description == "rules.nft:3:8: no chain 'nowhere' in table t to jump to")
        #expect(error("table ip t {\n set s { type ipv4_addr; elements = { 10.0.0.300 } }\n}\n")?.line == 2)
        #expect(error("table ip t {\n chain c { type filter hook input priority sideways; }\n}\n")?.description.contains("priority 'sideways'") == true)
        #expect(error("table ip t {\n chain c {\n  ip daddr @nope drop\n }\n}\n")?.description == "rules.nft:3:12: no set or map 'nope' in table t")
        #expect(error("table ip t { comment \"open\n}\n")?.description == "rules.nft:1:22: unterminated string")
    }

    @Test func lenientModeMakesTheRuleNeverMatchAndSaysSo() throws {
        let text = "add table ip t\nadd chain ip t c { type filter hook input priority 0 ; policy accept ; }\nadd rule ip t c ip ttl 5 drop\nadd rule ip t c ip saddr 10.0.0.1 drop\n"
        let rs = try parse(text, lenient: true)
        #expect(rs.notes == ["rules.nft:3:20: 'ip ttl' is not something kdp models: the rule never matches (--lenient)"])
        #expect(rs.chains[0].rules[0].unsupported == "'ip ttl'")
        let engine = NFTEngine(rs)
        var p = NFTPacket(source: try IPAddress(parsing: "10.0.0.2"), destination: try IPAddress(parsing: "10.0.0.3"))
        var state = NFTDynamicState(), chooser = NFTChooser(seed: 1)
        var steps: [NFTStep]? = []
        #expect(engine.run(hook: .input, packet: &p, ct: .new, local: [], state: &state, chooser: &chooser, steps: &steps).verdict == .accept)
        p.source = try IPAddress(parsing: "10.0.0.1")
        #expect(engine.run(hook: .input, packet: &p, ct: .new, local: [], state: &state, chooser: &chooser, steps: &steps).verdict == .drop)
    }

    @Test func overlappingRangesInAnAnonymousSetAreMerged() throws {
        let rs = try parse("table ip t {\n chain c {\n  ip daddr { 10.0.0.0/8, 10.1.0.0/16, 10.0.0.1-10.0.0.9, 11.0.0.0/8 } drop\n }\n}\n")
        let set = rs.sets.first { $0.anonymous }!
        func member(_ a: String) -> Bool {
            let v = UInt128((try! IPAddress(parsing: a)).v4!.value)
            var k = NFTKey(); k.append(v, bits: 32)
            return [v].withUnsafeBufferPointer { set.lookup(k, fields: $0) } != nil
        }
        #expect(member("10.200.0.1") && member("10.1.2.3") && member("11.0.0.1") && member("10.0.0.5"))
        #expect(!member("12.0.0.0") && !member("9.255.255.255"))
    }
}

/// The parser finds chains and sets by name through its own indexes; deleting and adding them
/// again (as `nft -f` files and knftables transactions do) must name the object that exists now.
@Suite struct NFTParseNamingTests {
    @Test func aChainDeletedAndAddedAgainIsTheOneJumpsReach() throws {
        let rs = try NFTRuleset.parse("""
            add table ip t
            add chain ip t base { type filter hook input priority 0 ; }
            add chain ip t target
            add rule ip t target drop
            delete chain ip t target
            add chain ip t target
            add rule ip t target accept
            add rule ip t base jump target
            """, file: "rules.nft")
        let live = try #require(rs.chain(0, "target"))
        #expect(rs.chains[live].rules.count == 1)
        let base = try #require(rs.chain(0, "base"))
        guard case .verdict(.jump(let to))? = rs.chains[base].rules.first?.exprs.last else {
            Issue.record("no jump in \(rs.chains[base].rules)"); return
        }
        #expect(Int(to) == live)
        #expect(rs.chains.filter { $0.name == "target" }.count == 1)
    }

    /// A deleted chain is gone from the index too: a jump to it is an error naming its line.
    @Test func aJumpToADeletedChainIsRefusedWithItsLine() {
        do {
            _ = try NFTRuleset.parse("""
                add table ip t
                add chain ip t base { type filter hook input priority 0 ; }
                add chain ip t target
                delete chain ip t target
                add rule ip t base jump target
                """, file: "rules.nft")
            Issue.record("a jump to a deleted chain was accepted")
        } catch {
            #expect(error.file == "rules.nft" && error.line == 5)
            #expect(error.message.contains("no chain 'target'"), "\(error.message)")
        }
    }

    @Test func aSetDeletedAndAddedAgainIsTheOneRulesReadAndElementsFill() throws {
        let rs = try NFTRuleset.parse("""
            add table ip t
            add set ip t s { type ipv4_addr ; }
            add element ip t s { 10.0.0.1 }
            delete set ip t s
            add set ip t s { type ipv4_addr ; }
            add element ip t s { 10.0.0.2 }
            add chain ip t c
            add rule ip t c ip daddr @s drop
            """, file: "rules.nft")
        let live = try #require(rs.set(0, "s"))
        #expect(rs.sets[live].elements.count == 1)
        #expect(rs.sets.filter { $0.name == "s" && !$0.anonymous }.count == 1)
        let s = try #require(rs.set(named: "s"))
        #expect(s.elements.map(\.low) == [[UInt128(0x0A00_0002)]])
    }

    @Test func aTableDeletedAndAddedAgainStartsEmpty() throws {
        let text = """
            add table ip t
            add chain ip t c
            add rule ip t c drop
            add set ip t s { type ipv4_addr ; }
            delete table ip t
            add table ip t
            add chain ip t c
            """
        let rs = try NFTRuleset.parse(text, file: "rules.nft")
        let c = try #require(rs.chain(rs.table(.ip, "t")!, "c"))
        #expect(rs.chains[c].rules.isEmpty)
        // The old table's set went with it, as nft says.
        #expect(throws: NFTParseError.self) { try NFTRuleset.parse(text + "\nadd rule ip t c ip daddr @s drop", file: "rules.nft") }
    }
}

/// The tokenizer reads bytes but reports columns in characters, as error messages promise.
@Suite struct NFTTokenizerTests {
    @Test func columnsCountCharactersAndCRLFEndsOneLine() throws {
        let tokens = try NFTTokenizer.tokenize("a \"éé\" b\r\nc {x};", file: "t.nft")
        let shown = tokens.map { t -> String in
            let what: String = switch t.kind {
            case .word(let w): "w:\(w)"
            case .string(let s): "s:\(s)"
            case .newline: "nl"
            case .lbrace: "{"
            case .rbrace: "}"
            case .semicolon: ";"
            case .comma: ","
            case .handle(let n): "h:\(n)"
            }
            return "\(what)@\(t.line):\(t.column)"
        }
        #expect(shown == ["w:a@1:1", "s:éé@1:3", "w:b@1:8", "nl@1:9", "w:c@2:1", "{@2:3", "w:x@2:4", "}@2:5", ";@2:6", "nl@2:7"])
    }

    @Test func anUnterminatedStringNamesItsLineAndColumn() {
        do {
            _ = try NFTTokenizer.tokenize("add rule\n  x \"é open\n", file: "t.nft")
            Issue.record("no error")
        } catch {
            #expect(error.line == 2 && error.column == 5 && error.message == "unterminated string")
        }
    }

    @Test func handlesAreKept() throws {
        let tokens = try NFTTokenizer.tokenize("accept # handle 12\n", file: "t.nft")
        #expect(tokens.contains { if case .handle(12) = $0.kind { true } else { false } })
    }
}
