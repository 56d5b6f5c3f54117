import Cluster
import Netfilter
import Synchronization
import Wire

/// kube-proxy's iptables mode for every node of one cluster, computing what the nodes have in
/// common once. A node's sync differs from another's only through a few inputs
/// (pkg/proxy/iptables/proxier.go `syncProxyRules`): which endpoints are on the node (Local
/// traffic policies: KUBE-SVL-, KUBE-EXT-, the DROP rules for no local endpoints) and, with
/// topology hints, which are for its node or zone (`CategorizeEndpoints`); the node's IP
/// against loadBalancerSourceRanges (KUBE-FW-); its addresses and podCIDR (the NodePort tail,
/// the NodeCIDR local detector); and the flags of its kube-proxy. So each output is cut in
/// pieces: the preamble and the tail (per node, a few rules), runs of Service ports whose
/// lines depend on none of the node's inputs (`Plan`: built once per cluster, family and
/// kube-proxy flags), and one piece per node-dependent Service port, built once per distinct
/// outcome (its endpoint categories and firewall allowance). `IPTablesNodeOutput.ruleset` laid
/// end to end is exactly `IPTablesCompiler.compile`'s output for the node.
///
/// Cost: a node whose flags and detector equal an earlier node's costs a walk of the
/// node-dependent Service ports' endpoints; the first costs one `compile`.
public final class IPTablesSharedCompiler: Sendable {
    let cluster: Cluster
    private let plans = Mutex<[PlanKey: Plan]>([:])

    public init(cluster: Cluster) { self.cluster = cluster }

    /// The node's output in pieces, each shared with every node whose output has it.
    public func output(_ config: ProxierConfig) -> IPTablesNodeOutput {
        let key = PlanKey(config)
        let plan = plans.withLock { plans in
            if let hit = plans[key] { return hit }
            let plan = Plan(cluster: cluster, config: config)
            plans[key] = plan
            return plan
        }
        var preamble = Writer(config: config)
        preamble.writePreamble()
        var tail = Writer(config: config)
        tail.writeTail()
        var pieces = [IPTablesPiece(preamble.ruleset)]
        pieces.reserveCapacity(plan.segments.count + 2)
        for s in plan.segments {
            switch s {
            case .block(let piece): pieces.append(piece)
            case .port(let p): pieces.append(plan.variant(p, config: config))
            }
        }
        pieces.append(IPTablesPiece(tail.ruleset))
        let firewall = config.family == .ipv4 && !preamble.ruleset.filter.chains.contains(.firewall) ? plan.kubeletFirewall : nil
        return IPTablesNodeOutput(family: config.family, largeClusterMode: plan.largeClusterMode,
                                  jumps: IPTablesCompiler.jumps(config), pieces: pieces, kubeletFirewall: firewall)
    }

    /// What the node-independent pieces of a plan depend on: the family and the flags the
    /// per-port lines read (pkg/proxy/iptables/proxier.go reads no other config there).
    struct PlanKey: Hashable {
        let family: IPFamily
        let mark: String
        let localhostNodePorts: Bool
        let nfacct: Bool
        let masqueradeAll: Bool
        let ifLocal: [String]?
        let ifNotLocal: [String]?
        let largeClusterThreshold: Int

        init(_ c: ProxierConfig) {
            family = c.family
            mark = c.masqueradeMark
            localhostNodePorts = c.localhostNodePorts
            nfacct = c.nfacct
            masqueradeAll = c.masqueradeAll
            let detector = c.localDetector
            ifLocal = detector?.ifLocal
            ifNotLocal = detector?.ifNotLocal
            largeClusterThreshold = c.largeClusterEndpointsThreshold
        }
    }

    /// The Service ports of one family in the cluster's order with their endpoints (node-free:
    /// none marked local), and the pieces every node with these flags shares.
    final class Plan: Sendable {
        enum Segment: Sendable {
            /// Consecutive ports whose lines are the same on every node.
            case block(IPTablesPiece)
            /// A port whose lines depend on the node.
            case port(Int)
        }

