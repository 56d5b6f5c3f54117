import Wire

/// How pod traffic crosses nodes: routes to the other nodes' IPs (flannel host-gw), or a
/// VXLAN overlay on `flannel.1` (UDP 8472).
public enum CNIMode: String, Sendable, CaseIterable, Codable {
    case hostGW = "host-gw"
    case vxlan
}

/// kube-proxy's data-plane mode.
public enum ProxyMode: String, Sendable, CaseIterable, Codable {
    case iptables
    case ipvs
}

/// kube-proxy's `--detect-local-mode`: how it tells pod traffic from other traffic.
public enum LocalDetectorMode: String, Sendable, CaseIterable, Codable {
    case clusterCIDR = "ClusterCIDR"
    case nodeCIDR = "NodeCIDR"
    case bridgeInterface = "BridgeInterface"
    case interfaceNamePrefix = "InterfaceNamePrefix"
    case none = "None"
}

/// The kube-proxy configuration every node shares (KubeProxyConfiguration's data-plane fields).
public struct KubeProxySettings: Sendable, Equatable {
    public var mode: ProxyMode = .iptables
    public var detectLocalMode: LocalDetectorMode = .clusterCIDR
    /// kube-proxy's own `--cluster-cidr`; when nil the cluster's CIDRs are used.
    public var clusterCIDRs: [Prefix]? = nil
    public var masqueradeAll = false
    public var masqueradeBit = 14
    public var nodePortAddresses: [Prefix] = []
    /// `nodePortAddresses: [primary]`: each node's primary IPs only (its first InternalIP of
    /// each family), as kube-proxy 1.29+ reads the word.
    public var nodePortAddressesPrimary = false
    public var localhostNodePorts = true
    public var bridgeInterface = "cni0"
    public var interfaceNamePrefix = "veth"
    public var ipvsScheduler = "rr"
    /// Where kube-proxy's mode was said to be `nftables` (a topology file's `kubeProxy.mode`, a
    /// dump's kube-proxy ConfigMap, or `--proxy-mode nftables`), nil otherwise. `mode` stays
    /// `iptables` (the modes `ProxyMode` holds); KubeProxy's `NFTablesCompiler` and the data
    /// plane follow this instead.
    public var nftablesModeSource: InputLocation? = nil

    public init() {}
}

/// flanneld's own settings that shape the iptables rules it writes on every node (flannel's
/// `main.go` flags and net-conf.json); defaults as kube-flannel.yml runs it.
public struct FlannelSettings: Sendable, Equatable {
    /// `--ip-masq`: FLANNEL-POSTRTG masquerades pod traffic leaving the flannel network.
    /// kube-flannel.yml passes it, so on by default.
    public var ipMasq = true
    /// `--ip-masq-fully-random-disable`: MASQUERADE without `--random-fully` (flannel adds it
    /// whenever the host's iptables supports it, as every iptables since 1.6.2 does).
    public var ipMasqRandomFullyDisable = false
    /// `--iptables-forward-rules` (flannel's default true): FLANNEL-FWD accepts forwarding to
    /// and from the flannel network.
    public var iptablesForwardRules = true
    /// net-conf.json `Network` (and `IPv6Network`), one per family; nil: the cluster CIDRs, as
    /// kube-flannel.yml and kubeadm's podSubnet agree. When given, a family it leaves out is one
    /// flannel does not run (net-conf.json without `EnableIPv6`): no flannel rules for it.
    public var networks: [Prefix]? = nil

    public init() {}

    /// flannel's network for `family`: its own when given, else the cluster CIDR.
    public func network(for family: IPFamily, clusterCIDRs: [Prefix]) -> Prefix? {
        if let networks { return networks.first { $0.family == family } }
        return clusterCIDRs.first { $0.family == family }
    }
}

/// Cluster-wide settings: the address plan and the behaviour of the cluster's controllers.
/// Defaults are those of a kubeadm cluster with flannel, as issue #2 lists them.
public struct ClusterSettings: Sendable, Equatable {
    public var name = "kdp"
    /// kube-controller-manager `--cluster-cidr`: one per family, IPv4 first when dual-stack.
    public var clusterCIDRs: [Prefix] = [try! Prefix(parsing: "10.244.0.0/16")]
    /// kube-apiserver `--service-cluster-ip-range`.
    public var serviceCIDRs: [Prefix] = [try! Prefix(parsing: "10.96.0.0/12")]
    public var nodeCIDRMaskSizeIPv4 = 24
    public var nodeCIDRMaskSizeIPv6 = 64
    /// The network the nodes' eth0 sit on; its first address is the default gateway. Nodes
    /// without an address get the next free one (from .2, as docker and kind hand them out).
    public var nodeNetworks: [Prefix] = [try! Prefix(parsing: "172.18.0.0/16")]
    public var cni: CNIMode = .hostGW
    public var clusterDomain = "cluster.local"
    /// kube-apiserver `--service-node-port-range`.
    public var nodePortRange = PortRange(30000, 32767)
    /// Seeds every choice the real cluster makes at random (ClusterIPs, NodePorts, slice names).
    public var seed: UInt64 = 1
    public var kubeProxy = KubeProxySettings()
    /// flanneld's flags and network (the CNI's own iptables rules on every node).
    public var flannel = FlannelSettings()
    /// Whether Services go through the API server's registry: `default/kubernetes` added when
    /// missing, and ClusterIPs, NodePorts and health-check ports allocated and range-checked.
    /// Off, Services are taken exactly as written, as upstream kube-proxy's unit-test fixtures
    /// hand them to the proxier.
    public var serviceAllocation = true

    public init() {}

    public func nodeCIDRMaskSize(for family: IPFamily) -> Int {
        family == .ipv4 ? nodeCIDRMaskSizeIPv4 : nodeCIDRMaskSizeIPv6
    }

    public func clusterCIDR(for family: IPFamily) -> Prefix? { clusterCIDRs.first { $0.family == family } }
    public func serviceCIDR(for family: IPFamily) -> Prefix? { serviceCIDRs.first { $0.family == family } }
    public func nodeNetwork(for family: IPFamily) -> Prefix? { nodeNetworks.first { $0.family == family } }

    /// flannel's network for `family` (net-conf.json `Network`, else the cluster CIDR).
    public func flannelNetwork(for family: IPFamily) -> Prefix? { flannel.network(for: family, clusterCIDRs: clusterCIDRs) }

    /// The families the cluster runs, primary first (the first cluster CIDR's family).
    public var families: [IPFamily] { clusterCIDRs.map(\.family) }
}
