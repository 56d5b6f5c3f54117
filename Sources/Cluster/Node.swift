import Wire

/// A Kubernetes Node, with what the data plane needs of it.
public struct Node: Sendable, Equatable {
    public static let zoneLabel = "topology.kubernetes.io/zone"
    public static let controlPlaneLabel = "node-role.kubernetes.io/control-plane"

    public var name: String
    /// `status.addresses` of type InternalIP, one per family, primary first.
    public var internalIPs: [IPAddress]
    /// `spec.podCIDRs`, one per family; empty until the node IPAM allocator runs.
    public var podCIDRs: [Prefix]
    public var labels: [String: String]
    public var location: InputLocation?
    /// Sysctls and bridge settings the topology states for this node (kdp topology files
    /// only; a Kubernetes Node object does not carry them).
    public var kernel = NodeKernelSettings()
    /// The topology's own rules for this node, at most one text per family (`extraRules`,
    /// `extraRules6`); empty for Kubernetes Node objects.
    public var extraRules: [NodeExtraRules] = []

    public init(name: String, internalIPs: [IPAddress] = [], podCIDRs: [Prefix] = [],
                labels: [String: String] = [:], location: InputLocation? = nil) {
        self.name = name
        self.internalIPs = internalIPs
        self.podCIDRs = podCIDRs
        self.labels = labels
        self.location = location
    }

    public var zone: String? { labels[Self.zoneLabel] }
    public var isControlPlane: Bool { labels[Self.controlPlaneLabel] != nil }
    public var role: String { isControlPlane ? "control-plane" : "worker" }

    public func internalIP(_ family: IPFamily) -> IPAddress? { internalIPs.first { $0.family == family } }
    public func podCIDR(_ family: IPFamily) -> Prefix? { podCIDRs.first { $0.family == family } }
    public func extraRules(_ family: IPFamily) -> NodeExtraRules? { extraRules.first { $0.family == family } }
}
