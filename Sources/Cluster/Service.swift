import Wire

public enum ServiceType: String, Sendable, CaseIterable, Codable {
    case clusterIP = "ClusterIP"
    case nodePort = "NodePort"
    case loadBalancer = "LoadBalancer"
    case externalName = "ExternalName"
}

public enum TrafficPolicy: String, Sendable, CaseIterable, Codable {
    case cluster = "Cluster"
    case local = "Local"
}

public enum SessionAffinity: String, Sendable, CaseIterable, Codable {
    case none = "None"
    case clientIP = "ClientIP"
}

public enum IPFamilyPolicy: String, Sendable, CaseIterable, Codable {
    case singleStack = "SingleStack"
    case preferDualStack = "PreferDualStack"
    case requireDualStack = "RequireDualStack"
}

/// A Service port's `targetPort`: a number, or the name of a container port.
public enum TargetPort: Sendable, Hashable, CustomStringConvertible {
    case number(UInt16)
    case name(String)

    public var description: String {
        switch self {
        case .number(let n): String(n)
        case .name(let s): s
        }
    }
}

public struct ServicePort: Sendable, Equatable {
    public var name: String
    public var `protocol`: IPProtocol
    public var port: UInt16
    public var targetPort: TargetPort
    /// Allocated for NodePort and LoadBalancer Services unless the input names one.
    public var nodePort: UInt16?
    public var appProtocol: String?

    public init(name: String = "", protocol: IPProtocol = .tcp, port: UInt16,
                targetPort: TargetPort? = nil, nodePort: UInt16? = nil, appProtocol: String? = nil) {
        self.name = name
        self.protocol = `protocol`
        self.port = port
        self.targetPort = targetPort ?? .number(port)  // the API server's default
        self.nodePort = nodePort
        self.appProtocol = appProtocol
    }
}

/// One entry of `status.loadBalancer.ingress`.
public struct LoadBalancerIngress: Sendable, Equatable {
    public var ip: IPAddress?
    public var hostname: String?
    /// `VIP` (the default) or `Proxy`; kube-proxy writes no rules for `Proxy` (§1.1).
    public var ipMode: String?

    public init(ip: IPAddress? = nil, hostname: String? = nil, ipMode: String? = nil) {
        self.ip = ip
        self.hostname = hostname
        self.ipMode = ipMode
    }
}

/// A Kubernetes Service, with every field the data plane depends on.
public struct Service: Sendable, Equatable {
    public static let defaultAffinityTimeout = 10800

    public var namespace: String
    public var name: String
    public var type: ServiceType
    /// `spec.clusterIPs`, primary first; allocated unless given. Empty when headless.
    public var clusterIPs: [IPAddress]
    /// `clusterIP: None`.
    public var headless: Bool
    public var ipFamilies: [IPFamily]
    public var ipFamilyPolicy: IPFamilyPolicy?
    public var ports: [ServicePort]
    /// nil for a Service without a selector (its EndpointSlices come from the input).
    public var selector: [String: String]?
    public var externalIPs: [IPAddress]
    public var loadBalancerIngress: [LoadBalancerIngress]
    /// Parsed with surrounding whitespace trimmed and host bits cleared, as kube-proxy does.
    public var loadBalancerSourceRanges: [Prefix]
    public var externalTrafficPolicy: TrafficPolicy
    public var internalTrafficPolicy: TrafficPolicy
    public var healthCheckNodePort: UInt16?
    public var sessionAffinity: SessionAffinity
    public var sessionAffinityTimeoutSeconds: Int
    public var publishNotReadyAddresses: Bool
    public var externalName: String?
    public var location: InputLocation?

    public init(namespace: String = "default", name: String, type: ServiceType = .clusterIP,
                clusterIPs: [IPAddress] = [], headless: Bool = false, ipFamilies: [IPFamily] = [],
                ipFamilyPolicy: IPFamilyPolicy? = nil, ports: [ServicePort] = [],
                selector: [String: String]? = nil, externalIPs: [IPAddress] = [],
                loadBalancerIngress: [LoadBalancerIngress] = [], loadBalancerSourceRanges: [Prefix] = [],
                externalTrafficPolicy: TrafficPolicy = .cluster, internalTrafficPolicy: TrafficPolicy = .cluster,
                healthCheckNodePort: UInt16? = nil, sessionAffinity: SessionAffinity = .none,
                sessionAffinityTimeoutSeconds: Int = Service.defaultAffinityTimeout,
                publishNotReadyAddresses: Bool = false, externalName: String? = nil,
                location: InputLocation? = nil) {
        self.namespace = namespace
        self.name = name
        self.type = type
        self.clusterIPs = clusterIPs
        self.headless = headless
        self.ipFamilies = ipFamilies
        self.ipFamilyPolicy = ipFamilyPolicy
        self.ports = ports
        self.selector = selector
        self.externalIPs = externalIPs
        self.loadBalancerIngress = loadBalancerIngress
        self.loadBalancerSourceRanges = loadBalancerSourceRanges
        self.externalTrafficPolicy = externalTrafficPolicy
        self.internalTrafficPolicy = internalTrafficPolicy
        self.healthCheckNodePort = healthCheckNodePort
        self.sessionAffinity = sessionAffinity
        self.sessionAffinityTimeoutSeconds = sessionAffinityTimeoutSeconds
        self.publishNotReadyAddresses = publishNotReadyAddresses
        self.externalName = externalName
        self.location = location
    }

    public var key: String { "\(namespace)/\(name)" }

    /// LoadBalancer VIPs (ingress IPs), as kube-proxy reads them.
    public var loadBalancerIPs: [IPAddress] { loadBalancerIngress.compactMap(\.ip) }

    /// True for the types whose ports get NodePorts.
    public var usesNodePorts: Bool { type == .nodePort || type == .loadBalancer }

    /// `NeedsHealthCheck`: only LoadBalancer Services with externalTrafficPolicy Local.
    public var needsHealthCheck: Bool { type == .loadBalancer && externalTrafficPolicy == .local }

    /// `ExternallyAccessible` (pkg/api/v1/service/util.go): LoadBalancer, NodePort, or
    /// ClusterIP with externalIPs. externalTrafficPolicy only counts for these.
    public var externallyAccessible: Bool {
        type == .loadBalancer || type == .nodePort || (type == .clusterIP && !externalIPs.isEmpty)
    }

    public func clusterIP(_ family: IPFamily) -> IPAddress? { clusterIPs.first { $0.family == family } }
}
