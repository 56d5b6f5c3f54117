import Cluster
import KubeProxy
import Netfilter
import Wire

/// One node's network namespace: the interfaces and routes the CNI set up, the rules its
/// kube-proxy wrote (one ruleset per IP family, as iptables and ip6tables keep them), and the
/// kernel state that packets change (conntrack, `recent` lists).
public struct NodeHost: Sendable {
    public let node: Node
    public let network: NodeNetwork
    /// Netfilter's view of this namespace, carrying conntrack and the recent lists.
    public var host: Host
    let tracers: [IPFamily: Tracer]
    /// The ruleset per family, as iptables-save would show it.
    public let rulesets: [IPFamily: IPTablesRuleset]

    init(node: Node, cluster: Cluster) throws {
        self.node = node
        network = NodeNetwork(node: node, in: cluster)
        var host = Host(
            name: node.name,
            interfaces: network.interfaces.map { Interface(name: $0.name, addresses: $0.addresses.map { (address: $0.0, prefixLength: $0.1) }) },
            routes: network.routes.map { r in
                Route(destination: r.destination ?? Prefix(containing: IPAddress(family: r.family, bits: 0), length: 0),
                          device: r.device, gateway: r.gateway)
            })
        // kube-proxy sets route_localnet=1 when it serves NodePorts on 127.0.0.1.
        host.routeLocalnet = cluster.settings.kubeProxy.localhostNodePorts
        self.host = host
        var tracers: [IPFamily: Tracer] = [:]
        var rulesets: [IPFamily: IPTablesRuleset] = [:]
        for family in cluster.settings.families where node.internalIP(family) != nil {
            let ruleset = IPTablesCompiler.compile(cluster, config: ProxierConfig.forNode(node, in: cluster, family: family))
            rulesets[family] = ruleset
            let parsed = try Ruleset.parse(text: try ruleset.saveText(), file: "<\(node.name) \(family.rawValue) rules>")
            tracers[family] = Tracer(ruleset: parsed, compiled: true)
        }
        self.tracers = tracers
        self.rulesets = rulesets
    }

    func tracer(for family: IPFamily) -> Tracer? { tracers[family] }
}
