import Cluster
import Foundation
import Netlink
import Wire

/// Clients outside the cluster, as a cloud puts them: a namespace (`MaterializeNames.external`)
/// joined to the fabric by a veth, sending from `clients` (each a /32 on its `eth0`), and the
/// fabric routing each Service VIP (LoadBalancer IPs, external IPs) to one node, as a cloud
/// load balancer hands a VIP's traffic to a node. The fabric forwards (ip_forward) and routes
/// the clients' addresses back to them, so the nodes' replies (out their default route, to the
/// fabric's gateway address) reach the clients. Everything is inside namespaces of the prefix;
/// `--delete` removes it with them.
public struct ExternalNetwork: Sendable {
    /// The addresses clients send from.
    public var clients: [IPAddress]
    /// Each VIP and the node the fabric sends it to.
    public var vipRoutes: [VIPRoute]

    public struct VIPRoute: Sendable, Equatable {
        public var vip: IPAddress
        public var node: String
        public init(vip: IPAddress, node: String) {
            self.vip = vip
            self.node = node
        }
    }

    public init(clients: [IPAddress], vipRoutes: [VIPRoute]) {
        self.clients = clients
        self.vipRoutes = vipRoutes
    }

    /// Every IPv4 LoadBalancer IP and external IP of `cluster`, spread over its nodes in turn.
    public static func spreading(clients: [IPAddress], over cluster: Cluster) -> ExternalNetwork {
        var vips: [IPAddress] = []
        for s in cluster.services {
            for ip in s.loadBalancerIPs + s.externalIPs where ip.family == .ipv4 && !vips.contains(ip) { vips.append(ip) }
        }
        let nodes = cluster.nodes.filter { $0.internalIP(.ipv4) != nil }
        guard !nodes.isEmpty else { return ExternalNetwork(clients: clients, vipRoutes: []) }
        return ExternalNetwork(clients: clients, vipRoutes: vips.enumerated().map { VIPRoute(vip: $1, node: nodes[$0 % nodes.count].name) })
    }

    /// The link between the fabric (`ext0`, .1) and the client namespace (`eth0`, .2): a /30
    /// of the link-local range, which no topology's pods, nodes or Services use.
    public static let fabricSide = IPAddress.v4(IPv4Address(169, 254, 77, 1))
    public static let clientSide = IPAddress.v4(IPv4Address(169, 254, 77, 2))
    public static let fabricLink = "ext0"
}

extension Materializer {
    /// Points the fabric's route for `vip` at `node` (the cloud load balancer choosing another
    /// node), replacing the one there.
    public static func routeVIP(_ vip: IPAddress, to node: String, cluster: Cluster, prefix: String) throws(MaterializeError) {
        guard let nodeIP = cluster.nodes.first(where: { $0.name == node })?.internalIP(vip.family) else {
            throw MaterializeError("route VIP \(vip): node \(node) has no \(vip.family.rawValue) address")
        }
        let names = MaterializeNames(prefix: prefix)
        do {
            let socket = try NetlinkSocket(namespaceNamed: names.fabric)
            guard let bridge = try socket.linkIndex(name: MaterializeNames.fabricBridge) else {
                throw NetlinkError(operation: "route VIP \(vip)", message: "\(names.fabric) has no \(MaterializeNames.fabricBridge)")
            }
            let destination = Prefix(containing: vip, length: vip.family.bitWidth)
            try? socket.deleteRoute(KernelRoute(destination: destination, nextHops: [NextHop(interfaceIndex: nil)]))
            try socket.addRoute(KernelRoute(destination: destination, nextHops: [NextHop(interfaceIndex: bridge, gateway: nodeIP, onlink: true)]))
        } catch {
            throw MaterializeError("route VIP \(vip) to node \(node): \(error)")
        }
    }
}

