import Cluster
import KubeProxy
import NFTables
import Netfilter
import Wire

extension NodeRules {
    /// Whether the cluster's kube-proxy runs in nftables mode (a topology's `kubeProxy.mode:
    /// nftables`, or `--proxy-mode nftables`).
    var isNFTablesMode: Bool { cluster.settings.kubeProxy.nftablesModeSource != nil }

    /// nftables mode: kube-proxy's table for every family the node has, as the compiler's
    /// transaction text (what knftables hands to `nft -f`) parsed by `NFTRuleset.parse`, one
    /// engine for the node (an `ip` and an `ip6` table). Built once per node with its
    /// `CompiledNode`; flannel's and the topology's extra rules stay iptables.
    func nftEngine() throws -> NFTEngine {
        var text = ""
        for family in cluster.settings.families where node.internalIP(family) != nil {
            let proxier = NFTablesCompiler.config(for: node, in: cluster, family: family)
            text += NFTablesCompiler.compile(cluster, config: proxier.0, options: proxier.1).transactionText()
        }
        let file = "<\(node.name) kube-proxy nftables>"
        do {
            return NFTEngine(try NFTRuleset.parse(text, file: file))
        } catch {
            throw InputError(error.message, at: InputLocation(file: error.file, line: error.line, column: error.column))
        }
    }

    /// nftables mode's netfilter for `family`: no kube-proxy iptables at all, only flannel's
    /// chains and the topology's `extraRules`.
    func iptablesBesideNFTables(_ family: IPFamily) throws -> Ruleset {
        var tables = [Ruleset.TableRules(name: .filter, chains: [], rules: []), Ruleset.TableRules(name: .nat, chains: [], rules: [])]
        FlannelRules.add(to: &tables, node: node, settings: cluster.settings, family: family)
        let ruleset = try Ruleset.build(tables, source: "<\(node.name) \(family.rawValue) rules>")
        guard let extra = node.extraRules(family) else { return ruleset }
        return try extra.apply(onto: ruleset, node: node.name)
    }
}
