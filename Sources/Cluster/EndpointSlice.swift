import Wire

public struct EndpointPort: Sendable, Equatable {
    public var name: String?
    public var `protocol`: IPProtocol?
    public var port: UInt16?
    public var appProtocol: String?

    public init(name: String? = nil, protocol: IPProtocol? = .tcp, port: UInt16?, appProtocol: String? = nil) {
        self.name = name
        self.protocol = `protocol`
        self.port = port
        self.appProtocol = appProtocol
    }
}

/// `conditions` of an endpoint. nil means unset; consumers read unset ready/serving as true
/// and unset terminating as false (kube-proxy-rules.md §1.1).
public struct EndpointConditions: Sendable, Equatable {
    public var ready: Bool?
    public var serving: Bool?
    public var terminating: Bool?

    public init(ready: Bool? = nil, serving: Bool? = nil, terminating: Bool? = nil) {
        self.ready = ready
        self.serving = serving
        self.terminating = terminating
    }

    public var isReady: Bool { ready ?? true }
    public var isServing: Bool { serving ?? true }
    public var isTerminating: Bool { terminating ?? false }
}

/// A reference from an endpoint back to the object behind it (a Pod).
public struct ObjectReference: Sendable, Equatable {
    public var kind: String
    public var namespace: String
    public var name: String

    public init(kind: String, namespace: String, name: String) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }
}

public struct Endpoint: Sendable, Equatable {
    public var addresses: [IPAddress]
    public var conditions: EndpointConditions
    public var hostname: String?
    public var nodeName: String?
    public var zone: String?
    public var hintsForZones: [String]
    public var hintsForNodes: [String]
    public var targetRef: ObjectReference?

    public init(addresses: [IPAddress], conditions: EndpointConditions = .init(), hostname: String? = nil,
                nodeName: String? = nil, zone: String? = nil, hintsForZones: [String] = [],
                hintsForNodes: [String] = [], targetRef: ObjectReference? = nil) {
        self.addresses = addresses
        self.conditions = conditions
        self.hostname = hostname
        self.nodeName = nodeName
        self.zone = zone
        self.hintsForZones = hintsForZones
        self.hintsForNodes = hintsForNodes
        self.targetRef = targetRef
    }
}

public enum EndpointAddressType: String, Sendable, CaseIterable, Codable {
    case ipv4 = "IPv4"
    case ipv6 = "IPv6"
    case fqdn = "FQDN"

    public init(_ family: IPFamily) { self = family == .ipv4 ? .ipv4 : .ipv6 }
    public var family: IPFamily? {
        switch self {
        case .ipv4: .ipv4
        case .ipv6: .ipv6
        case .fqdn: nil
        }
    }
}

/// A discovery.k8s.io/v1 EndpointSlice.
public struct EndpointSlice: Sendable, Equatable {
    public static let serviceNameLabel = "kubernetes.io/service-name"
    public static let managedByLabel = "endpointslice.kubernetes.io/managed-by"
    public static let controllerName = "endpointslice-controller.k8s.io"
    /// The EndpointSlice controller's `maxEndpointsPerSlice` default.
    public static let maxEndpoints = 100

    public var namespace: String
    public var name: String
    /// From the `kubernetes.io/service-name` label.
    public var serviceName: String
    public var addressType: EndpointAddressType
    public var ports: [EndpointPort]
    public var endpoints: [Endpoint]
    public var managedBy: String?
    public var location: InputLocation?

    public init(namespace: String, name: String, serviceName: String, addressType: EndpointAddressType,
                ports: [EndpointPort], endpoints: [Endpoint], managedBy: String? = nil,
                location: InputLocation? = nil) {
        self.namespace = namespace
        self.name = name
        self.serviceName = serviceName
        self.addressType = addressType
        self.ports = ports
        self.endpoints = endpoints
        self.managedBy = managedBy
        self.location = location
    }

    public var key: String { "\(namespace)/\(name)" }
}
