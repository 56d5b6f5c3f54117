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
        }
        nodes += other.nodes
        pods += other.pods
        services += other.services
        endpointSlices += other.endpointSlices
        notes += other.notes
    }
}
