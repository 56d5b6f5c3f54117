import Netfilter
import Wire

/// The rules one kube-proxy sync writes, table by table, in the order it writes them: the
/// text it hands to `iptables-restore --noflush`, plus the jumps it installs in the built-in
/// chains (kube-proxy-rules.md §1.3).
public struct IPTablesRuleset: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public var chain: ChainName
        /// The words after `-A CHAIN` as kube-proxy writes them (comments carry their quotes).
        public var words: [String]
        /// Why kube-proxy writes the rule; it goes with the rule into the Netfilter engine.
        public var origin: RuleOrigin?

        public init(chain: ChainName, words: [String], origin: RuleOrigin? = nil) {
            self.chain = chain
            self.words = words
            self.origin = origin
        }

        /// The words joined by single spaces, as kube-proxy's LineBuffer does.
        public var spec: String { words.joined(separator: " ") }
        public var line: String { words.isEmpty ? "-A \(chain.rawValue)" : "-A \(chain.rawValue) \(spec)" }

        /// The words as iptables-restore reads them: one argument each, quotes removed.
        public var arguments: [String] { words.map(IPTablesQuoting.kubeProxyArgument) }

        /// The rule as the Netfilter engine builds it.
        var engineSpec: Ruleset.RuleSpec { Ruleset.RuleSpec(chain: chain.rawValue, words: arguments, origin: origin) }
    }

    public struct Table: Sendable, Equatable {
        public var name: TableName
        /// Chains declared with `:CHAIN - [0:0]`, in the order written.
        public var chains: [ChainName] = []
        public var rules: [Rule] = []

        public init(name: TableName, chains: [ChainName] = [], rules: [Rule] = []) {
            self.name = name
            self.chains = chains
            self.rules = rules
        }
    }

    /// A jump from a built-in chain, as `EnsureRule(Prepend, ...)` installs it.
    public struct Jump: Sendable, Equatable {
        public var table: TableName
        public var chain: Hook
        public var words: [String]
        public var origin: RuleOrigin?

        public init(table: TableName, chain: Hook, words: [String], origin: RuleOrigin? = RuleOrigin(.hookJump)) {
            self.table = table
            self.chain = chain
            self.words = words
            self.origin = origin
        }

        /// The jump as a rule of its built-in chain.
        public var rule: Rule { Rule(chain: ChainName(chain), words: words, origin: origin) }

        /// The jumps in the built-in chains in their final order (§1.3): on IPv4 kubelet's INPUT
        /// and OUTPUT → KUBE-FIREWALL exist first (appended by kubelet), then kube-proxy prepends
        /// `proxyJumps` in list order (`EnsureRule(Prepend, ...)`), so in each chain they end up
        /// reversed ahead of kubelet's. Chains come filter before nat, each in hook order.
        static func installed(_ proxyJumps: [Jump], family: IPFamily) -> [Jump] {
            struct Key: Hashable { var table: TableName; var chain: Hook }
            var chains: [Key: [Jump]] = [:]
            if family == .ipv4 {
                for hook in [Hook.input, .output] {
                    chains[Key(table: .filter, chain: hook), default: []].append(Jump(table: .filter, chain: hook, words: ["-j", ChainName.firewall.rawValue]))
                }
            }
            for j in proxyJumps { chains[Key(table: j.table, chain: j.chain), default: []].insert(j, at: 0) }
            return [TableName.filter, .nat].flatMap { table in
                Hook.allCases.flatMap { chains[Key(table: table, chain: $0)] ?? [] }
            }
        }
    }

    public var family: IPFamily = .ipv4
    public var filter = Table(name: .filter)
    public var nat = Table(name: .nat)
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
            out += "*\(t.name.rawValue)\n"
            for c in t.chains { out += ":\(c.rawValue) - [0:0]\n" }
            for r in t.rules { out += r.line + "\n" }
            out += "COMMIT\n"
        }
        return out
    }

    /// upstream `sortIPTablesRules`: chains KUBE-NODEPORTS, KUBE-SERVICES, then KUBE-* before
    /// others, alphabetically; rules grouped by chain in that order; KUBE-NODEPORTS (both tables)
    /// and KUBE-SERVICES (filter; nat with the NodePort jump kept last) stable-sorted by the
    /// service name in the comment (upstream takes the comment up to the first space or colon:
    /// the rule's Service, `ns/svc`, which kdp reads from the rule's origin).
    static func canonical(_ table: Table) -> Table {
        func rank(_ c: ChainName) -> (Int, String) {
            switch c {
            case .nodePorts: (0, c.rawValue)
            case .services: (1, c.rawValue)
            default: (c.isKube ? 2 : 3, c.rawValue)
            }
        }
        var out = Table(name: table.name)
        out.chains = table.chains.sorted { rank($0) < rank($1) }
        for chain in out.chains {
            var rules = table.rules.filter { $0.chain == chain }
            if chain == .nodePorts || chain == .services {
                let keyed = rules.enumerated().map { (i, r) in (i, r, serviceName(of: r)) }
                rules = keyed.sorted { a, b in
                    let aLast = a.1.origin?.purpose == .nodePortDispatch, bLast = b.1.origin?.purpose == .nodePortDispatch
                    if aLast != bLast { return bLast }
                    if let x = a.2, let y = b.2, x != y { return x < y }
                    return a.0 < b.0
                }.map(\.1)
            }
            out.rules += rules
        }
        return out
    }

    /// The Service (`ns/svc`) a rule serves, or nil for a rule of no one Service.
    static func serviceName(of rule: Rule) -> String? {
        rule.origin?.servicePort.map { "\($0.namespace)/\($0.name)" }
    }
}
