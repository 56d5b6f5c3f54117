import Cluster
import Wire

/// The Service port a new flow is sent to, for the per-Service summary.
extension Replay {
    /// The Service port a flow is sent to: a ClusterIP, external IP or load-balancer VIP and
    /// its port, or a node address and a NodePort.
    func servicePort(_ flow: FlowKey) -> (Service, ServicePort)? {
        guard let (s, p) = servicePortIndex(flow) else { return nil }
        return (plane.cluster.services[s], plane.cluster.services[s].ports[p])
    }

    /// `servicePort`'s Service and port as indexes into the cluster (no copy of the Service).
    func servicePortIndex(_ flow: FlowKey) -> (service: Int, port: Int)? {
        let dst = flow.destination
        return services.byAddress[SocketKey(address: dst, port: flow.destinationPort, proto: flow.proto)]
            ?? (services.nodeAddresses.contains(dst) ? services.byNodePort[SocketKey(address: .v4(.zero), port: flow.destinationPort, proto: flow.proto)] : nil)
    }

    struct SocketKey: Hashable, Sendable {
        var address: IPAddress
        var port: UInt16
        var proto: IPProtocol
    }

    /// The cluster's Service ports by address and port (ClusterIPs, external IPs, VIPs) and by
    /// NodePort, built once: a new flow finds its Service in O(1).
    struct ServiceIndex: Sendable {
        var byAddress: [SocketKey: (Int, Int)] = [:]
        var byNodePort: [SocketKey: (Int, Int)] = [:]
        var nodeAddresses = Set<IPAddress>()
        /// Where each Service's ports start in a flat numbering of every Service port
        /// (`slot(service:port:)`): the summary's rows are found by integer, not by name.
        var portBase: [Int] = []
        var portCount = 0

        func slot(service s: Int, port p: Int) -> Int { portBase[s] + p }
        /// Load balancers' VIPs: traffic to one enters at the node the cloud picks.
        var loadBalancerIPs = Set<IPAddress>()

        init(_ plane: Dataplane) {
            for (si, s) in plane.cluster.services.enumerated() {
                portBase.append(portCount)
                portCount += s.ports.count
                loadBalancerIPs.formUnion(s.loadBalancerIPs)
                for (pi, p) in s.ports.enumerated() {
                    for ip in s.clusterIPs + s.externalIPs + s.loadBalancerIPs {
                        let k = SocketKey(address: ip, port: p.port, proto: p.protocol)
                        if byAddress[k] == nil { byAddress[k] = (si, pi) }
                    }
                    if let np = p.nodePort {
                        let k = SocketKey(address: .v4(.zero), port: np, proto: p.protocol)
                        if byNodePort[k] == nil { byNodePort[k] = (si, pi) }
                    }
                }
            }
            for n in plane.nodes {
                for i in n.network.interfaces { for a in i.addresses { nodeAddresses.insert(a.0) } }
                for ip in n.node.internalIPs { nodeAddresses.insert(ip) }
            }
        }
    }
}
