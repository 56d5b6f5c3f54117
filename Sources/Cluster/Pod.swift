import Wire

/// A container port a pod declares; named ports are what Services' `targetPort` names resolve to.
public struct ContainerPort: Sendable, Equatable {
    public var name: String?
    public var containerPort: UInt16
    public var `protocol`: IPProtocol

    public init(name: String? = nil, containerPort: UInt16, protocol: IPProtocol = .tcp) {
        self.name = name
        self.containerPort = containerPort
        self.protocol = `protocol`
    }
}

/// A Kubernetes Pod, with what the data plane needs of it.
public struct Pod: Sendable, Equatable {
    public var namespace: String
    public var name: String
    public var labels: [String: String]
    /// `spec.nodeName`; nil until scheduled.
    public var nodeName: String?
    /// `status.podIPs`, primary first; filled in by the CNI emulator unless the input named them.
    public var ips: [IPAddress]
    public var hostNetwork: Bool
    public var ports: [ContainerPort]
    /// The Ready condition.
    public var ready: Bool
    /// True when the pod has a deletionTimestamp.
    public var terminating: Bool
    /// Succeeded and Failed pods are out of every EndpointSlice.
    public var phase: String?
    public var hostname: String?
    public var subdomain: String?
    public var location: InputLocation?
    /// Read from plain manifests (a dump): a fact, never scheduled nor given an address; false
    /// for pods a topology file asks for.
    public var fromDump = false

    public init(namespace: String = "default", name: String, labels: [String: String] = [:],
                nodeName: String? = nil, ips: [IPAddress] = [], hostNetwork: Bool = false,
                ports: [ContainerPort] = [], ready: Bool = true, terminating: Bool = false,
                phase: String? = nil, hostname: String? = nil, subdomain: String? = nil,
                location: InputLocation? = nil) {
        self.namespace = namespace
        self.name = name
        self.labels = labels
        self.nodeName = nodeName
        self.ips = ips
        self.hostNetwork = hostNetwork
        self.ports = ports
        self.ready = ready
        self.terminating = terminating
        self.phase = phase
        self.hostname = hostname
        self.subdomain = subdomain
        self.location = location
    }

    public var key: String { "\(namespace)/\(name)" }
    public func ip(_ family: IPFamily) -> IPAddress? { ips.first { $0.family == family } }
    public var isTerminal: Bool { phase == "Succeeded" || phase == "Failed" }

    /// Why the pod has no address to send from or to, or nil when it has one: a dump's pod
    /// without `spec.nodeName` is Pending (kdp never schedules it), and a scheduled one may not
    /// have its IP yet.
    public var pendingReason: String? {
        guard nodeName != nil else {
            return "pod \(key) is Pending: no node runs it (it has no nodeName), so it has no IP and is no endpoint"
        }
        guard ips.isEmpty else { return nil }
        return "pod \(key) on node \(nodeName!) has no IP yet (phase \(phase ?? "Pending")), so it has no address and is no endpoint"
    }
}