extension Builder {
    /// The client namespace, its veth to the fabric, the fabric's forwarding and its routes.
    func buildExternal(_ external: ExternalNetwork, fabric: NetlinkSocket) throws(BuildError) {
        let (file, socket) = try namespace(names.external)
        var entry = MaterializeReport.Namespace(role: "external", name: names.external)
        try netlink { () throws(NetlinkError) in
            try fabric.addVeth(name: ExternalNetwork.fabricLink, peer: "eth0", peerNamespace: file)
            try fabric.setLink(name: ExternalNetwork.fabricLink, up: true)
        }
        _ = try address(fabric, ExternalNetwork.fabricLink, [(ExternalNetwork.fabricSide, 30)])
        let clients = external.clients.filter { $0.family == .ipv4 }
        let text = try address(socket, "eth0", [(ExternalNetwork.clientSide, 30)] + clients.map { ($0, 32) })
        try netlink { () throws(NetlinkError) in try socket.setLink(name: "eth0", up: true) }
        entry.links.append("eth0 (veth to \(names.fabric) \(ExternalNetwork.fabricLink)) \(text)")
        let eth0 = try index(socket, "eth0"), ext0 = try index(fabric, ExternalNetwork.fabricLink)
        let bridge = try index(fabric, MaterializeNames.fabricBridge)
        try netlink { () throws(NetlinkError) in
            try socket.addRoute(KernelRoute(destination: Prefix(containing: .v4(.zero), length: 0),
                                            nextHops: [NextHop(interfaceIndex: eth0, gateway: ExternalNetwork.fabricSide)]))
        }
        entry.routes.append("default via \(ExternalNetwork.fabricSide) dev eth0")
        var fabricRoutes: [String] = []
        for client in clients {
            try netlink { () throws(NetlinkError) in
                try fabric.addRoute(KernelRoute(destination: Prefix(containing: client, length: 32),
                                                nextHops: [NextHop(interfaceIndex: ext0, gateway: ExternalNetwork.clientSide)]))
            }
            fabricRoutes.append("\(client) via \(ExternalNetwork.clientSide) dev \(ExternalNetwork.fabricLink)")
        }
        for route in external.vipRoutes where route.vip.family == .ipv4 {
            guard let nodeIP = cluster.nodes.first(where: { $0.name == route.node })?.internalIP(.ipv4) else {
                throw BuildError("external network: VIP \(route.vip) is routed to node \(route.node), which has no IPv4 address")
            }
            try netlink { () throws(NetlinkError) in
                try fabric.addRoute(KernelRoute(destination: Prefix(containing: route.vip, length: 32),
                                                nextHops: [NextHop(interfaceIndex: bridge, gateway: nodeIP, onlink: true)]))
            }
            fabricRoutes.append("\(route.vip) via \(nodeIP) dev \(MaterializeNames.fabricBridge) onlink (node \(route.node))")
        }
        // The fabric routes between the clients and the nodes; reverse-path filtering stays off
        // on its links (replies from a VIP arrive from the node the VIP is routed to, and no other).
        let fabricFile = try netlink { () throws(NetlinkError) in try NetworkNamespaceFile(named: names.fabric) }
        let written = try netlink { () throws(NetlinkError) -> [String] in
            try fabricFile.run { () throws(NetlinkError) -> [String] in
                var done: [String] = []
                let conf = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/sys/net/ipv4/conf")) ?? []
                for (path, value) in [("net/ipv4/ip_forward", "1")] + conf.sorted().map({ ("net/ipv4/conf/\($0)/rp_filter", "0") }) {
                    guard let handle = FileHandle(forWritingAtPath: "/proc/sys/" + path) else { continue }
                    if (try? handle.write(contentsOf: Data((value + "\n").utf8))) != nil {
                        done.append(path.replacingOccurrences(of: "/", with: ".") + "=" + value)
                    }
                    try? handle.close()
                }
                return done
            }
        }
        guard written.contains("net.ipv4.ip_forward=1") else { throw BuildError("external network: could not turn on forwarding in \(names.fabric)") }
        if let n = report.namespaces.firstIndex(where: { $0.role == "fabric" }) {
            report.namespaces[n].links.append("\(ExternalNetwork.fabricLink) (veth to \(names.external) eth0) \(ExternalNetwork.fabricSide)/30")
            report.namespaces[n].routes += fabricRoutes
            report.namespaces[n].sysctls += written
        }
        report.namespaces.append(entry)
    }
}
