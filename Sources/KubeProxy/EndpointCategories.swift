/// The endpoints one service port uses on one node (pkg/proxy/topology.go
/// `CategorizeEndpoints`): the cluster-wide list, the node-local list, their union, and
/// whether any usable endpoint exists anywhere.
public struct EndpointCategories: Sendable {
    public var cluster: [EndpointInfo] = []
    public var local: [EndpointInfo] = []
    public var allReachable: [EndpointInfo] = []
    public var hasAny = false

    public init(_ endpoints: [EndpointInfo], port: ServicePortInfo, nodeName: String, zone: String?) {
        if port.usesClusterEndpoints {
            let mode = Self.topologyMode(endpoints, nodeName: nodeName, zone: zone)
            cluster = endpoints.filter { $0.ready && Self.available($0, mode: mode, nodeName: nodeName, zone: zone) }
            // No ready endpoint anywhere: fall back to serving-and-terminating ones.
            if cluster.isEmpty { cluster = endpoints.filter { $0.serving && $0.terminating } }
            if !cluster.isEmpty { hasAny = true }
        }
        guard port.usesLocalEndpoints else {
            allReachable = cluster
            return
        }
        var localReady = false, localTerminating = false
        for e in endpoints {
            if e.ready {
                hasAny = true
                if e.isLocal { localReady = true }
            } else if e.serving && e.terminating {
                hasAny = true
                if e.isLocal { localTerminating = true }
            }
        }
        if localReady {
            local = endpoints.filter { $0.isLocal && $0.ready }
        } else if localTerminating {
            local = endpoints.filter { $0.isLocal && $0.serving && $0.terminating }
        }
        guard port.usesClusterEndpoints else {
            allReachable = local
            return
        }
        let wanted = Set(cluster.map(\.string)).union(local.map(\.string))
        allReachable = endpoints.filter { wanted.contains($0.string) }
    }

    enum TopologyMode { case none, preferSameNode, preferSameZone }

    /// `topologyModeFromHints`: hints apply only when every ready endpoint carries them and one
    /// is for this node (PreferSameTrafficDistribution, taken as enabled) or this zone.
    static func topologyMode(_ endpoints: [EndpointInfo], nodeName: String, zone: String?) -> TopologyMode {
        var allNode = true, forNode = false, allZone = true, forZone = false
        for e in endpoints where e.ready {
            if e.nodeHints.isEmpty { allNode = false } else if e.nodeHints.contains(nodeName) { forNode = true }
            if e.zoneHints.isEmpty { allZone = false } else if let zone, e.zoneHints.contains(zone) { forZone = true }
        }
        if allNode && forNode { return .preferSameNode }
        if allZone && forZone { return .preferSameZone }
        return .none
    }

    static func available(_ e: EndpointInfo, mode: TopologyMode, nodeName: String, zone: String?) -> Bool {
        switch mode {
        case .none: true
        case .preferSameNode: e.nodeHints.contains(nodeName)
        case .preferSameZone: zone.map { e.zoneHints.contains($0) } ?? false
        }
    }
}
