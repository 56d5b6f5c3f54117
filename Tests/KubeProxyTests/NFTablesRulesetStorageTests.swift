import Testing
@testable import KubeProxy

/// `NFTablesRuleset` keeps rule and element text as bytes in one arena, found again through
/// `NFTablesHashIndex`. What knftables' fake does must still hold: an element added again with
/// the same key replaces the old one where it was, a chain added twice is one chain, and the
/// object view (`chains`, `containers`, `chain(named:)`) gives back what was added.
@Suite struct NFTablesRulesetStorageTests {
    static func map(_ r: inout NFTablesRuleset, _ name: String) {
        r.addContainer(.init(.map, name: name, type: "ipv4_addr . inet_proto . inet_service : verdict"))
    }

    @Test func anElementAddedAgainReplacesTheOldOneWhereItWas() {
        var r = NFTablesRuleset(family: .ip)
        Self.map(&r, "service-ips")
        Self.map(&r, "other")
        r.addElement("service-ips", .init(key: ["10.0.0.1", "tcp", "80"], value: ["goto a"]))
        r.addElement("service-ips", .init(key: ["10.0.0.2", "tcp", "80"], value: ["goto b"]))
        // The same key in another map is another element.
        r.addElement("other", .init(key: ["10.0.0.1", "tcp", "80"], value: ["goto x"]))
        r.addElement("service-ips", .init(key: ["10.0.0.1", "tcp", "80"], value: ["goto c"], comment: "again"))
        let elements = r.container(named: "service-ips")!.elements
        #expect(elements.map(\.key) == [["10.0.0.1", "tcp", "80"], ["10.0.0.2", "tcp", "80"]])
        #expect(elements.map(\.value) == [["goto c"], ["goto b"]])
        #expect(elements[0].comment == "again")
        #expect(r.container(named: "other")!.elements.map(\.value) == [["goto x"]])
        let lines = r.transactionText().split(separator: "\n").filter { $0.hasPrefix("add element") }
        #expect(lines == [
            "add element ip kube-proxy other { 10.0.0.1 . tcp . 80 : goto x }",
            "add element ip kube-proxy service-ips { 10.0.0.1 . tcp . 80 comment \"again\" : goto c }",
            "add element ip kube-proxy service-ips { 10.0.0.2 . tcp . 80 : goto b }",
        ])
    }

    @Test func thousandsOfKeysAreEachFoundAgainAfterTheIndexGrows() {
        var r = NFTablesRuleset(family: .ip)
        Self.map(&r, "m")
        let n = 5_000
        for i in 0..<n { r.addElement("m", .init(key: ["10.0.\(i / 256).\(i % 256)", "tcp", "80"], value: ["goto first-\(i)"])) }
        for i in stride(from: 0, to: n, by: 7) { r.addElement("m", .init(key: ["10.0.\(i / 256).\(i % 256)", "tcp", "80"], value: ["goto second-\(i)"])) }
        let elements = r.container(named: "m")!.elements
        #expect(elements.count == n)
        for (i, e) in elements.enumerated() {
            #expect(e.key == ["10.0.\(i / 256).\(i % 256)", "tcp", "80"])
            #expect(e.value == [i % 7 == 0 ? "goto second-\(i)" : "goto first-\(i)"])
        }
    }

    @Test func aChainAddedTwiceIsOneChainWithItsRulesInOrder() {
        var r = NFTablesRuleset(family: .ip)
        r.addChain(.init(name: "services", comment: "first"))
        r.addRule("services", .init("ip daddr 10.0.0.1 drop"))
        r.addChain(.init(name: "services", comment: "second"))
        r.addRule("endpoint-X", .init("meta l4proto tcp dnat to 10.1.0.1:80", comment: "made by its rule"))
        r.addRule("services", .init("accept", comment: "last"))
        #expect(r.chains.map(\.name) == ["services", "endpoint-X"])
        let services = r.chain(named: "services")!
        #expect(services.comment == "first")
        #expect(services.rules == [.init("ip daddr 10.0.0.1 drop"), .init("accept", comment: "last")])
        #expect(r.chain(named: "endpoint-X")!.rules == [.init("meta l4proto tcp dnat to 10.1.0.1:80", comment: "made by its rule")])
        #expect(r.chain(named: "missing") == nil)
    }

    @Test func rulesetsWithTheSameObjectsAreEqualWhateverTheirHistory() {
        var a = NFTablesRuleset(family: .ip), b = NFTablesRuleset(family: .ip)
        Self.map(&a, "m")
        Self.map(&b, "m")
        a.addElement("m", .init(key: ["10.0.0.1", "tcp", "80"], value: ["goto old"]))
        a.addElement("m", .init(key: ["10.0.0.1", "tcp", "80"], value: ["goto new"]))
        b.addElement("m", .init(key: ["10.0.0.1", "tcp", "80"], value: ["goto new"]))
        #expect(a == b)
        b.addRule("c", .init("accept"))
        #expect(a != b)
    }
}
