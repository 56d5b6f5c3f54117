import Cluster
import KubeProxy
import Netfilter
import Synchronization
import Wire

/// One node's network namespace: the interfaces and routes the CNI set up, the rules its
/// kube-proxy wrote (one ruleset per IP family, as iptables and ip6tables keep them), and the
/// kernel state that packets change (conntrack, `recent` lists).
public struct NodeHost: Sendable {
    public let node: Node
    public let network: NodeNetwork
    /// Netfilter's view of this namespace, carrying conntrack and the recent lists.
    public var host: Host
    let rules: NodeRules

    init(node: Node, cluster: Cluster) {
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
        rules = NodeRules(node: node, cluster: cluster)
    }

    /// The node's rules for `family`, compiled on first use (a trace usually visits two or three
    /// nodes of a large cluster; compiling every node up front would dominate its time).
    func tracer(for family: IPFamily) throws -> Tracer? { try rules.tracer(for: family) }

    /// The ruleset kube-proxy writes on this node for `family`.
    public func ruleset(for family: IPFamily) -> IPTablesRuleset? { rules.ruleset(for: family) }
}

/// A node's compiled rulesets and tracers, built once on demand and shared by every copy of the
/// node (walks copy nodes to follow separate paths; the rules never change).
final class NodeRules: Sendable {
    private let node: Node
    private let cluster: Cluster
    private let cache = Mutex<[IPFamily: (IPTablesRuleset, Tracer)]>([:])

    init(node: Node, cluster: Cluster) {
        self.node = node
        self.cluster = cluster
    }

    func ruleset(for family: IPFamily) -> IPTablesRuleset? {
        if let hit = cache.withLock({ $0[family] }) { return hit.0 }
        return compile(family)
    }

    private func compile(_ family: IPFamily) -> IPTablesRuleset? {
        guard node.internalIP(family) != nil, cluster.settings.families.contains(family) else { return nil }
        return IPTablesCompiler.compile(cluster, config: ProxierConfig.forNode(node, in: cluster, family: family))
    }

    func tracer(for family: IPFamily) throws -> Tracer? {
        if let hit = cache.withLock({ $0[family] }) { return hit.1 }
        guard let ruleset = compile(family) else { return nil }
        let parsed = try ruleset.netfilterRuleset(source: "<\(node.name) \(family.rawValue) rules>")
        let tracer = Tracer(ruleset: parsed, compiled: true)
        cache.withLock { $0[family] = (ruleset, tracer) }
        return tracer
    }
}
