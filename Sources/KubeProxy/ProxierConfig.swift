import Cluster
import Foundation
import Wire

/// One node's kube-proxy, as its flags and host make it: which node, which IP family (a
/// single-stack proxier; dual-stack runs one per family), the local-traffic detector, the
/// masquerade mark, and what the host's iptables supports.
public struct ProxierConfig: Sendable {
    public var nodeName: String
    public var family: IPFamily
    /// The node's primary address in this family (`proxier.nodeIP`).
    public var nodeIP: IPAddress?
    /// Every local interface address of this family, for `--nodeport-addresses`.
    public var localAddresses: [IPAddress]
    public var nodeLabels: [String: String]
    public var detectLocalMode: LocalDetectorMode
    /// `--cluster-cidr` for the ClusterCIDR detector (first of this family is used).
    public var clusterCIDRs: [Prefix]
    /// The node's `spec.podCIDRs` for the NodeCIDR detector.
    public var nodePodCIDRs: [Prefix]
    public var bridgeInterface: String
    public var interfaceNamePrefix: String
    public var masqueradeAll: Bool
    public var masqueradeBit: Int
    /// Overrides the mark's spelling (upstream's tests write `0x4000`; real kube-proxy `0x00004000`).
    public var masqueradeMarkText: String?
    public var localhostNodePortsFlag: Bool
    public var nodePortAddresses: [Prefix]
    /// Whether the host's iptables supports `--random-fully` (`HasRandomFully`).
    public var randomFully: Bool
    /// Whether the nfacct counters could be created.
    public var nfacct: Bool
    /// `net.netfilter.nf_conntrack_tcp_be_liberal` non-zero: no INVALID drop rule.
    public var conntrackTCPBeLiberal = false
    /// `largeClusterEndpointsThreshold`.
    public var largeClusterEndpointsThreshold = 1000

    public init(nodeName: String, family: IPFamily, nodeIP: IPAddress?, localAddresses: [IPAddress] = [],
                nodeLabels: [String: String] = [:], detectLocalMode: LocalDetectorMode = .clusterCIDR,
                clusterCIDRs: [Prefix] = [], nodePodCIDRs: [Prefix] = [], bridgeInterface: String = "cni0",
                interfaceNamePrefix: String = "veth", masqueradeAll: Bool = false, masqueradeBit: Int = 14,
                masqueradeMarkText: String? = nil, localhostNodePorts: Bool = true, nodePortAddresses: [Prefix] = [],
                randomFully: Bool = false, nfacct: Bool = false) {
        self.nodeName = nodeName
        self.family = family
        self.nodeIP = nodeIP
        self.localAddresses = localAddresses
        self.nodeLabels = nodeLabels
        self.detectLocalMode = detectLocalMode
        self.clusterCIDRs = clusterCIDRs
        self.nodePodCIDRs = nodePodCIDRs
        self.bridgeInterface = bridgeInterface
        self.interfaceNamePrefix = interfaceNamePrefix
        self.masqueradeAll = masqueradeAll
        self.masqueradeBit = masqueradeBit
        self.masqueradeMarkText = masqueradeMarkText
        self.localhostNodePortsFlag = localhostNodePorts
        self.nodePortAddresses = nodePortAddresses
        self.randomFully = randomFully
        self.nfacct = nfacct
    }

    /// The node's kube-proxy with the cluster's kube-proxy settings.
    public static func forNode(_ node: Node, in cluster: Cluster, family: IPFamily) -> ProxierConfig {
        let kp = cluster.settings.kubeProxy
        let network = NodeNetwork(node: node, in: cluster)
        let addresses = network.interfaces.flatMap { $0.addresses.map(\.0) }.filter { $0.family == family }
        return ProxierConfig(
            nodeName: node.name, family: family, nodeIP: node.internalIP(family), localAddresses: addresses,
            nodeLabels: node.labels, detectLocalMode: kp.detectLocalMode,
            clusterCIDRs: kp.clusterCIDRs ?? cluster.settings.clusterCIDRs, nodePodCIDRs: node.podCIDRs,
            bridgeInterface: kp.bridgeInterface, interfaceNamePrefix: kp.interfaceNamePrefix,
            masqueradeAll: kp.masqueradeAll, masqueradeBit: kp.masqueradeBit,
            localhostNodePorts: kp.localhostNodePorts,
            // `primary`: the node's own IPs as host prefixes (NewNodePortAddresses with nodeIPs).
            nodePortAddresses: kp.nodePortAddressesPrimary
                ? IPFamily.allCases.compactMap { f in node.internalIP(f).map { Prefix(containing: $0, length: f.bitWidth) } }
                : kp.nodePortAddresses)
    }

    /// `1 << masqueradeBit` as Go's `%#08x` prints it: `0x` then at least eight hex digits.
    public var masqueradeMark: String {
        masqueradeMarkText ?? "0x" + String(format: "%08x", UInt32(1) << UInt32(masqueradeBit))
    }

    /// `--nodeport-addresses` after dropping the other family's CIDRs; empty means match all.
    var familyNodePortAddresses: [Prefix] { nodePortAddresses.filter { $0.family == family } }

    /// Localhost NodePorts: IPv4 only, and forced off when nodeport-addresses leave out
    /// 127.0.0.0/8 (`ContainsIPv4Loopback`).
    public var localhostNodePorts: Bool {
        guard family == .ipv4, localhostNodePortsFlag else { return false }
        let cidrs = familyNodePortAddresses
        return cidrs.isEmpty || cidrs.contains { $0.contains(.v4(IPv4Address(127, 0, 0, 1))) }
    }

    /// The local-traffic detector's `ifLocal` / `ifNotLocal` words, nil for the no-op detector
    /// (pkg/proxy/util/localdetector.go).
    var localDetector: (ifLocal: [String], ifNotLocal: [String])? {
        switch detectLocalMode {
        case .clusterCIDR:
            guard let cidr = clusterCIDRs.first(where: { $0.family == family }) else { return nil }
            return (["-s", cidr.description], ["!", "-s", cidr.description])
        case .nodeCIDR:
            guard let cidr = nodePodCIDRs.first(where: { $0.family == family }) else { return nil }
            return (["-s", cidr.description], ["!", "-s", cidr.description])
        case .bridgeInterface:
            return (["-i", bridgeInterface], ["!", "-i", bridgeInterface])
        case .interfaceNamePrefix:
            return (["-i", interfaceNamePrefix + "+"], ["!", "-i", interfaceNamePrefix + "+"])
        case .none:
            return nil
        }
    }
}
