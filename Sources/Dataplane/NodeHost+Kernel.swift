import Cluster
import KubeProxy
import Netfilter
import Wire

/// Where a node's kernel setting came from, as traces say it.
public enum KernelSettingOrigin: String, Sendable {
    /// The topology file states it for the node.
    case topology
    /// kube-proxy sets it (route_localnet for localhost NodePorts).
    case kubeProxy = "set by kube-proxy"
    /// Nothing states it: kdp takes what a kubeadm node with flannel's bridge plugin has.
    case assumed
}

/// One node's kernel settings that change where packets go, each with its origin: forwarding,
/// route_localnet, br_netfilter's bridge-nf-call-ip(6)tables and the hairpin mode of the pod
/// ports on `cni0`. Resolved once per node when the data plane is built.
public struct NodeKernel: Sendable, Equatable {
    public struct Setting: Sendable, Equatable {
        public var on: Bool
        public var origin: KernelSettingOrigin
        /// Why, when it is not simply stated or assumed.
        public var because: String?
    }

    public var sysctls: [Sysctl: Setting] { didSet { onBits = Self.bits(sysctls) } }
    public var hairpinMode: Setting
    /// Which sysctls are on, one bit each (`isOn` is asked several times per packet per node,
    /// and a dictionary probe hashed the sysctl's name each time).
    private var onBits: UInt8 = 0

    /// The node's settings: what its topology entry states, else what kube-proxy sets, else the
    /// values kdp assumes (forwarding on, as the bridge plugin sets it; bridge-nf-call-iptables
    /// on, which kube-proxy requires and kubeadm's preflight checks; hairpin mode on, as kubelet
    /// and the bridge plugin set it; route_localnet off, the kernel's default).
    init(node: Node, cluster: Cluster) {
        var s: [Sysctl: Setting] = [:]
        s[.ipForward] = Setting(on: true, origin: .assumed)
        s[.ipv6Forwarding] = Setting(on: true, origin: .assumed)
        s[.bridgeNFCallIPTables] = Setting(on: true, origin: .assumed)
        s[.bridgeNFCallIP6Tables] = Setting(on: true, origin: .assumed)
        // pkg/proxy/iptables (and ipvs) NewProxier: EnsureSysctl(route_localnet, 1) when
        // localhost NodePorts are on and --nodeport-addresses includes 127.0.0.1.
        // (ProxierConfig's own rule; built here without the node's network, which is costly.)
        let kp = cluster.settings.kubeProxy
        let config = ProxierConfig(nodeName: node.name, family: .ipv4, nodeIP: node.internalIP(.ipv4),
                                   localhostNodePorts: kp.localhostNodePorts, nodePortAddresses: kp.nodePortAddresses)
        if cluster.settings.families.contains(.ipv4), config.localhostNodePorts {
            s[.routeLocalnet] = Setting(on: true, origin: .kubeProxy, because: "localhost NodePorts")
        } else {
            s[.routeLocalnet] = Setting(on: false, origin: .assumed, because: "the kernel's default")
        }
        for (sysctl, on) in node.kernel.sysctls { s[sysctl] = Setting(on: on, origin: .topology) }
        sysctls = s
        onBits = Self.bits(s)
        hairpinMode = node.kernel.hairpinMode.map { Setting(on: $0, origin: .topology) } ?? Setting(on: true, origin: .assumed)
    }

    public func isOn(_ sysctl: Sysctl) -> Bool { onBits & Self.bit(sysctl) != 0 }

    private static func bit(_ sysctl: Sysctl) -> UInt8 {
        switch sysctl {
        case .ipForward: 1
        case .ipv6Forwarding: 2
        case .routeLocalnet: 4
        case .bridgeNFCallIPTables: 8
        case .bridgeNFCallIP6Tables: 16
        }
    }

    private static func bits(_ sysctls: [Sysctl: Setting]) -> UInt8 {
        sysctls.reduce(0) { $1.value.on ? $0 | bit($1.key) : $0 }
    }

    /// "net.ipv4.ip_forward=1 (assumed), …, cni0 hairpin mode on (assumed)" for `family`: what
    /// a trace of that family used on this node.
    public func summary(_ family: IPFamily) -> String {
        let names: [Sysctl] = family == .ipv4
            ? [.ipForward, .routeLocalnet, .bridgeNFCallIPTables]
            : [.ipv6Forwarding, .bridgeNFCallIP6Tables]
        func origin(_ s: Setting) -> String {
            "(" + s.origin.rawValue + (s.because.map { ": \($0)" } ?? "") + ")"
        }
        var parts = names.map { n in "\(n.rawValue)=\(isOn(n) ? 1 : 0) \(origin(sysctls[n]!))" }
        parts.append("\(NodeNetwork.bridgeName) hairpin mode \(hairpinMode.on ? "on" : "off") \(origin(hairpinMode))")
        return parts.joined(separator: ", ")
    }
}
