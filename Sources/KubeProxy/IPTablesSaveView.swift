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