        struct VariantKey: Hashable {
            let port: Int
            let cluster: [Int]
            let local: [Int]
            let reachable: [Int]
            let hasAny: Bool
            let allowFromNode: Bool
        }

        let ports: [ServicePortInfo]
        let endpoints: [[EndpointInfo]]
        let largeClusterMode: Bool
        let segments: [Segment]
        let kubeletFirewall: IPTablesPiece
        private let variants = Mutex<[VariantKey: IPTablesPiece]>([:])

        /// No node has this name (names are DNS subdomains): no endpoint is local.
        static let noNode = "\u{0}"

        init(cluster: Cluster, config: ProxierConfig) {
            let family = config.family
            let ports = cluster.services.flatMap { svc in
                svc.ports.compactMap { ServicePortInfo(service: svc, port: $0, family: family) }
            }
            let endpoints = ports.map { $0.endpoints(in: cluster, nodeName: Self.noNode, family: family) }
            let largeClusterMode = endpoints.reduce(0) { $0 + $1.count } > config.largeClusterEndpointsThreshold
            self.ports = ports
            self.endpoints = endpoints
            self.largeClusterMode = largeClusterMode
            var segments: [Segment] = []
            var start = 0
            func flush(_ end: Int) {
                guard start < end else { return }
                var w = Writer(config: config)
                w.largeClusterMode = largeClusterMode
                for p in start..<end {
                    w.writeServicePort(ports[p], EndpointCategories(endpoints[p], port: ports[p], nodeName: Self.noNode, zone: nil))
                }
                segments.append(.block(IPTablesPiece(w.ruleset)))
            }
            for p in ports.indices where Self.dependsOnNode(ports[p], endpoints[p]) {
                flush(p)
                segments.append(.port(p))
                start = p + 1
            }
            flush(ports.count)
            self.segments = segments
            var firewall = IPTablesRuleset()
            firewall.filter.chains = [.firewall]
            firewall.filter.rules = [IPTablesRuleset.kubeletLocalnetRule]
            kubeletFirewall = IPTablesPiece(firewall)
        }

        /// Whether the port's lines can differ between nodes: it uses node-local endpoints,
        /// its endpoints carry topology hints, or its firewall chain may allow the node itself.
        static func dependsOnNode(_ port: ServicePortInfo, _ endpoints: [EndpointInfo]) -> Bool {
            port.usesLocalEndpoints || (!port.loadBalancerVIPs.isEmpty && !port.loadBalancerSourceRanges.isEmpty)
                || endpoints.contains { !$0.nodeHints.isEmpty || !$0.zoneHints.isEmpty }
        }

        /// The piece of port `p` on the node `config` describes, built once per outcome.
        func variant(_ p: Int, config: ProxierConfig) -> IPTablesPiece {
            let port = ports[p]
            let eps = endpoints[p].map { $0.marked(local: $0.nodeName == config.nodeName) }
            let cats = EndpointCategories(eps, port: port, nodeName: config.nodeName, zone: config.nodeLabels[Node.zoneLabel])
            let allow = config.nodeIP.map { ip in port.loadBalancerSourceRanges.contains { $0.contains(ip) } } ?? false
            let key = VariantKey(port: p, cluster: Self.positions(cats.cluster, in: eps), local: Self.positions(cats.local, in: eps),
                                 reachable: Self.positions(cats.allReachable, in: eps), hasAny: cats.hasAny, allowFromNode: allow)
            return variants.withLock { variants in
                if let hit = variants[key] { return hit }
                var w = Writer(config: config)
                w.largeClusterMode = largeClusterMode
                w.writeServicePort(port, cats)
                let piece = IPTablesPiece(w.ruleset)
                variants[key] = piece
                return piece
            }
        }

