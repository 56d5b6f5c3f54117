import Testing
@testable import KubeProxy

/// knftables' `Fake.Dump()` and `nft -f` order chains, sets and maps by name as Go's
/// `sort.Strings` does: byte by byte, a name before any longer name it begins. kdp sorts on
/// each name's first 16 bytes as two integers and falls back to the whole name on a tie.
@Suite struct NFTablesRulesetOrderTests {
    /// Names built to defeat the 16-byte key: equal first 16 bytes, a name that is a prefix of
    /// another (shorter than 16 bytes too), bytes beyond ASCII, and an empty name.
    static let names = [
        "endpoint-ABCDEFGH-ns/b", "endpoint-ABCDEFGH-ns/a", "endpoint-ABCDEFGH", "endpoint-ABCDEFG",
        "endpoint-ABCDEFGH-ns/a/tcp", "service", "service-", "servicé", "servicf", "", "Z", "a",
        "endpoint-ABCDEFGH-ns/\u{00e9}", "endpoint-ABCDEFGH-ns/~", "firewall-X", "endpoint-ABCDEFGG-zz",
    ]

    @Test func namesAreOrderedByteByByteAsGosSortStrings() {
        let order = NFTablesRuleset.sortedOrder(Self.names) { $0 }
        let expected = Self.names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        #expect(order.map { Self.names[$0] } == expected)
        #expect(Set(order) == Set(Self.names.indices))
    }

    @Test func theDumpListsChainsAndTheirRulesInNameOrder() {
        var r = NFTablesRuleset(family: .ip)
        for name in Self.names where !name.isEmpty {
            r.addRule(name, .init("counter comment-free-\(name.utf8.count)"))
        }
        let chainLines = r.transactionText().split(separator: "\n").filter { $0.hasPrefix("add chain ") }
            .map { String($0.dropFirst("add chain ip kube-proxy ".count)) }
        let ruleChains = r.transactionText().split(separator: "\n").filter { $0.hasPrefix("add rule ") }
            .map { $0.dropFirst("add rule ip kube-proxy ".count).split(separator: " ")[0] }.map(String.init)
        let expected = Self.names.filter { !$0.isEmpty }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        #expect(chainLines == expected)
        #expect(ruleChains == expected)
    }
}
