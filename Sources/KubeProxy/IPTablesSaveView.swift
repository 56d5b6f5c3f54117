import Netfilter
import Wire

extension IPTablesRuleset {
    /// What `iptables-save` (or `ip6tables-save`) shows on the node once kubelet and this
    /// kube-proxy sync have run, without the `# Generated`/`# Completed` comment lines (they
    /// carry the time). kubelet's part: KUBE-IPTABLES-HINT and KUBE-KUBELET-CANARY, and for IPv4
    /// its KUBE-FIREWALL chain with the localnet rule and the INPUT/OUTPUT jumps to it.
    /// kube-proxy's: its canaries, its chains, and its jumps from the built-in chains.
    ///
    /// iptables-nft-save prints tables in a fixed order (mangle, raw, filter, nat), built-in
    /// chains in hook order with policy ACCEPT, then user chains by name, then every chain's
    /// rules in that chain order, each normalized as the kernel gives it back (`SaveNormalizer`).
    public func saveText() throws -> String {
        let builtIn = ["mangle": ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
                       "filter": ["INPUT", "FORWARD", "OUTPUT"],
                       "nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]]
        var out = ""
        for table in ["mangle", "filter", "nat"] {
            var chains: Set<String> = ["KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY"]
            var rules: [(chain: String, words: [String])] = []
            if table == "mangle" { chains.insert("KUBE-IPTABLES-HINT") }
            let own = table == "filter" ? filter : (table == "nat" ? nat : Table(name: table))
            chains.formUnion(own.chains)
            for j in jumps where j.table == table {
                rules.append((j.chain, Rule(chain: j.chain, words: j.words).arguments))
            }
            if table == "filter" && family == .ipv4 && !own.chains.contains("KUBE-FIREWALL") {
                // kubelet's copy of the localnet rule, left alone when kube-proxy does not write its own.
                chains.insert("KUBE-FIREWALL")
                rules.append(("KUBE-FIREWALL", ["-m", "comment", "--comment", "block incoming localnet connections",
                                                "-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8",
                                                "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"]))
            }
            rules += own.rules.map { ($0.chain, $0.arguments) }
            let userChains = chains.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            let order = builtIn[table]! + userChains
            out += "*\(table)\n"
            for c in builtIn[table]! { out += ":\(c) ACCEPT [0:0]\n" }
            for c in userChains { out += ":\(c) - [0:0]\n" }
            var byChain: [String: [[String]]] = [:]
            for r in rules { byChain[r.chain, default: []].append(r.words) }
            for chain in order {
                for words in byChain[chain] ?? [] {
                    out += (["-A", chain] + (try SaveNormalizer.normalize(words, family: family))).joined(separator: " ") + "\n"
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
        for table in [filter, nat] {
            out += "*\(table.name)\n"
            for c in table.chains { out += ":\(c) - [0:0]\n" }
            for j in jumps where j.table == table.name { out += Rule(chain: j.chain, words: j.words).line + "\n" }
            for r in table.rules { out += r.line + "\n" }
            out += "COMMIT\n"
        }
        return out
    }
}

extension IPTablesRuleset {
    /// The node's rules (kube-proxy's chains and the jumps into them) handed to the Netfilter
    /// engine in process: built from the words the compiler wrote, no text printed or parsed.
    public func netfilterRuleset(source: String) throws(RulesetParseError) -> Ruleset {
        try Ruleset.build([filter, nat].map { t in
            Ruleset.TableRules(
                name: t.name == "filter" ? .filter : .nat, chains: t.chains,
                rules: jumps.filter { $0.table == t.name }.map { ($0.chain, Rule(chain: $0.chain, words: $0.words).arguments) }
                    + t.rules.map { ($0.chain, $0.arguments) })
        }, source: source)
    }
}
