import Cluster
import Wire

/// Where a traced packet starts: a pod, a node (or a hostNetwork pod on it), or a client
/// outside the cluster.
public enum TraceSource: Sendable, Equatable {
    // Boxed: a source rides in every request, walk, entry and replayed flow, and a `Pod` or
    // `Node` copied inline retained each of its strings and collections per copy.
    indirect case pod(Pod)
    indirect case node(Node)
    case external(IPAddress)

    public var description: String {
        switch self {
        case .pod(let p): p.hostNetwork ? "pod/\(p.key) (host network on \(p.nodeName ?? "?"))" : "pod/\(p.key)"
        case .node(let n): "node/\(n.name)"
        case .external(let ip): "external/\(ip)"
        }
    }
}

/// Where the packet is sent: an address and port, with what the user named.
public struct TraceDestination: Sendable, Equatable {
    public var address: IPAddress
    public var port: UInt16
    /// What was asked for, as the user wrote it.
    public var spec: String
    /// The Service behind the address, when it is one of its ClusterIPs, VIPs or NodePorts.
    public var service: Service?
    /// The DNS answer that gave the address, for DNS names.
    public var resolvedBy: String?

    public init(address: IPAddress, port: UInt16, spec: String, service: Service? = nil, resolvedBy: String? = nil) {
        self.address = address
        self.port = port
        self.spec = spec
        self.service = service
        self.resolvedBy = resolvedBy
    }
}

/// Parses `--from` and `--to` against a cluster. Every error says what exists instead.
public enum TraceTargetParser {
    public static func source(_ text: String, in cluster: Cluster) throws(InputError) -> TraceSource {
        if let rest = text.dropPrefix("pod/") { return .pod(try sendingPod(rest, cluster, flag: text)) }
        if let name = text.dropPrefix("node/") { return .node(try cluster.requireNode(named: name)) }
        if let ipText = text.dropPrefix("external/") {
            guard let ip = try? IPAddress(sloppy: ipText) else { throw InputError("--from external/\(ipText): not an IP address") }
            return .external(ip)
        }
        if let ip = try? IPAddress(sloppy: text) {
            if let p = cluster.pods.first(where: { !$0.hostNetwork && $0.ips.contains(ip) }) { return .pod(p) }
            if let n = cluster.nodes.first(where: { $0.internalIPs.contains(ip) }) { return .node(n) }
            return .external(ip)
        }
        if text.contains("/") { return .pod(try sendingPod(text, cluster, flag: text)) }
        throw InputError("--from \"\(text)\": expected pod/NS/NAME, NS/NAME, node/NAME, external/IP or an IP")
    }

    public static func destination(_ text: String, from source: TraceSource, in cluster: Cluster) throws(InputError) -> TraceDestination {
        if let rest = text.dropPrefix("service/") { return try service(rest, cluster, spec: text) }
        let (base, portText) = splitPort(text)
        let port: UInt16? = try portText.map { p throws(InputError) in
            guard let n = UInt16(p), n > 0 else { throw InputError("--to \(text): port \"\(p)\" is not 1-65535") }
            return n
        }
        if let name = base.dropPrefix("node/") {
            let n = try cluster.requireNode(named: name)
            guard let port else { throw InputError("--to \(text): give the NodePort, as node/\(name):PORT") }
            guard let ip = n.internalIPs.first else { throw InputError("node \(name) has no address") }
            return TraceDestination(address: ip, port: port, spec: text, service: serviceOwning(ip: ip, port: port, nodePort: true, cluster))
        }
        if let ipText = base.dropPrefix("external/") {
            guard let ip = try? IPAddress(sloppy: ipText), let port else { throw InputError("--to \(text): expected external/IP:PORT") }
            return TraceDestination(address: ip, port: port, spec: text)
        }
        if let ip = try? IPAddress(sloppy: base) {
            guard let port else { throw InputError("--to \(text): give a port, as \(ip.joined(port: 80))") }
            return TraceDestination(address: ip, port: port, spec: text, service: serviceOwning(ip: ip, port: port, nodePort: false, cluster))
        }
        if base.hasPrefix("pod/") || (base.contains("/") && !base.contains(".")) {
            let p = try pod(base.dropPrefix("pod/") ?? base, cluster)
            guard let ip = p.ips.first else { throw InputError("--to \(text): \(p.pendingReason ?? "pod \(p.key) has no IP"): nothing to trace to") }
            let chosen: UInt16
            if let port { chosen = port } else if p.ports.count == 1 { chosen = p.ports[0].containerPort } else {
                let known = p.ports.map { "\($0.containerPort)" }.joined(separator: ", ")
                throw InputError("--to \(text): give a port (pod \(p.key) declares \(known.isEmpty ? "no ports" : known))")
            }
            return TraceDestination(address: ip, port: chosen, spec: text)
        }
        // A DNS name, resolved as the source pod's resolver would.
        let namespace: String = if case .pod(let p) = source { p.namespace } else { "default" }
        let answer = ClusterDNS(cluster: cluster).resolve(base, namespace: namespace)
        guard answer.rcode == "NOERROR", let record = answer.records.first(where: { $0.type == "A" || $0.type == "AAAA" }),
              let ip = try? IPAddress(parsing: record.data) else {
            throw InputError("--to \(text): \(base) does not resolve from namespace \(namespace) (\(answer.rcode); tried \(answer.tried.joined(separator: ", ")))")
        }
        let service = serviceOwning(ip: ip, port: port ?? 0, nodePort: false, cluster)
        var chosen = port
        if chosen == nil, let s = service, s.ports.count == 1 { chosen = s.ports[0].port }
        guard let chosen else { throw InputError("--to \(text): give a port, as \(base):PORT") }
        return TraceDestination(address: ip, port: chosen, spec: text, service: service,
                                resolvedBy: "\(answer.name ?? base) \(record.type) \(record.data)")
    }

