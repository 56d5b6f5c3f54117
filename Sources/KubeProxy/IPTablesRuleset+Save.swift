import Netfilter
import Wire

extension IPTablesRuleset {
    /// kubelet's rule in its KUBE-FIREWALL chain (IPv4): no martian 127/8 destinations from off
    /// the node. Spelled as kube-proxy writes its identical copy (the comment in quotes).
    static let kubeletLocalnetRule = Rule(
        chain: .firewall,
        words: ["-m", "comment", "--comment", IPTablesQuoting.kubeProxyComment("block incoming localnet connections"),
                "-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8",
                "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"],
        origin: RuleOrigin(.localnetFirewall))

    /// What `iptables-save` (or `ip6tables-save`) shows on the node once kubelet and this
    /// kube-proxy sync have run, without the `# Generated`/`# Completed` comment lines (they
    /// carry the time). kubelet's part: KUBE-IPTABLES-HINT and KUBE-KUBELET-CANARY, and for IPv4
    /// its KUBE-FIREWALL chain with the localnet rule and the INPUT/OUTPUT jumps to it.
    /// kube-proxy's: its canaries (`proxyCanary`: only the iptables proxier makes one), its
    /// chains, and its jumps from the built-in chains.
    ///
    /// iptables-nft-save prints tables in a fixed order (mangle, raw, filter, nat), built-in
    /// chains in hook order with policy ACCEPT, then user chains by name, then every chain's
    /// rules in that chain order, each normalized as the kernel gives it back (`SaveNormalizer`).
    public func saveText(proxyCanary: Bool = true) throws -> String {
        var out = ""
        for table in [TableName.mangle, .filter, .nat] {
            var chains: Set<ChainName> = [.kubeletCanary]
            if proxyCanary { chains.insert(.proxyCanary) }
            var rules: [(chain: ChainName, words: [String])] = []
            if table == .mangle { chains.insert(.iptablesHint) }
            let own = table == .filter ? filter : (table == .nat ? nat : Table(name: table))
            chains.formUnion(own.chains)
            for j in jumps where j.table == table { rules.append((ChainName(j.chain), j.rule.arguments)) }
            if table == .filter && family == .ipv4 && !own.chains.contains(.firewall) {
                // kubelet's copy of the localnet rule, left alone when kube-proxy does not write its own.
                chains.insert(.firewall)
                rules.append((.firewall, Self.kubeletLocalnetRule.arguments))
            }
            rules += own.rules.map { ($0.chain, $0.arguments) }
            let userChains = chains.sorted { Array($0.rawValue.utf8).lexicographicallyPrecedes(Array($1.rawValue.utf8)) }
            let builtIn = table.builtinChains.map(ChainName.init)
            out += "*\(table.rawValue)\n"
            for c in builtIn { out += ":\(c.rawValue) ACCEPT [0:0]\n" }
            for c in userChains { out += ":\(c.rawValue) - [0:0]\n" }
            var byChain: [ChainName: [[String]]] = [:]
            for r in rules { byChain[r.chain, default: []].append(r.words) }
            for chain in builtIn + userChains {
                for words in byChain[chain] ?? [] {
                    out += (["-A", chain.rawValue] + (try SaveNormalizer.normalize(words, family: family))).joined(separator: " ") + "\n"
                }
            }
            out += "COMMIT\n"
        }
        return out
    }
}

extension IPTablesRuleset {
    /// One iptables-restore input that leaves a fresh namespace as this node's kube-proxy leaves
    /// a real node: its chains and rules, with the jumps from the built-in chains already in their
    /// final order. Built-in chains are not declared, so, as on a real node (where kube-proxy
    /// inserts its jumps with `-I` and restores only KUBE-* chains), iptables-nft creates a base
    /// chain only for a built-in chain that has rules; an empty one does not exist and does not
    /// show in `nft monitor trace`.
    public func nodeRestoreText() -> String {
        var out = ""
        for table in [nodeFilter, nat] {
            out += "*\(table.name.rawValue)\n"
            for c in table.chains { out += ":\(c.rawValue) - [0:0]\n" }
            for j in jumps where j.table == table.name { out += j.rule.line + "\n" }
            for r in table.rules { out += r.line + "\n" }
            out += "COMMIT\n"
        }
        return out
    }
}

extension IPTablesRuleset {
    /// The node's rules (kube-proxy's chains and the jumps into them) handed to the Netfilter
    /// engine in process: built from the words the compiler wrote, no text printed or parsed,
    /// each rule with its origin.
    public func netfilterRuleset(source: String) throws(RulesetParseError) -> Ruleset {
        try Ruleset.build(netfilterTables, source: source)
    }

    /// The same rules as words, filter then nat, before they are built: the node adds the CNI's
    /// rules to them (Dataplane's `FlannelRules`) and builds once.
    public var netfilterTables: [Ruleset.TableRules] {
        [nodeFilter, nat].map { t in
            Ruleset.TableRules(
                name: t.name, chains: t.chains.map(\.rawValue),
                rules: jumps.filter { $0.table == t.name }.map(\.rule.engineSpec) + t.rules.map(\.engineSpec))
        }
    }
}

extension IPTablesRuleset {
    /// The filter table as the node holds it: kube-proxy's, plus kubelet's KUBE-FIREWALL chain
    /// where kube-proxy did not write it. On IPv4 kubelet always creates that chain, with the
    /// same "block incoming localnet connections" rule kube-proxy writes with localhost NodePorts
    /// (pkg/kubelet/kubelet_network_linux.go), and jumps to it from INPUT and OUTPUT (see
    /// `Jump.installed`); without it those jumps would name a chain that does not exist.
    var nodeFilter: Table {
        guard family == .ipv4, !filter.chains.contains(.firewall) else { return filter }
        var t = filter
        t.chains.append(.firewall)
        t.rules.append(Self.kubeletLocalnetRule)
        return t
    }
}
