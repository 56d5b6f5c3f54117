import Foundation
import TestSupport
import Testing
@testable import Dataplane
import Netfilter
import Wire

/// `kdp trace-rules --rules FILE --nft FILE`: iptables' tables and nft base chains at one hook
/// run together by priority, as the kernel runs iptables-nft's tables (base chains at raw -300,
/// mangle -150, nat -100/100, filter 0, security 50) beside a native nft table.
@Suite struct NFTMixedTraceRulesTests {
    static let iptables = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT
        -A INPUT -p tcp -m tcp --dport 2223 -j DROP
        -A INPUT -p tcp -m tcp --dport 2224 -j ACCEPT
        COMMIT
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.5:8080
        -A PREROUTING -d 10.96.0.2/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.99:8080
        COMMIT

        """

    static let nft = """
        table ip mix {
        \tchain early {
        \t\ttype filter hook input priority -200; policy accept;
        \t\ttcp dport 2222 counter drop comment "nft drops before iptables filter"
        \t}
        \tchain late {
        \t\ttype filter hook input priority 10; policy accept;
        \t\ttcp dport 2224 drop
        \t}
        \tchain nat-before {
        \t\ttype nat hook prerouting priority -110; policy accept;
        \t\tip daddr 10.96.0.2 tcp dport 80 dnat to 10.244.2.6:8080
        \t}
        \tchain nat-after {
        \t\ttype nat hook prerouting priority -90; policy accept;
        \t\tip daddr 10.96.0.1 tcp dport 80 dnat to 10.244.3.7:9090
        \t\tip daddr 10.96.0.3 tcp dport 80 dnat to 10.244.3.8:9090
        \t}
        }