    /// The target and its port text: IPv6 with a port is written [addr]:port (`SocketAddress.splitHostPort`).
    static func splitPort(_ text: String) -> (String, String?) {
        let (host, port) = SocketAddress.splitHostPort(Substring(text))
        return (String(host), port.map(String.init))
    }

    /// A pod that can send: a Pending pod (a dump's pod without a node or an IP) cannot.
    static func sendingPod(_ text: String, _ cluster: Cluster, flag: String) throws(InputError) -> Pod {
        let p = try pod(text, cluster)
        if let why = p.pendingReason { throw InputError("--from \(flag): \(why): it sends nothing") }
        return p
    }

    static func pod(_ text: String, _ cluster: Cluster) throws(InputError) -> Pod {
        guard let ref = NamespacedName(parsing: text) else { throw InputError("\"\(text)\" is not NS/NAME") }
        return try cluster.requirePod(ref)
    }

    static func service(_ text: String, _ cluster: Cluster, spec: String) throws(InputError) -> TraceDestination {
        let (path, portText) = splitPort(text)
        guard let ref = NamespacedName(parsing: path) else { throw InputError("--to \(spec): expected service/NS/NAME[:PORT|:PORTNAME]") }
        let (ns, name) = (ref.namespace, ref.name)
        guard let svc = cluster.service(namespace: ns, name: name) else {
            let known = cluster.services.filter { $0.namespace == ns }.map(\.name)
            throw InputError("no service \(ns)/\(name); services in \(ns): \(known.isEmpty ? "none" : known.joined(separator: ", "))")
        }
        let ports = svc.ports.map { $0.name.isEmpty ? "\($0.port)/\($0.protocol.kubernetesName)" : "\($0.name) (\($0.port)/\($0.protocol.kubernetesName))" }
        let port: ServicePort
        if let p = portText {
            guard let match = svc.ports.first(where: { $0.name == p || String($0.port) == p }) else {
                throw InputError("service \(ns)/\(name) has no port \(p); its ports: \(ports.joined(separator: ", "))")
            }
            port = match
        } else {
            guard svc.ports.count == 1 else {
                throw InputError("service \(ns)/\(name) has \(svc.ports.count) ports; name one: \(ports.joined(separator: ", "))")
            }
            port = svc.ports[0]
        }
        if svc.headless {
            throw InputError("service \(ns)/\(name) is headless (no ClusterIP): trace to its DNS name \(name).\(ns).svc.\(cluster.settings.clusterDomain) to reach a pod")
        }
        guard let ip = svc.clusterIPs.first else { throw InputError("service \(ns)/\(name) has no ClusterIP") }
        return TraceDestination(address: ip, port: port.port, spec: spec, service: svc)
    }

    /// The Service whose ClusterIP, externalIP or VIP (or, for node addresses, NodePort) this is.
    static func serviceOwning(ip: IPAddress, port: UInt16, nodePort: Bool, _ cluster: Cluster) -> Service? {
        cluster.services.first { s in
            if nodePort { return s.ports.contains { $0.nodePort == port } }
            return s.clusterIPs.contains(ip) || s.externalIPs.contains(ip) || s.loadBalancerIPs.contains(ip)
        }
    }
}

extension String {
    func dropPrefix(_ prefix: String) -> String? { hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil }
}
