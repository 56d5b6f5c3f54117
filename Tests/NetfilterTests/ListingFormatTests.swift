import Foundation
import Testing
@testable import Netfilter
import Wire

/// `iptables -S` input (issue 12 §2): the fixtures were recorded from iptables-nft 1.8.9 in a
/// test namespace after `iptables-restore` of kube-proxy-example.iptables-save (and an IPv6
/// ruleset with ip6tables-restore): `iptables -S`, `iptables -t nat -S`, `ip6tables -S`,
/// `ip6tables -t nat -S`, `iptables -t security -S`.
@Suite struct ListingFormatTests {
    /// Each table's chains as (name, policy, rule words) in order: what tracing reads.
    static func shape(_ rs: Ruleset) -> [String] {
        rs.tables.sorted { $0.name.rawValue < $1.name.rawValue }.flatMap { t in
            t.chains.sorted { $0.name < $1.name }.map { c in
                "\(t.name.rawValue) \(c.name) \(c.policy?.rawValue ?? "-"): " + c.rules.map { $0.words.map(\.text).joined(separator: " ") }.joined(separator: " | ")
            }
        }
    }

    @Test func concatenatedIPTablesSListingsGiveTheRulesOfIPTablesSave() throws {
        let listing = Fixtures.text("kube-proxy-example.iptables-S") + Fixtures.text("kube-proxy-example.nat.iptables-S")
        let fromListing = try Ruleset.parseDump(text: listing, file: "S")
        let fromSave = try Ruleset.parse(text: Fixtures.kubeProxySave, file: "save")
        #expect(Self.shape(fromListing) == Self.shape(fromSave))
        #expect(fromListing.tables.map(\.name) == [.filter, .nat])
        #expect(fromListing.tables.flatMap { $0.chains.flatMap(\.rules) }.count > 50)
    }

    /// `iptables -S -v` of filter and nat, then `-t mangle -S` and `-t raw -S` (empty): counters
    /// (`-c N M`) and every table's -P lines.
    @Test func verboseListingsOfFourTablesNameEachTable() throws {
        let rs = try Ruleset.parseDump(text: Fixtures.text("kube-proxy-example.four-tables-v.iptables-S"), file: "v")
        #expect(rs.tables.map(\.name) == [.filter, .nat, .mangle, .raw])
        let save = try Ruleset.parse(text: Fixtures.kubeProxySave)
        let words = { (r: Ruleset) in r.tables.flatMap { $0.chains.flatMap(\.rules) }.map { $0.words.map(\.text).filter { $0 != "-c" && $0 != "0" }.joined(separator: " ") } }
        #expect(words(rs) == words(save))
    }

    @Test func ip6tablesSListingsGiveTheRulesOfIP6TablesSave() throws {
        // The nat listing first: the order of the sections does not matter.
        let listing = Fixtures.text("kube-proxy-v6.nat.ip6tables-S") + Fixtures.text("kube-proxy-v6.ip6tables-S")
        let fromListing = try Ruleset.parseDump(text: listing, file: "S6")
        let fromSave = try Ruleset.parse(text: Fixtures.text("kube-proxy-v6.ip6tables-save"), file: "save6")
        #expect(Self.shape(fromListing) == Self.shape(fromSave))
    }

    @Test func eachSectionSaysWhichTableItWasTakenAsAndWhy() throws {
        let listing = Fixtures.text("kube-proxy-example.iptables-S") + Fixtures.text("kube-proxy-example.nat.iptables-S")
        let rs = try Ruleset.parseDump(text: listing, file: "node.S")
        #expect(rs.notes.count == 2)
        #expect(rs.notes[0].hasPrefix("node.S: lines 1-19 are `iptables -S` output of table filter"))
        #expect(rs.notes[0].contains("filter assumed; pass --table security"))
        #expect(rs.notes[1].hasPrefix("node.S: lines 20-98 are `iptables -S` output of table nat (from its -P lines"))
    }

    @Test func theTableFlagNamesWhatThePLinesCannot() throws {
        let aks = Fixtures.text("aks-wireserver.security.iptables-S")
        let assumed = try Ruleset.parseDump(text: aks, file: "aks")
        #expect(assumed.tables.map(\.name) == [.filter])
        let told = try Ruleset.parseDump(text: aks, file: "aks", table: .security)
        #expect(told.tables.map(\.name) == [.security])
        #expect(told.notes == ["aks: lines 1-6 are `iptables -S` output of table security (--table)"])
        #expect(Self.shape(told) == Self.shape(try Ruleset.parse(text: Fixtures.text("aks-wireserver.security.iptables-save"))))
        // -P lines that name one table win over --table, and the note says where it came from.
        let nat = try Ruleset.parseDump(text: Fixtures.text("kube-proxy-example.nat.iptables-S"), file: "n", table: .security)
        #expect(nat.tables.map(\.name) == [.nat])
    }

