import Cluster
import KubeProxy
import NFTables
import Netfilter
import Synchronization
import Wire

/// One node's network namespace: the interfaces and routes the CNI set up, the rules its
/// kube-proxy wrote (one ruleset per IP family, as iptables and ip6tables keep them), and the
/// kernel state that packets change (conntrack, `recent` lists, and in IPVS mode the IPVS
/// connections and the kube-ipvs0 addresses and ipsets the proxier set up).
public struct NodeHost: Sendable {
    /// What never changes (the node, its CNI network, its kernel settings), in one shared box:
    /// walks copy node states at every fork, and one reference copies cheaper than each field.
    private let facts: NodeFacts
    public var node: Node { facts.node }
    public var network: NodeNetwork { facts.network }
    /// Netfilter's view of this namespace, carrying conntrack and the recent lists.
    public var host: Host
    /// The node's sysctls and bridge settings, each with where it came from.
    public var kernel: NodeKernel { facts.kernel }
    var rules: NodeRules { facts.rules }
    /// Families whose IPVS-mode state (kube-ipvs0 addresses, ipsets, IPVS table) is installed.
    var ipvsInstalled: Set<IPFamily> = []
    /// The tracer `load` gave for each family once that family's one-time installs were done:
    /// every later packet skips the rules cache's lock and dictionary (a thousand instructions).
    private var loadedIPv4: Tracer?, loadedIPv6: Tracer?

    /// - Parameter shared: what the cluster's nodes' rules have in common, built once for all
    ///   nodes given the same (`Dataplane` gives every node its one `ClusterRules`).
    init(node: Node, cluster: Cluster, shared: ClusterRules? = nil) {
        let network = NodeNetwork(node: node, in: cluster)
        var host = Host(
            name: node.name,
            interfaces: network.interfaces.map { Interface(name: $0.name, addresses: $0.addresses.map { (address: $0.0, prefixLength: $0.1) }) },
            routes: network.routes.map { r in
                Route(destination: r.destination ?? Prefix(containing: IPAddress(family: r.family, bits: 0), length: 0),
                          device: r.device, gateway: r.gateway,
                          // `src` as `ip route` shows it; IPv6 routes carry none (the kernel
                          // picks by RFC 6724 from the outgoing interface's addresses).
                          source: r.family == .ipv4 ? r.source : nil)
            })
        let kernel = NodeKernel(node: node, cluster: cluster)
        // kube-proxy sets route_localnet=1 when it serves NodePorts on 127.0.0.1.
        host.routeLocalnet = kernel.isOn(.routeLocalnet)
        self.host = host
        facts = NodeFacts(node: node, network: network, kernel: kernel, rules: NodeRules(node: node, cluster: cluster, shared: shared ?? ClusterRules(cluster: cluster)))
    }

    /// The node's rules for `family` (kube-proxy's, flannel's, the topology's extra ones),
    /// compiled on first use (a trace usually visits two or three
    /// nodes of a large cluster; compiling every node up front would dominate its time).
    func tracer(for family: IPFamily) throws -> Tracer? { try rules.compiled(for: family)?.tracer }

