import Wire

/// Everything read from the inputs, before any allocation: the raw material `ClusterBuilder`
/// turns into a running cluster.
public struct TopologyInput: Sendable {
    /// Settings from a kdp topology file; nil for plain manifests (defaults apply).
    public var settings: ClusterSettings?
    public var settingsLocation: InputLocation?
    public var nodes: [Node] = []
    public var pods: [Pod] = []
    public var services: [Service] = []
    public var endpointSlices: [EndpointSlice] = []
    /// Things the user should know but that are not errors (ignored kinds).
    public var notes: [String] = []
    /// The `cluster:` keys a topology file wrote (`clusterCIDR`, `kubeProxy.mode`, …): those
    /// win over what a dump's objects and ConfigMaps imply.
    public var givenSettings: Set<String> = []
    /// The dump's `kube-system/kube-proxy` ConfigMap, when it has one.
    public var kubeProxyConfig: KubeProxyConfigMap?
    /// The dump's flannel `kube-flannel-cfg` ConfigMap, when it has one.
    public var flannelConfig: FlannelNetConf?
    /// flanneld's flags from flannel's DaemonSet `kube-flannel-ds`, when the dump has it.
    public var flannelFlags: FlannelDaemonSetFlags?
    /// `--cluster-cidr` and `--service-cidr`: above everything else.
    public var flagClusterCIDRs: [Prefix]?
    public var flagServiceCIDRs: [Prefix]?

    /// Whether any object came from plain manifests rather than a topology file's `objects:`:
    /// then the ranges a topology file leaves unset are inferred from the objects too.
    public var hasPlainObjects = false

    /// Plain manifests only (no `kind: Topology`): a dump of facts the API server accepted, taken
    /// as it is. A topology file asks kdp to run the cluster's controllers (API-server behaviour).
    public var isDump: Bool { settings == nil }

    public init() {}

    /// Adds another input's objects. Two sets of cluster settings are an error: which one
    /// should win is the user's call, not kdp's.
    public mutating func merge(_ other: TopologyInput) throws(InputError) {
        if let s = other.settings {
            if settings != nil {
                throw InputError(
                    "cluster settings given twice (first at \(settingsLocation?.description ?? "?")); keep one",
                    at: other.settingsLocation)
            }
            settings = s
            settingsLocation = other.settingsLocation
            givenSettings = other.givenSettings
        }
        if let k = other.kubeProxyConfig {
            if let first = kubeProxyConfig {
                throw InputError("ConfigMap kube-system/kube-proxy given twice (first at \(first.location?.description ?? "?")); keep one", at: k.location)
            }
            kubeProxyConfig = k
        }
        if let f = other.flannelConfig {
            if let first = flannelConfig {
                throw InputError("ConfigMap kube-flannel-cfg given twice (first at \(first.location?.description ?? "?")); keep one", at: f.location)
            }
            flannelConfig = f
        }
        if let f = other.flannelFlags {
            if let first = flannelFlags {
                throw InputError("DaemonSet kube-flannel-ds given twice (first at \(first.location?.description ?? "?")); keep one", at: f.location)
            }
            flannelFlags = f
        }
        hasPlainObjects = hasPlainObjects || other.hasPlainObjects
        nodes += other.nodes
        pods += other.pods
        services += other.services
        endpointSlices += other.endpointSlices
        notes += other.notes
    }
}