    @Test func eachTablesBuiltinChainsNameIt() throws {
        func table(_ chains: [String], flag: TableName? = nil) throws -> TableName? {
            let text = chains.map { "-P \($0) ACCEPT\n" }.joined() + "-N X\n"
            return try Ruleset.parseListing(text: text, table: flag).tables.first?.name
        }
        #expect(try table(["PREROUTING", "OUTPUT"]) == .raw)
        #expect(try table(["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]) == .mangle)
        #expect(try table(["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]) == .nat)
        #expect(try table(["PREROUTING", "OUTPUT", "POSTROUTING"]) == .nat)
        #expect(try table(["INPUT", "FORWARD", "OUTPUT"]) == .filter)
        #expect(try table(["INPUT", "FORWARD", "OUTPUT"], flag: .security) == .security)
        #expect(try table(["INPUT"], flag: .nat) == .nat, "iptables -t nat -S INPUT")
        #expect(throws: RulesetParseError.self) { try table(["PREROUTING"]) }
        #expect(try table(["PREROUTING", "OUTPUT"], flag: .filter) == .raw, "-P lines that name one table win")
        #expect(throws: RulesetParseError.self) { try table(["PREROUTING", "FORWARD"], flag: .filter) }
    }

    @Test func theFormatIsDetectedFromTheFirstLine() {
        #expect(RulesFormat.detect("# Generated by iptables-save\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n") == .save)
        #expect(RulesFormat.detect("\n# x\n-P INPUT ACCEPT\n") == .listing)
        #expect(RulesFormat.detect("-N KUBE-SERVICES\n-A KUBE-SERVICES -j RETURN\n") == .listing)
        #expect(RulesFormat.detect("") == .save)
    }

    @Test func printingAListingGivesIPTablesRestoreTextThatParsesTheSame() throws {
        let listing = Fixtures.text("kube-proxy-example.iptables-S") + Fixtures.text("kube-proxy-example.nat.iptables-S")
        let rs = try Ruleset.parseDump(text: listing)
        let restore = rs.iptablesSave()
        #expect(restore.hasPrefix("*filter\n-P INPUT ACCEPT\n"))
        #expect(Self.shape(try Ruleset.parse(text: restore)) == Self.shape(rs))
    }

    @Test func malformedListingsNameTheLine() {
        func error(_ text: String, table: TableName? = nil) -> RulesetParseError? {
            do { _ = try Ruleset.parseDump(text: text, file: "bad.S", table: table); return nil } catch { return error }
        }
        let second = "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n-P PREROUTING ACCEPT\n-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n-P POSTROUTING ACCEPT\n-A OUTPUT -p tcp --dport 99999 -j ACCEPT\n"
        #expect(error(second)?.line == 8)
        #expect(error(second)?.description == "bad.S:8: not a port or port range: '99999'")
        // Two empty tables' listings back to back: each run of -P lines in hook order is one.
        let empty = try? Ruleset.parseDump(text: "-P PREROUTING ACCEPT\n-P OUTPUT ACCEPT\n-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n")
        #expect(empty?.tables.map(\.name) == [.raw, .filter])
        #expect(error("-P INPUT ACCEPT\n*filter\n")?.line == 2)
        #expect(error("-P INPUT ACCEPT\nCOMMIT\n")?.line == 2)
        #expect(error("-P INPUT ACCEPT\n:X - [0:0]\n")?.line == 2)
        #expect(error("-P INPUT ACCEPT\n-P BOGUS ACCEPT\n")?.description == "bad.S:2: -P names a chain that is not built-in: 'BOGUS'")
        #expect(error("-P INPUT ACCEPT\n-A INPUT -j NOWHERE\n")?.line == 2)
        #expect(error("-P INPUT MAYBE\n")?.line == 1)
        let mixed = Fixtures.text("kube-proxy-example.iptables-S") + Fixtures.text("kube-proxy-v6.ip6tables-S")
        #expect(error(mixed)?.line == 20, "iptables -S and ip6tables -S pasted together")
    }

    @Test func aBuiltinChainDeclaredWithADashKeepsItsPolicy() throws {
        let fresh = try Ruleset.parse(text: "*filter\n:INPUT - [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n")
        #expect(fresh.table(.filter)?.chain("INPUT")?.policy == .accept)
        let text = "*filter\n:INPUT DROP [0:0]\nCOMMIT\n*filter\n:INPUT - [0:0]\nCOMMIT\n"
        let kept = try Ruleset.parse(text: text, noflush: true)
        #expect(kept.table(.filter)?.chain("INPUT")?.policy == .drop, "iptables-restore --noflush keeps the policy")
        #expect(kept.iptablesSave() == text)
        #expect(try Ruleset.parse(text: text).table(.filter)?.chain("INPUT")?.policy == .accept, "a flushed table starts at ACCEPT")
    }
}