        """

    func trace(rules: String = iptables, nft: String = nft, _ dst: String, _ port: UInt16, src: String = "192.168.1.9",
               locals: [IPAddress] = [try! IPAddress(parsing: "10.0.0.1")], allPaths: Bool = false) throws -> Trace {
        var request = TraceRulesRequest(rulesText: rules, rulesFile: "ipt.rules", localAddresses: locals, source: try IPAddress(parsing: src),
                                        destination: try IPAddress(parsing: dst), destinationPort: port, options: TraceOptions(allPaths: allPaths))
        request.nftText = nft
        request.nftFile = "mix.nft"
        return try request.run()
    }

    @Test func nftFilterChainAtMinus200DropsBeforeIPTablesFilterAccepts() throws {
        let p = try trace("10.0.0.1", 2222).paths[0]
        #expect(p.verdict == .dropped)
        #expect(p.decidedBy.description == "tcp dport 2222 counter drop comment \"nft drops before iptables filter\"")
        #expect(p.reason == "nft drops before iptables filter")
        let step = try #require(p.steps.last { $0.table == "ip mix" })
        #expect(step.chain == "early" && step.rule == 1 && step.action == "drop")
        #expect(!p.steps.contains { $0.table == "filter" })
    }

    @Test func iptablesAcceptEndsOnlyItsTableAndALaterNFTChainStillDrops() throws {
        let dropped = try trace("10.0.0.1", 2224).paths[0]
        #expect(dropped.verdict == .dropped)
        let order = dropped.steps.compactMap { st -> String? in st.chain.map { "\(st.table) \($0)" } }
        #expect(order.suffix(2) == ["filter INPUT", "ip mix late"])
        // iptables' own drop decides before the nft chain at priority 10 runs.
        let byIPTables = try trace("10.0.0.1", 2223).paths[0]
        #expect(byIPTables.verdict == .dropped)
        #expect(byIPTables.decidedBy.description == "-A INPUT -p tcp -m tcp --dport 2223 -j DROP")
    }

    @Test func nftNATChainAtMinus110BindsBeforeIPTablesNAT() throws {
        let p = try trace("10.96.0.2", 80).paths[0]
        #expect(p.dnat?.description == "10.244.2.6:8080")
        #expect(p.finalPacket.destination == (try IPAddress(parsing: "10.244.2.6")))
        // The first binding ends the nat list: iptables' nat PREROUTING is not walked.
        #expect(!p.steps.contains { $0.chain == "PREROUTING" && $0.table == "nat" })
        let nat = try #require(p.steps.first { $0.chain == "nat-before" })
        #expect(nat.rewrite == .dnat(try IPAddress(parsing: "10.244.2.6"), port: 8080))
    }

    @Test func nftNATChainAtMinus90LosesToIPTablesNATButBindsWhatItLeaves() throws {
        let lost = try trace("10.96.0.1", 80).paths[0]
        #expect(lost.dnat?.description == "10.244.1.5:8080")
        #expect(!lost.steps.contains { $0.chain == "nat-after" })
        let left = try trace("10.96.0.3", 80).paths[0]
        #expect(left.dnat?.description == "10.244.3.8:9090")
        let chains = left.steps.compactMap(\.chain)
        #expect(chains.firstIndex(of: "PREROUTING")! < chains.firstIndex(of: "nat-after")!)
    }

    @Test func chainsAtAnIPTablesPriorityAreNotedAsAssumedOrder() throws {
        let tie = Self.nft.replacingOccurrences(of: "priority 10;", with: "priority 0;")
        let t = try trace(nft: tie, "10.0.0.1", 2224)
        #expect(t.notes.contains { $0.contains("ip mix late (filter, input priority 0)") })
        #expect(t.paths[0].verdict == .dropped)
    }

    @Test func badNFTTextIsAnErrorNamingFileLineAndColumn() throws {
        #expect(throws: TraceRulesError.self) { try trace(nft: "table ip x {\n\tchain c {\n\t\tfrobnicate\n\t}\n}\n", "10.0.0.1", 22) }
        do { _ = try trace(nft: "table ip x {\n\tchain c {\n\t\tfrobnicate\n\t}\n}\n", "10.0.0.1", 22) } catch {
            #expect(String(describing: error).hasPrefix("mix.nft:3:"))
        }
    }

    /// Upstream's TestOverallNFTablesRules ruleset beside an empty iptables ruleset: the merged
    /// walk gives exactly what the nft-alone walk (`NFTTraceRulesRequest`) gives, for every
    /// upstream packet flow (endpoints with their probabilities, masquerade, drop, reject).
    @Test func upstreamNFTRulesetThroughTheSeamMatchesTheNFTWalk() throws {
        let nftText = NFTTraceRulesTests.text(UpstreamOverall.path)
        #expect(!nftText.isEmpty)
        for (name, src, proto, dst, port, _, _) in NFTTraceRulesTests.flows {
            var request = TraceRulesRequest(rulesText: "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", rulesFile: "empty.rules",
                                            localAddresses: NFTTraceRulesTests.nodeIPs, source: try IPAddress(parsing: src),
                                            destination: try IPAddress(parsing: dst), destinationPort: port, proto: proto,
                                            options: TraceOptions(allPaths: true))
            let alone = try NFTTraceRulesRequest(nftText: nftText, nftFile: "u.nft", request: request).run()
            request.nftText = nftText
            let merged = try request.run()
            func summary(_ v: Verdict, _ d: SocketAddress?, _ m: Bool, _ p: Double) -> String { "\(v) \(d?.description ?? "-") \(m) \(p)" }
            let a = alone.paths.map { summary($0.verdict, $0.dnat, $0.masquerade, $0.probability) }.sorted()
            let b = merged.paths.map { summary($0.verdict, $0.dnat, $0.masquerade, $0.probability) }.sorted()
            #expect(a == b, "\(name)")
            let reasonsAlone: [String] = alone.paths.map { $0.reason ?? "" }.sorted()
            let reasonsMerged: [String] = merged.paths.map { $0.reason ?? "" }.sorted()
            #expect(reasonsAlone == reasonsMerged, "\(name)")
        }
    }

    /// `kdp verify`'s classes see the nft ruleset's constants: an interval element or range is
    /// the exact prefixes covering it.
    @Test func nftRangesBecomeTheExactPrefixesCoveringThem() throws {
        func p(_ a: String, _ b: String) throws -> [String] {
            guard case .v4(let x) = try IPAddress(parsing: a), case .v4(let y) = try IPAddress(parsing: b) else { return [] }
            return NFTChains.prefixes(.ipv4, UInt128(x.value), UInt128(y.value)).map(\.description)
        }
        #expect(try p("10.0.0.0", "10.0.0.255") == ["10.0.0.0/24"])
        #expect(try p("10.0.0.1", "10.0.0.6") == ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"])
        #expect(try p("0.0.0.0", "255.255.255.255") == ["0.0.0.0/0"])
    }
}
