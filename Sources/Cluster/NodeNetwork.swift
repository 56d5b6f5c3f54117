import Wire

/// What the CNI (flannel with the bridge plugin) sets up in a node's network namespace: `eth0`
/// on the node network, bridge `cni0` holding the gateway of the node's pod range (created with
/// the first pod that is not hostNetwork, as the bridge plugin does), `flannel.1` in VXLAN mode,
/// and the routes that make the pod network flat.
public struct NodeNetwork: Sendable {
    public static let bridgeName = "cni0"
    public static let vxlanPort: UInt16 = 8472

    public let node: Node
    public let interfaces: [NetworkInterface]
    public let routes: [IPRoute]

    public init(node: Node, in cluster: Cluster) {
        self.node = node
        let settings = cluster.settings
        let hasBridge = cluster.pods.contains { $0.nodeName == node.name && !$0.hostNetwork }
        var interfaces = [NetworkInterface(name: "lo", kind: .loopback, addresses: [(.v4(IPv4Address(127, 0, 0, 1)), 8), (.v6(.loopback), 128)])]
        var routes: [IPRoute] = []
        var eth0: [(IPAddress, Int)] = []
        var defaultRoute: Set<IPFamily> = []
        var onLink: Set<Prefix> = []
        for ip in node.internalIPs {
            let network = settings.nodeNetwork(for: ip.family).flatMap { $0.contains(ip) ? $0 : nil }
                ?? Prefix(containing: ip, length: ip.family == .ipv4 ? 24 : 64)
            eth0.append((ip, network.length))
            // A second address on one subnet adds no route of its own (the kernel keeps the
            // first's); one default route per family, through the first address's network.
            if onLink.insert(network).inserted {
                routes.append(IPRoute(destination: network, family: ip.family, device: "eth0", proto: "kernel", scopeLink: true, source: ip))
            }
            if defaultRoute.insert(ip.family).inserted {
                routes.append(IPRoute(destination: nil, family: ip.family, gateway: network.address(at: 1), device: "eth0"))
            }
        }
        interfaces.append(NetworkInterface(name: "eth0", kind: .ethernet, addresses: eth0))
        if hasBridge {
            interfaces.append(NetworkInterface(name: Self.bridgeName, kind: .bridge,
                                        addresses: node.podCIDRs.compactMap { c in c.address(at: 1).map { ($0, c.length) } }))
            for cidr in node.podCIDRs where cidr.hostBits >= 2 {
                routes.append(IPRoute(destination: cidr, family: cidr.family, device: Self.bridgeName, proto: "kernel",
                                    scopeLink: true, source: cidr.address(at: 1)))
            }
        }
        if settings.cni == .vxlan {
            for cidr in node.podCIDRs {
                // flannel gives flannel.1 the network address of the node's subnet, as a /32 (/128).
                interfaces.append(NetworkInterface(name: Self.vxlanDevice(cidr.family), kind: .vxlan,
                                            addresses: [(cidr.network, cidr.family.bitWidth)]))
            }
        }
        for other in cluster.nodes where other.name != node.name {
            for cidr in other.podCIDRs {
                switch settings.cni {
                case .hostGW:
                    guard let via = other.internalIP(cidr.family) else { continue }
                    // flannel's host-gw backend adds the route with the other node as gateway;
                    // the kernel refuses a gateway outside every connected subnet (ENETUNREACH),
                    // and flannel logs the error and goes on: that node's pods have no route.
                    guard onLink.contains(where: { $0.contains(via) }) else { continue }
                    routes.append(IPRoute(destination: cidr, family: cidr.family, gateway: via, device: "eth0"))
                case .vxlan:
                    // flannel's vxlan backend: via the remote flannel.1 address, onlink.
                    routes.append(IPRoute(destination: cidr, family: cidr.family, gateway: cidr.network,
                                        device: Self.vxlanDevice(cidr.family), onlink: true))
                }
            }
        }
        // Pod addresses outside their node's podCIDR: a host route each, on the bridge for the
        // node's own pods and through the owning node's address for the others'. They come in
        // address order, so they merge into the sorted table in linear time (a large Calico
        // dump gives every node thousands of them).
        var hostRoutes: [IPRoute] = []
        hostRoutes.reserveCapacity(cluster.podAddressRoutes.count)
        for (address, owner) in cluster.podAddressRoutes {
            let host = Prefix(containing: address, length: address.family.bitWidth)
            if owner == node.name {
                hostRoutes.append(IPRoute(destination: host, family: address.family, device: Self.bridgeName, scopeLink: true))
            } else if let via = cluster.node(named: owner)?.internalIP(address.family) {
                hostRoutes.append(IPRoute(destination: host, family: address.family, gateway: via, device: "eth0"))
            }
        }
        self.interfaces = interfaces
        self.routes = Self.merge(routes.sorted(by: IPRoute.kernelOrder), hostRoutes)
    }

