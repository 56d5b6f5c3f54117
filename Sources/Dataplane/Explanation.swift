import Cluster
import Netfilter
import Wire

/// Turns the rule that dropped or rejected a packet into the reason a network engineer wants,
/// using why kdp's compiler wrote the rule (its origin) and what the cluster knows. Rules parsed
/// from a foreign dump carry no origin: for those, what kube-proxy's comments say.
enum Explanation {
    static func why(path: TracePath, node: Node, packet: Packet, cluster: Cluster) -> String {
        let reason = path.reason ?? path.decidedBy.description
        guard let origin = path.origin else { return fromComment(reason, path: path, node: node, packet: packet, cluster: cluster) }
        guard let port = origin.servicePort else { return reason }
        switch origin.purpose {
        case .noEndpoints:
            return "\(spoken(port)) has no endpoints"
        case .noLocalEndpoints(let traffic):
            return noLocalEndpoint(traffic == .internal ? "internalTrafficPolicy" : "externalTrafficPolicy", node, spoken(port))
        case .loadBalancerFirewall:
            return firewallDrop(cluster.service(namespace: port.namespace, name: port.name), spoken(port), node: node, packet: packet)
        default:
            return reason
        }
    }

    /// A rule without an origin: what its comment says, as kube-proxy writes comments
    /// (`"<ns/svc:port> has no endpoints"`...).
    static func fromComment(_ reason: String, path: TracePath, node: Node, packet: Packet, cluster: Cluster) -> String {
        let chain = path.steps.last?.chain ?? ""
        if let name = reason.dropSuffix(" has no endpoints") {
            return "\(serviceName(name)) has no endpoints"
        }
        if let name = reason.dropSuffix(" has no local endpoints") {
            return noLocalEndpoint(chain == "KUBE-SERVICES" ? "internalTrafficPolicy" : "externalTrafficPolicy", node, serviceName(name))
        }
        if reason.contains("traffic not accepted by KUBE-FW-") {
            let name = String(reason.prefix { $0 != " " })
            return firewallDrop(lookup(name, cluster), serviceName(name), node: node, packet: packet)
        }
        return reason
    }

    static func noLocalEndpoint(_ policy: String, _ node: Node, _ service: String) -> String {
        "\(policy) Local and node \(node.name) has no local endpoint for \(service)"
    }

    /// KUBE-PROXY-FIREWALL drops whatever reached the VIP without being DNATed: a source outside
    /// the ranges, or an allowed one on a node that had no endpoint to send it to.
    static func firewallDrop(_ svc: Service?, _ service: String, node: Node, packet: Packet) -> String {
        let ranges = svc?.loadBalancerSourceRanges ?? []
        let allowed = ranges.contains { $0.contains(packet.source) }
        if allowed, let svc, svc.externalTrafficPolicy == .local {
            return "externalTrafficPolicy Local and node \(node.name) has no local endpoint for \(service) (source \(packet.source) is within loadBalancerSourceRanges, but nothing DNATed it, so KUBE-PROXY-FIREWALL drops it)"
        }
        return "source \(packet.source) not in loadBalancerSourceRanges of \(service) (\(ranges.map(\.description).joined(separator: ", ")))"
    }

    /// `ns/svc:port` → `ns/svc (port port)`, as people say it.
    static func spoken(_ port: ServicePortName) -> String {
        port.port.isEmpty ? "\(port.namespace)/\(port.name)" : "\(port.namespace)/\(port.name) (port \(port.port))"
    }

    /// `ns/svc:port` → `ns/svc (port port)`, read from a comment.
    static func serviceName(_ portName: String) -> String {
        guard let colon = portName.lastIndex(of: ":") else { return portName }
        return "\(portName[..<colon]) (port \(portName[portName.index(after: colon)...]))"
    }

    static func lookup(_ portName: String, _ cluster: Cluster) -> Service? {
        let key = portName.split(separator: ":").first.map(String.init) ?? portName
        let parts = key.split(separator: "/")
        guard parts.count == 2 else { return nil }
        return cluster.service(namespace: String(parts[0]), name: String(parts[1]))
    }
}

extension String {
    func dropSuffix(_ suffix: String) -> String? { hasSuffix(suffix) ? String(dropLast(suffix.count)) : nil }
}
