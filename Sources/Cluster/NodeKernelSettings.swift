import Wire

/// The kernel settings that change where a node sends a packet, by the names `sysctl` uses.
/// kdp knows these; any other name is an input error (a misspelt sysctl must not be ignored).
public enum Sysctl: String, CaseIterable, Sendable {
    /// IPv4 forwarding (off: packets for other hosts are dropped; kubelet's CNI plugins and
    /// kube-proxy's IPVS mode turn it on).
    case ipForward = "net.ipv4.ip_forward"
    /// IPv6 forwarding.
    case ipv6Forwarding = "net.ipv6.conf.all.forwarding"
    /// 127.0.0.0/8 as a source or destination on a non-loopback interface (off: martian).
    /// kube-proxy sets it when it serves NodePorts on 127.0.0.1 (`localhostNodePorts`).
    case routeLocalnet = "net.ipv4.conf.all.route_localnet"
    /// br_netfilter: bridged IPv4 frames walk iptables (off: a bridge forwards them unseen).
    case bridgeNFCallIPTables = "net.bridge.bridge-nf-call-iptables"
    /// br_netfilter for IPv6 frames and ip6tables.
    case bridgeNFCallIP6Tables = "net.bridge.bridge-nf-call-ip6tables"

    /// Parses a name as `sysctl` takes it: dots or slashes (`net/ipv4/ip_forward`).
    public init?(name: String) {
        self.init(rawValue: String(name.map { $0 == "/" ? "." : $0 }))
    }

    /// Parses `NAME=VALUE` with VALUE 0 or 1, as `--sysctl` and `sysctl -w` take it.
    public static func parseAssignment(_ text: String) throws(InputError) -> (Sysctl, Bool) {
        guard let eq = text.firstIndex(of: "=") else { throw InputError("--sysctl takes NAME=VALUE: '\(text.prefix(60))'") }
        let name = String(text[..<eq]).trimmingSpaces
        let value = String(text[text.index(after: eq)...]).trimmingSpaces
        guard let sysctl = Sysctl(name: name) else {
            throw InputError("--sysctl: unknown sysctl '\(name.prefix(60))'; kdp knows \(Sysctl.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let on = Self.bool(value) else { throw InputError("--sysctl \(sysctl.rawValue): the value must be 0 or 1, not '\(value.prefix(20))'") }
        return (sysctl, on)
    }

    static func bool(_ text: String) -> Bool? {
        switch text {
        case "0": false
        case "1": true
        default: nil
        }
    }

    /// The forwarding sysctl of `family`.
    public static func forwarding(_ family: IPFamily) -> Sysctl { family == .ipv4 ? .ipForward : .ipv6Forwarding }
    /// The br_netfilter sysctl of `family`.
    public static func bridgeNFCall(_ family: IPFamily) -> Sysctl { family == .ipv4 ? .bridgeNFCallIPTables : .bridgeNFCallIP6Tables }
}

/// What a topology says about one node's kernel: sysctls and the hairpin mode of its pod bridge
/// ports. Unset values are not stated: kdp then takes what a kubeadm node with flannel and
/// kube-proxy has, and its traces say so.
public struct NodeKernelSettings: Sendable, Equatable {
    /// Sysctls the topology sets (`sysctls:` on the node).
    public var sysctls: [Sysctl: Bool] = [:]
    /// Hairpin mode on the pod ports of `cni0` (`hairpinMode:` on the node): kubelet's
    /// `hairpin-veth` / the bridge plugin's `hairpinMode: true` turn it on, so a pod can reach
    /// itself through a Service.
    public var hairpinMode: Bool?

    public init(sysctls: [Sysctl: Bool] = [:], hairpinMode: Bool? = nil) {
        self.sysctls = sysctls
        self.hairpinMode = hairpinMode
    }

    /// Whether nothing is stated.
    public var isEmpty: Bool { sysctls.isEmpty && hairpinMode == nil }
}