    /// Two route lists, each in kernel order, merged in kernel order.
    static func merge(_ a: [IPRoute], _ b: [IPRoute]) -> [IPRoute] {
        guard !b.isEmpty else { return a }
        var out: [IPRoute] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count && j < b.count {
            if IPRoute.kernelOrder(b[j], a[i]) { out.append(b[j]); j += 1 } else { out.append(a[i]); i += 1 }
        }
        out += a[i...]
        out += b[j...]
        return out
    }

    public static func vxlanDevice(_ family: IPFamily) -> String { family == .ipv4 ? "flannel.1" : "flannel-v6.1" }

    /// The routing decision for `destination`: the most specific matching route.
    ///
    /// - Complexity: O(*r*) in the node's routes (a CNI table has one per node and a few more).
    public func lookup(_ destination: IPAddress) -> IPRoute? {
        routes.filter { $0.matches(destination) }.max { ($0.destination?.length ?? 0) < ($1.destination?.length ?? 0) }
    }
}

/// A pod's namespace as the bridge plugin leaves it: `eth0` with the pod IP in the node's range
/// and a default route via the bridge's gateway address.
public struct PodNetwork: Sendable {
    public let pod: Pod
    public let interfaces: [NetworkInterface]
    public let routes: [IPRoute]

    /// nil for a hostNetwork pod (it shares its node's namespace) or one on an unknown node.
    public init?(pod: Pod, in cluster: Cluster) {
        guard !pod.hostNetwork, let nodeName = pod.nodeName, let node = cluster.node(named: nodeName) else { return nil }
        self.pod = pod
        var routes: [IPRoute] = []
        var addresses: [(IPAddress, Int)] = []
        for ip in pod.ips {
            guard let cidr = node.podCIDR(ip.family), cidr.contains(ip) else {
                // An address outside the node's podCIDR (the CNI's own IPAM): a host address
                // and a default route out of eth0, through the node's bridge gateway if it has one.
                addresses.append((ip, ip.family.bitWidth))
                let gateway = node.podCIDR(ip.family).flatMap { $0.hostBits >= 2 ? $0.address(at: 1) : nil }
                routes.append(IPRoute(destination: nil, family: ip.family, gateway: gateway, device: "eth0", scopeLink: gateway == nil))
                continue
            }
            addresses.append((ip, cidr.length))
            routes.append(IPRoute(destination: nil, family: ip.family, gateway: cidr.address(at: 1), device: "eth0"))
            routes.append(IPRoute(destination: cidr, family: ip.family, device: "eth0", proto: "kernel", scopeLink: true, source: ip))
        }
        interfaces = [
            NetworkInterface(name: "lo", kind: .loopback, addresses: [(.v4(IPv4Address(127, 0, 0, 1)), 8), (.v6(.loopback), 128)]),
            NetworkInterface(name: "eth0", kind: .veth, addresses: addresses),
        ]
        self.routes = routes.sorted(by: IPRoute.kernelOrder)
    }
}
