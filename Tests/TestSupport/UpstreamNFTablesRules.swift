import Foundation

/// Upstream kube-proxy's nftables-mode expectations (pkg/proxy/nftables/proxier_test.go at
/// kubernetes commit 81810de635aa13aa0a32992f6def3aa9d6025ebc): `baseRules` plus
/// TestOverallNFTablesRules' text, exactly as the test has them after `dedent.Dedent`
/// (the file Tests/KubeProxyTests/Fixtures/nftables/overall-expected.nft), and the comparison
/// upstream's `assertNFTablesTransactionEqual` makes (helpers_test.go `sortNFTablesTransaction`).
public enum UpstreamNFTablesRules {
    static var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("KubeProxyTests/Fixtures/nftables")
    }

    /// `baseRules + dedent.Dedent(…)` of TestOverallNFTablesRules, as it is.
    public static var overallExpected: String { fixture("overall-expected.nft") }

    /// A fixture of that folder, as it is ("" when missing, so the comparison fails).
    public static func fixture(_ name: String) -> String {
        (try? String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    /// helpers_test.go `objectOrder`: higher sorts earlier.
    static let objectOrder = ["table": 10, "chain": 9, "rule": 8, "set": 7, "map": 6, "element": 5]

    /// helpers_test.go `sortNFTablesTransaction`: blank lines and `#` comments dropped, then a
    /// stable sort by object type, then object name (the fifth word), rules kept in their
    /// order, other lines of one object by the whole line.
    public static func sortTransaction(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        // Go's sort.SliceStable with upstream's less function; a stable merge keeps equal
        // lines in their order, as SliceStable does.
        func less(_ li: String, _ lj: String) -> Bool {
            let wi = li.split(separator: " ", omittingEmptySubsequences: false)
            let wj = lj.split(separator: " ", omittingEmptySubsequences: false)
            if wi.count < 5 || wj.count < 5 { return false }
            if wi[1] != wj[1] { return (objectOrder[String(wi[1])] ?? 0) >= (objectOrder[String(wj[1])] ?? 0) }
            if wi[4] != wj[4] { return wi[4].utf8.lexicographicallyPrecedes(wj[4].utf8) }
            if wi[1] == "rule" { return false }
            return li.utf8.lexicographicallyPrecedes(lj.utf8)
        }
        return stableSorted(lines, by: less).joined(separator: "\n")
    }

    /// Whether upstream's assertion would pass: both sides sorted as it sorts them, equal.
    public static func transactionsEqual(_ expected: String, _ result: String) -> Bool {
        sortTransaction(expected) == sortTransaction(result)
    }

    /// The first differing line of the two sorted transactions, for a test's message.
    public static func firstDifference(_ expected: String, _ result: String) -> String? {
        let e = sortTransaction(expected).split(separator: "\n", omittingEmptySubsequences: false)
        let r = sortTransaction(result).split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<max(e.count, r.count) {
            let a = i < e.count ? String(e[i]) : "<none>", b = i < r.count ? String(r[i]) : "<none>"
            if a != b { return "sorted line \(i + 1):\n expected: \(a)\n got:      \(b)" }
        }
        return nil
    }

    /// Insertion-based merge sort: stable, as Go's `sort.SliceStable` (which is an insertion
    /// sort plus symmerge, equally stable; stability is all the comparison relies on).
    static func stableSorted(_ a: [String], by less: (String, String) -> Bool) -> [String] {
        if a.count <= 1 { return a }
        let mid = a.count / 2
        let l = stableSorted(Array(a[..<mid]), by: less), r = stableSorted(Array(a[mid...]), by: less)
        var out: [String] = []
        out.reserveCapacity(a.count)
        var i = 0, j = 0
        while i < l.count && j < r.count {
            if less(r[j], l[i]) { out.append(r[j]); j += 1 } else { out.append(l[i]); i += 1 }
        }
        out += l[i...]
        out += r[j...]
        return out
    }
}
