import Wire

/// A cluster after its controllers have run: every node has pod CIDRs and addresses, every pod
/// an IP, every Service its ClusterIPs and NodePorts, and the EndpointSlices exist. This is
/// what kube-proxy, the CNI and DNS see; all later modules read it.
public struct Cluster: Sendable {
    public let settings: ClusterSettings
    /// In input order: the order the node IPAM controller saw them.
    public let nodes: [Node]
    public let pods: [Pod]
    /// `default/kubernetes` first, then the input's order.
    public let services: [Service]
    public let endpointSlices: [EndpointSlice]
    /// Messages for the user that are not errors.
    public let notes: [String]
    /// Settings kdp inferred from a dump, read from its ConfigMaps, or assumed (with the basis
    /// of each); empty for a topology file that says everything.
    public let inferred: [InferredSetting]
    /// Pod addresses outside their node's podCIDR (a CNI with its own IPAM), each with the node
    /// that runs the pod: every node routes such an address one by one, as Calico's and the AWS
    /// VPC CNI's per-pod routes do, instead of by the node's podCIDR. Cost: one host route per
    /// such address on every node (empty when pods follow their podCIDRs).
    public let podAddressRoutes: [(address: IPAddress, node: String)]
    /// Where the cluster's ranges contradict each other (overlapping podCIDRs, a podCIDR outside
    /// the cluster CIDR, ...): the cluster loads as given and each is a warning; `kdp verify`'s
    /// `routing` invariant reports them.
    public let inconsistencies: [ClusterInconsistency]

    private let nodeIndex: [String: Int]
    private let serviceIndex: [String: Int]
    private let slicesByService: [String: [Int]]

    init(settings: ClusterSettings, nodes: [Node], pods: [Pod], services: [Service],
         endpointSlices: [EndpointSlice], notes: [String], inferred: [InferredSetting] = [],
         inconsistencies: [ClusterInconsistency] = []) {
        self.inconsistencies = inconsistencies
        self.settings = settings
        self.nodes = nodes
        self.pods = pods
        self.services = services
        self.endpointSlices = endpointSlices
        self.notes = notes
        self.inferred = inferred
        nodeIndex = Dictionary(nodes.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var routes: [(address: IPAddress, node: String)] = []
        for pod in pods where !pod.hostNetwork && !pod.isTerminal {
            guard let name = pod.nodeName, let i = nodeIndex[name] else { continue }
            for ip in pod.ips where !(nodes[i].podCIDR(ip.family)?.contains(ip) ?? false) { routes.append((ip, name)) }
        }
        // In address order, the kernel's dump order for host routes: nodes merge them in.
        podAddressRoutes = routes.sorted { $0.address < $1.address }
        serviceIndex = Dictionary(services.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { a, _ in a })
        var byService: [String: [Int]] = [:]
        for (i, s) in endpointSlices.enumerated() { byService["\(s.namespace)/\(s.serviceName)", default: []].append(i) }
        slicesByService = byService
    }

    /// The same cluster with kube-proxy configured differently (its mode, its IPVS scheduler):
    /// kube-proxy's settings change no allocation, so everything else stays as built.
    public func withKubeProxy(_ change: (inout KubeProxySettings) -> Void) -> Cluster {
        var settings = settings
        change(&settings.kubeProxy)
        return Cluster(settings: settings, nodes: nodes, pods: pods, services: services, endpointSlices: endpointSlices,
                       notes: notes, inferred: inferred, inconsistencies: inconsistencies)
    }

    /// - Complexity: O(1), through the name index.
    public func node(named name: String) -> Node? { nodeIndex[name].map { nodes[$0] } }

    /// - Complexity: O(1) hash lookup (plus building the `NS/NAME` key).
    public func service(namespace: String, name: String) -> Service? {
        serviceIndex["\(namespace)/\(name)"].map { services[$0] }
    }

    /// - Complexity: O(*n*) in the number of pods: a scan. Callers look pods up once per command,
    ///   never per packet.
    public func pod(namespace: String, name: String) -> Pod? {
        pods.first { $0.namespace == namespace && $0.name == name }
    }

    /// - Complexity: O(*n*) in the number of pods.
    public func pods(on node: String) -> [Pod] { pods.filter { $0.nodeName == node } }

    /// The EndpointSlices whose `kubernetes.io/service-name` names this Service.
    public func endpointSlices(for service: Service) -> [EndpointSlice] {
        (slicesByService[service.key] ?? []).map { endpointSlices[$0] }
    }

    /// The node whose pod CIDR holds `ip` (or that runs the pod with this address, where pod
    /// addresses do not follow podCIDRs), if any.
    public func nodeOwningPodIP(_ ip: IPAddress) -> Node? {
        if let r = podAddressRoutes.first(where: { $0.address == ip }) { return node(named: r.node) }
        return nodes.first { $0.podCIDRs.contains { $0.contains(ip) } }
    }
}
