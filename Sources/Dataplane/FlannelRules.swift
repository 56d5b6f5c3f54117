import Cluster
import Netfilter
import Wire

/// The iptables rules flanneld writes on every node, word for word as flannel v0.28.9
/// (`pkg/trafficmngr/iptables/iptables.go`, unchanged on master as of Aug 2026) writes them:
///
/// - with `--ip-masq` (`masqRules`/`masqIP6Rules`), nat `FLANNEL-POSTRTG`, jumped to from
///   POSTROUTING: kube-proxy's marked traffic returns (kube-proxy masquerades it), pod traffic
///   within the flannel network returns, and traffic from the network to elsewhere (but not to
///   multicast) and from elsewhere to the network is masqueraded;
/// - with `--iptables-forward-rules` (flannel's default), filter `FLANNEL-FWD`, jumped to from
///   FORWARD: forwarding to or from the flannel network is accepted.
///
/// flannel hands both lists to `iptables-restore --noflush` with `-A` lines (deleting any copy
/// first), so its jumps land after kube-proxy's, which kube-proxy inserts at position 1.
/// Cost: eight rules per family and node, built once with the node's other rules.
public enum FlannelRules {
    public static let masqueradeChain = "FLANNEL-POSTRTG"
    public static let forwardChain = "FLANNEL-FWD"
    /// `trafficmngr.KubeProxyMark`: kube-proxy's default mark, whatever bit kube-proxy uses.
    static let kubeProxyMark = "0x4000/0x4000"

    /// The nat rules (`masqRules`, `masqIP6Rules`) for a node holding the lease `subnet` (its
    /// podCIDR) in flannel's `network`.
    public static func masqueradeRules(network: Prefix, subnet: Prefix, randomFully: Bool) -> [Ruleset.RuleSpec] {
        let cluster = network.description, pod = subnet.description
        let multicast = network.family == .ipv4 ? "224.0.0.0/4" : "ff00::/8"
        let comment = ["-m", "comment", "--comment", "flanneld masq"]
        let masquerade = ["-j", "MASQUERADE"] + (randomFully ? ["--random-fully"] : [])
        let origin = RuleOrigin(.flannelMasquerade)
        func rule(_ chain: String, _ words: [String]) -> Ruleset.RuleSpec { Ruleset.RuleSpec(chain: chain, words: words, origin: origin) }
        return [
            rule("POSTROUTING", comment + ["-j", masqueradeChain]),
            rule(masqueradeChain, ["-m", "mark", "--mark", kubeProxyMark] + comment + ["-j", "RETURN"]),
            rule(masqueradeChain, ["-s", pod, "-d", cluster] + comment + ["-j", "RETURN"]),
            rule(masqueradeChain, ["-s", cluster, "-d", pod] + comment + ["-j", "RETURN"]),
            rule(masqueradeChain, ["!", "-s", cluster, "-d", pod] + comment + ["-j", "RETURN"]),
            rule(masqueradeChain, ["-s", cluster, "!", "-d", multicast] + comment + masquerade),
            rule(masqueradeChain, ["!", "-s", cluster, "-d", cluster] + comment + masquerade),
        ]
    }

    /// The filter rules (`forwardRules`) for flannel's `network`.
    public static func forwardRules(network: Prefix) -> [Ruleset.RuleSpec] {
        let comment = ["-m", "comment", "--comment", "flanneld forward"]
        let origin = RuleOrigin(.flannelForward)
        return [
            Ruleset.RuleSpec(chain: "FORWARD", words: comment + ["-j", forwardChain], origin: origin),
            Ruleset.RuleSpec(chain: forwardChain, words: ["-s", network.description] + comment + ["-j", "ACCEPT"], origin: origin),
            Ruleset.RuleSpec(chain: forwardChain, words: ["-d", network.description] + comment + ["-j", "ACCEPT"], origin: origin),
        ]
    }

    /// Appends flanneld's rules for `node` and `family` to the node's tables (filter and nat
    /// from kube-proxy). A node without a podCIDR of the family has no lease: flanneld's
    /// kube subnet manager waits for one and writes nothing.
    public static func add(to tables: inout [Ruleset.TableRules], node: Node, settings: ClusterSettings, family: IPFamily) {
        guard let network = settings.flannelNetwork(for: family), let subnet = node.podCIDR(family) else { return }
        let flannel = settings.flannel
        if flannel.ipMasq {
            append(to: &tables, .nat, chain: masqueradeChain,
                   masqueradeRules(network: network, subnet: subnet, randomFully: !flannel.ipMasqRandomFullyDisable))
        }
        if flannel.iptablesForwardRules {
            append(to: &tables, .filter, chain: forwardChain, forwardRules(network: network))
        }
    }

    static func append(to tables: inout [Ruleset.TableRules], _ table: TableName, chain: String, _ rules: [Ruleset.RuleSpec]) {
        guard let i = tables.firstIndex(where: { $0.name == table }) else {
            tables.append(Ruleset.TableRules(name: table, chains: [chain], rules: rules))
            return
        }
        if !tables[i].chains.contains(chain) { tables[i].chains.append(chain) }
        tables[i].rules += rules
    }
}