    /// `tracer(for:)`, and in IPVS mode the first time also what the proxier's sync leaves in the
    /// namespace: the kube-ipvs0 dummy interface and its addresses, the ipsets, the IPVS table.
    mutating func load(_ family: IPFamily) throws -> Tracer? {
        if let t = family == .ipv4 ? loadedIPv4 : loadedIPv6 { return t }
        guard let compiled = try rules.compiled(for: family) else { return nil }
        if let ipvs = compiled.ipvs, !ipvsInstalled.contains(family) {
            ipvsInstalled.insert(family)
            let length = family == .ipv4 ? 32 : 128
            let bound = ipvs.boundAddresses.map { (address: $0, prefixLength: length) }
            if let i = host.interfaces.firstIndex(where: { $0.name == IPVSModeRuleset.dummyDevice }) {
                host.interfaces[i].addresses += bound
            } else {
                host.interfaces.append(Interface(name: IPVSModeRuleset.dummyDevice, addresses: bound))
            }
            for (name, set) in ipvs.ipsetStore().sets { host.ipsets.sets[name] = set }
            var table = ipvs.ipvs
            table.sysctls = IPVSDirector.kubeProxySysctls
            var director = (host.ipvs as? IPVSDirector) ?? IPVSDirector()
            director.add(table)
            host.ipvs = director
        }
        if let engine = compiled.nft, host.nft == nil {
            // The node's addresses as `fib daddr type local` sees them.
            var local = Set<IPAddress>()
            for i in host.interfaces { for a in i.addresses { local.insert(a.address) } }
            host.nft = NFTChains(engine: engine, local: local)
        }
        if family == .ipv4 { loadedIPv4 = compiled.tracer } else { loadedIPv6 = compiled.tracer }
        return compiled.tracer
    }

    /// Every rule this node's netfilter holds for `family`: kube-proxy's and kubelet's, flannel's,
    /// and the topology's `extraRules`; what traces walk (nil: the node has no such family).
    /// Built afresh on each call (traces keep only the prepared form): for reports and tests,
    /// not per packet.
    public func netfilterRuleset(for family: IPFamily) throws -> Ruleset? { try rules.build(family)?.ruleset }

    /// The ruleset kube-proxy writes on this node for `family` in iptables mode.
    public func ruleset(for family: IPFamily) -> IPTablesRuleset? { try? rules.compiled(for: family)?.iptables?.ruleset }

    /// What kube-proxy's IPVS proxier writes on this node for `family` (nil in iptables mode).
    public func ipvsRuleset(for family: IPFamily) -> IPVSModeRuleset? { try? rules.compiled(for: family)?.ipvs }
}

/// A node's fixed facts, shared by every copy of its state.
final class NodeFacts: Sendable {
    let node: Node
    let network: NodeNetwork
    let kernel: NodeKernel
    let rules: NodeRules

    init(node: Node, network: NodeNetwork, kernel: NodeKernel, rules: NodeRules) {
        self.node = node
        self.network = network
        self.kernel = kernel
        self.rules = rules
    }
}

/// One family's compiled kube-proxy output on a node, in the cluster's proxy mode.
struct CompiledNode: Sendable {
    var tracer: Tracer
    /// In pieces shared with other nodes; `.ruleset` lays them end to end.
    var iptables: IPTablesNodeOutput?
    var ipvs: IPVSModeRuleset?
    /// nftables mode: kube-proxy's nft table(s), run beside the iptables rules (`NFTChains`).
    var nft: NFTEngine?
}

/// What every node's rules have in common, computed once for a cluster and shared by its
/// nodes' `NodeRules`: kube-proxy's node-independent pieces (`IPTablesSharedCompiler`), the
/// parsed chains (`Ruleset.SharedChains`) and their prepared form (`PreparedChainStore`), so
/// that a node costs only what is its own.
final class ClusterRules: Sendable {
    let iptables: IPTablesSharedCompiler
    let chains = Ruleset.SharedChains()
    /// The prepared (indexed) form of the chains, shared the same way (`PreparedChainStore`).
    let prepared = PreparedChainStore()

    init(cluster: Cluster) { iptables = IPTablesSharedCompiler(cluster: cluster) }
}

/// A node's compiled rulesets and tracers, built once on demand and shared by every copy of the
/// node (walks copy nodes to follow separate paths; the rules never change).
final class NodeRules: Sendable {
    let node: Node
    let cluster: Cluster
    private let shared: ClusterRules
    private let cache = Mutex<[IPFamily: CompiledNode]>([:])

    init(node: Node, cluster: Cluster, shared: ClusterRules) {
        self.node = node
        self.cluster = cluster
        self.shared = shared
    }

