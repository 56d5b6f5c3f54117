import Cluster
import Netfilter
import Wire

/// One (Service, port) as a single-family kube-proxy sees it (pkg/proxy/serviceport.go
/// `newBaseServiceInfo`, iptables `newServiceInfo`): addresses of the other family dropped,
/// LoadBalancer ingress in Proxy mode dropped, and the derived policy flags.
public struct ServicePortInfo: Sendable {
    public let service: Service
    public let port: ServicePort
    /// `ns/svc:port`, or `ns/svc` for an unnamed port.
    public let name: String
    /// `name` in typed parts, for the origins of the rules written for this port.
    public let portName: ServicePortName
    /// Lower-case protocol, as written after `-m` and `-p`.
    public let protocolName: String
    public let clusterIP: IPAddress
    public let externalIPs: [IPAddress]
    public let loadBalancerVIPs: [IPAddress]
    public let loadBalancerSourceRanges: [Prefix]
    public let nodePort: UInt16?
    public let healthCheckNodePort: UInt16?
    /// The hash shared by KUBE-SVC-, KUBE-SVL-, KUBE-EXT- and KUBE-FW-.
    public let hash: String

    /// nil for ports kube-proxy skips: headless and ExternalName Services, or a ClusterIP of
    /// the other family.
    public init?(service: Service, port: ServicePort, family: IPFamily) {
        guard !service.headless, service.type != .externalName, let cip = service.clusterIP(family) else { return nil }
        self.service = service
        self.port = port
        portName = ServicePortName(namespace: service.namespace, name: service.name, port: port.name)
        name = portName.description
        protocolName = port.protocol.name
        clusterIP = cip
        externalIPs = service.externalIPs.filter { $0.family == family }
        loadBalancerVIPs = service.loadBalancerIngress.filter { $0.ipMode != "Proxy" }.compactMap(\.ip).filter { $0.family == family }
        loadBalancerSourceRanges = service.loadBalancerSourceRanges.filter { $0.family == family }
        nodePort = port.nodePort
        healthCheckNodePort = service.needsHealthCheck ? service.healthCheckNodePort : nil
        hash = ChainName.servicePortHash(name, protocolName)
    }

    public var clusterChain: ChainName { .serviceCluster(hash) }
    public var localChain: ChainName { .serviceLocal(hash) }
    public var externalChain: ChainName { .serviceExternal(hash) }
    public var firewallChain: ChainName { .serviceFirewall(hash) }

    public var externalPolicyLocal: Bool { service.externallyAccessible && service.externalTrafficPolicy == .local }
    public var internalPolicyLocal: Bool { service.internalTrafficPolicy == .local }
    /// A nodePort, an LB VIP or an externalIP (serviceport.go `ExternallyAccessible`).
    public var externallyAccessible: Bool { nodePort != nil || !loadBalancerVIPs.isEmpty || !externalIPs.isEmpty }
    public var usesClusterEndpoints: Bool { !internalPolicyLocal || externallyAccessible }
    public var usesLocalEndpoints: Bool { internalPolicyLocal || (externalPolicyLocal && externallyAccessible) }
    public var affinitySeconds: Int? { service.sessionAffinity == .clientIP ? service.sessionAffinityTimeoutSeconds : nil }
}

/// One endpoint of a service port (pkg/proxy/endpointslicecache.go, iptables `endpointInfo`).
public struct EndpointInfo: Sendable, Equatable {
    public let ip: IPAddress
    public let port: UInt16
    /// `ip:port`, `[ip6]:port` for IPv6.
    public let string: String
    public let ready: Bool
    public let serving: Bool
    public let terminating: Bool
    public let isLocal: Bool
    public let nodeName: String?
    public let zoneHints: Set<String>
    public let nodeHints: Set<String>
    /// `KUBE-SEP-<hash>`.
    public let chain: ChainName
}

extension ServicePortInfo {
    /// The endpoints of this port from the Service's slices of this family: matched on
    /// (port name, protocol), only `addresses[0]`, duplicates resolved as the cache does (a
    /// terminating copy never replaces one), sorted by the `ip:port` string.
    public func endpoints(in cluster: Cluster, nodeName: String, family: IPFamily) -> [EndpointInfo] {
        var byString: [String: EndpointInfo] = [:]
        for slice in cluster.endpointSlices(for: service) where slice.addressType.family == family {
            guard let sp = slice.ports.first(where: { ($0.name ?? "") == port.name && ($0.protocol ?? .tcp) == port.protocol }),
                  let number = sp.port else { continue }
            for e in slice.endpoints {
                guard let ip = e.addresses.first else { continue }
                let string = ip.joined(port: number)
                let info = EndpointInfo(
                    ip: ip, port: number, string: string, ready: e.conditions.isReady, serving: e.conditions.isServing,
                    terminating: e.conditions.isTerminating, isLocal: e.nodeName == nodeName, nodeName: e.nodeName,
                    zoneHints: Set(e.hintsForZones), nodeHints: Set(e.hintsForNodes),
                    chain: .endpoint(ChainName.endpointHash(name, protocolName, string)))
                if byString[string] != nil && info.terminating { continue }
                byString[string] = info
            }
        }
        return byString.values.sorted { $0.string < $1.string }
    }
}