        /// Where each of `subset` (a subsequence of `all`, as `EndpointCategories` filters
        /// keep order) stands in `all`.
        static func positions(_ subset: [EndpointInfo], in all: [EndpointInfo]) -> [Int] {
            var out: [Int] = []
            out.reserveCapacity(subset.count)
            var i = 0
            for e in subset {
                while i < all.count && all[i].string != e.string { i += 1 }
                out.append(i)
                i += 1
            }
            return out
        }
    }
}

/// A run of kube-proxy's lines (the preamble, some Service ports, the tail, the hook jumps):
/// the chains it declares and the rules it writes, in order, and, built on first use, the same
/// lines as a Netfilter `Ruleset.Piece`, parsed once however many nodes hold the piece.
public final class IPTablesPiece: Sendable {
    public let rules: IPTablesRuleset
    private let built = Mutex<Ruleset.Piece?>(nil)

    init(_ rules: IPTablesRuleset) { self.rules = rules }

    /// The piece for the Netfilter engine (filter, then nat), its runs from `store`. The lock
    /// is held while it is built: another node's thread waits instead of parsing it twice.
    public func netfilterPiece(store: Ruleset.SharedChains) -> Ruleset.Piece {
        built.withLock { built in
            if let built { return built }
            let tables = [rules.filter, rules.nat].map { t in
                Ruleset.TableRules(name: t.name, chains: t.chains.map(\.rawValue), rules: t.rules.map(\.engineSpec))
            }
            let piece = Ruleset.Piece(tables, store: store)
            built = piece
            return piece
        }
    }
}

/// One node's kube-proxy output for one family, as shared pieces (`IPTablesSharedCompiler`).
public struct IPTablesNodeOutput: Sendable {
    public let family: IPFamily
    public let largeClusterMode: Bool
    public let jumps: [IPTablesRuleset.Jump]
    /// kube-proxy's lines in order: the preamble, the Service ports, the tail.
    public let pieces: [IPTablesPiece]
    /// kubelet's KUBE-FIREWALL chain where kube-proxy does not write it (`nodeFilter`).
    let kubeletFirewall: IPTablesPiece?

    /// The ruleset `IPTablesCompiler.compile` returns for the node: the pieces laid end to end.
    /// Cost: a copy of every rule's reference; for reports, not for traces.
    public var ruleset: IPTablesRuleset {
        var r = IPTablesRuleset()
        r.family = family
        r.largeClusterMode = largeClusterMode
        r.jumps = jumps
        for p in pieces {
            r.filter.chains += p.rules.filter.chains
            r.filter.rules += p.rules.filter.rules
            r.nat.chains += p.rules.nat.chains
            r.nat.rules += p.rules.nat.rules
        }
        return r
    }

    /// What `IPTablesRuleset.netfilterTables` holds, as Netfilter pieces: the jumps from the
    /// built-in chains, kube-proxy's pieces, kubelet's KUBE-FIREWALL where it applies.
    public func netfilterPieces(store: Ruleset.SharedChains) -> [Ruleset.Piece] {
        let jumpTables = [TableName.filter, .nat].map { t in
            Ruleset.TableRules(name: t, chains: [], rules: jumps.filter { $0.table == t }.map(\.rule.engineSpec))
        }
        var out = [Ruleset.Piece(jumpTables, store: store)]
        out += pieces.map { $0.netfilterPiece(store: store) }
        if let kubeletFirewall { out.append(kubeletFirewall.netfilterPiece(store: store)) }
        return out
    }
}

extension EndpointInfo {
    /// The same endpoint, local to the node in question or not.
    func marked(local: Bool) -> EndpointInfo {
        EndpointInfo(ip: ip, port: port, string: string, ready: ready, serving: serving, terminating: terminating, isLocal: local,
                     nodeName: nodeName, zoneHints: zoneHints, nodeHints: nodeHints, chain: chain)
    }
}
