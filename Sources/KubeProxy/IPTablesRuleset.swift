import Wire

/// The rules one kube-proxy sync writes, table by table, in the order it writes them: the
/// text it hands to `iptables-restore --noflush`, plus the jumps it installs in the built-in
/// chains (kube-proxy-rules.md §1.3).
public struct IPTablesRuleset: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public var chain: String
        /// The words after `-A CHAIN` as kube-proxy writes them (comments carry their quotes).
        public var words: [String]

        public init(chain: String, words: [String]) {
            self.chain = chain
            self.words = words
        }

        /// The words joined by single spaces, as kube-proxy's LineBuffer does.
        public var spec: String { words.joined(separator: " ") }
        public var line: String { words.isEmpty ? "-A \(chain)" : "-A \(chain) \(spec)" }

        /// The words as iptables-restore reads them: one argument each, quotes removed.
        public var arguments: [String] {
            words.map { $0.count >= 2 && $0.hasPrefix("\"") && $0.hasSuffix("\"") ? String($0.dropFirst().dropLast()) : $0 }
        }
    }

    public struct Table: Sendable, Equatable {
        public var name: String
        /// Chains declared with `:CHAIN - [0:0]`, in the order written.
        public var chains: [String] = []
        public var rules: [Rule] = []
    }

    /// A jump from a built-in chain, as `EnsureRule(Prepend, ...)` installs it.
    public struct Jump: Sendable, Equatable {
        public var table: String
        public var chain: String
        public var words: [String]

        public init(table: String, chain: String, words: [String]) {
            self.table = table
            self.chain = chain
            self.words = words
        }
    }

    public var family: IPFamily = .ipv4
    public var filter = Table(name: "filter")
    public var nat = Table(name: "nat")
    public var jumps: [Jump] = []
    /// True when the endpoint comments were left out (more than 1000 endpoints).
    public var largeClusterMode = false

    public enum Order: String, Sendable, CaseIterable {
        /// kube-proxy's own order (services in the cluster's order).
        case emission
        /// The order upstream's tests compare in (`sortIPTablesRules`).
        case canonical
    }

    /// The `iptables-restore` input kube-proxy writes: `*filter`, chain lines, rules, `COMMIT`,
    /// then the same for `*nat`.
    public func restoreText(order: Order = .emission) -> String {
        var out = ""
        for table in [filter, nat] {
            let t = order == .canonical ? Self.canonical(table) : table
            out += "*\(t.name)\n"
            for c in t.chains { out += ":\(c) - [0:0]\n" }
            for r in t.rules { out += r.line + "\n" }
            out += "COMMIT\n"
        }
        return out
    }

    /// upstream `sortIPTablesRules`: chains KUBE-NODEPORTS, KUBE-SERVICES, then KUBE-* before
    /// others, alphabetically; rules grouped by chain in that order; KUBE-NODEPORTS (both tables)
    /// and KUBE-SERVICES (filter; nat with the NodePort jump kept last) stable-sorted by the
    /// service name in the comment (the comment up to the first space or colon).
    static func canonical(_ table: Table) -> Table {
        func rank(_ c: String) -> (Int, String) {
            switch c {
            case "KUBE-NODEPORTS": (0, c)
            case "KUBE-SERVICES": (1, c)
            default: (c.hasPrefix("KUBE-") ? 2 : 3, c)
            }
        }
        var out = Table(name: table.name)
        out.chains = table.chains.sorted { rank($0) < rank($1) }
        for chain in out.chains {
            var rules = table.rules.filter { $0.chain == chain }
            if chain == "KUBE-NODEPORTS" || chain == "KUBE-SERVICES" {
                let keyed = rules.enumerated().map { (i, r) in (i, r, serviceName(in: r.spec)) }
                rules = keyed.sorted { a, b in
                    let aLast = a.1.spec.contains("must be the last rule"), bLast = b.1.spec.contains("must be the last rule")
                    if aLast != bLast { return bLast }
                    if let x = a.2, let y = b.2, x != y { return x < y }
                    return a.0 < b.0
                }.map(\.1)
            }
            out.rules += rules
        }
        return out
    }

    /// The service name a rule's comment starts with, or nil for a rule without a comment.
    static func serviceName(in spec: String) -> String? {
        guard let range = spec.range(of: "--comment ") else { return nil }
        var comment = spec[range.upperBound...]
        if comment.hasPrefix("\"") { comment = comment.dropFirst() }
        let end = comment.firstIndex { $0 == " " || $0 == ":" || $0 == "\"" } ?? comment.endIndex
        return String(comment[..<end])
    }
}