    func compiled(for family: IPFamily) throws -> CompiledNode? {
        if let hit = cache.withLock({ $0[family] }) { return hit }
        guard let built = try build(family) else { return nil }
        var result = CompiledNode(tracer: Tracer(ruleset: built.ruleset, compiled: true, store: shared.prepared), iptables: built.iptables, ipvs: built.ipvs)
        if isNFTablesMode { result.nft = try nftEngine() }
        cache.withLock { $0[family] = result }
        return result
    }

    /// kube-proxy's output for `family` in the cluster's proxy mode and the node's whole
    /// ruleset; nil when the node or the cluster lacks the family.
    ///
    /// In iptables mode the ruleset is assembled from pieces shared with the cluster's other
    /// nodes (`ClusterRules`): it prints, traces and compares as `buildAlone`'s; should the
    /// assembly find an error, the node is built alone, whose error names the exact line.
    func build(_ family: IPFamily) throws -> (ruleset: Ruleset, iptables: IPTablesNodeOutput?, ipvs: IPVSModeRuleset?)? {
        guard node.internalIP(family) != nil, cluster.settings.families.contains(family) else { return nil }
        let config = ProxierConfig.forNode(node, in: cluster, family: family)
        let source = "<\(node.name) \(family.rawValue) rules>"
        if isNFTablesMode { return (try iptablesBesideNFTables(family), nil, nil) }
        switch cluster.settings.kubeProxy.mode {
        case .iptables:
            let output = shared.iptables.output(config)
            var pieces = output.netfilterPieces(store: shared.chains)
            var flannel = [Ruleset.TableRules(name: .filter, chains: [], rules: []), Ruleset.TableRules(name: .nat, chains: [], rules: [])]
            FlannelRules.add(to: &flannel, node: node, settings: cluster.settings, family: family)
            pieces.append(Ruleset.Piece(flannel, store: shared.chains))
            let assembled: Ruleset
            do {
                assembled = try Ruleset.assemble(pieces, source: source, store: shared.chains)
            } catch {
                return (try nodeRuleset(output.ruleset.netfilterTables, family, source), output, nil)
            }
            guard let extra = node.extraRules(family) else { return (assembled, output, nil) }
            return (try extra.apply(onto: assembled, node: node.name), output, nil)
        case .ipvs:
            let ruleset = IPVSModeCompiler.compile(cluster, config: config, scheduler: cluster.settings.kubeProxy.ipvsScheduler)
            return (try nodeRuleset(ruleset.iptables.netfilterTables, family, source), nil, ruleset)
        }
    }

    /// The node's ruleset for `family` built on its own, every rule parsed afresh, as before
    /// nodes shared their pieces: what tests compare `build` with. nil as `build`.
    func buildAlone(_ family: IPFamily) throws -> Ruleset? {
        guard node.internalIP(family) != nil, cluster.settings.families.contains(family) else { return nil }
        let config = ProxierConfig.forNode(node, in: cluster, family: family)
        let source = "<\(node.name) \(family.rawValue) rules>"
        if isNFTablesMode { return try iptablesBesideNFTables(family) }
        switch cluster.settings.kubeProxy.mode {
        case .iptables: return try nodeRuleset(IPTablesCompiler.compile(cluster, config: config).netfilterTables, family, source)
        case .ipvs: return try build(family)?.ruleset
        }
    }

    /// Everything the node's netfilter holds for `family`: kube-proxy's (and kubelet's) tables,
    /// flanneld's chains after them (`FlannelRules`), then the topology's `extraRules` applied
    /// on top (`NodeExtraRules.apply(onto:)`, which throws an `InputError` at the topology's line).
    private func nodeRuleset(_ kubeProxy: [Ruleset.TableRules], _ family: IPFamily, _ source: String) throws -> Ruleset {
        var tables = kubeProxy
        FlannelRules.add(to: &tables, node: node, settings: cluster.settings, family: family)
        let ruleset = try Ruleset.build(tables, source: source)
        guard let extra = node.extraRules(family) else { return ruleset }
        return try extra.apply(onto: ruleset, node: node.name)
    }
}
