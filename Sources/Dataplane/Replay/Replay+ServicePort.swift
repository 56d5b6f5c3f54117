import Cluster
import Netfilter
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
        let packed = services.byAddress[ServiceIndex.key(dst, flow.destinationPort, flow.proto)]
            ?? (services.nodeAddresses.contains(dst) ? services.byNodePort[ServiceIndex.key(.v4(.zero), flow.destinationPort, flow.proto)] : nil)
        return packed.map(ServiceIndex.unpack)
    }

    /// The cluster's Service ports by address and port (ClusterIPs, external IPs, VIPs) and by
    /// NodePort, built once: a new flow finds its Service in O(1), in conntrack's flat seeded
    /// table (a `Dictionary`'s SipHash was a fifth of counting a new flow in the summary).
    struct ServiceIndex: Sendable {
        /// (address, port, protocol) → Service index << 32 | port index.
        var byAddress = ConntrackTupleIndex()
        /// (0.0.0.0, NodePort, protocol) → the same.
        var byNodePort = ConntrackTupleIndex()
        var nodeAddresses = Set<IPAddress>()
        /// Where each Service's ports start in a flat numbering of every Service port
        /// (`slot(service:port:)`): the summary's rows are found by integer, not by name.
        var portBase: [Int] = []
        var portCount = 0

        func slot(service s: Int, port p: Int) -> Int { portBase[s] + p }

        /// A socket as a key of the flat table: a tuple with only a source.
        static func key(_ address: IPAddress, _ port: UInt16, _ proto: IPProtocol) -> ConntrackTuple {
            ConntrackTuple(source: address, sourcePort: port, destination: .v4(.zero), destinationPort: 0, proto: proto)
        }

        static func unpack(_ packed: Int) -> (service: Int, port: Int) { (packed >> 32, packed & 0xFFFF_FFFF) }
        /// Load balancers' VIPs: traffic to one enters at the node the cloud picks.
        var loadBalancerIPs = Set<IPAddress>()

        init(_ plane: Dataplane) {
            for (si, s) in plane.cluster.services.enumerated() {
                portBase.append(portCount)
                portCount += s.ports.count
                loadBalancerIPs.formUnion(s.loadBalancerIPs)
                for (pi, p) in s.ports.enumerated() {
                    for ip in s.clusterIPs + s.externalIPs + s.loadBalancerIPs {
                        let k = Self.key(ip, p.port, p.protocol)
                        if byAddress[k] == nil { byAddress[k] = si << 32 | pi }
                    }
                    if let np = p.nodePort {
                        let k = Self.key(.v4(.zero), np, p.protocol)
                        if byNodePort[k] == nil { byNodePort[k] = si << 32 | pi }
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
