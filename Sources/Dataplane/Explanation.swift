import Cluster
import Netfilter
import Wire

/// Turns the rule that dropped or rejected a packet into the reason a network engineer wants,
/// using what kube-proxy's comments say and what the cluster knows.
enum Explanation {
    static func why(path: TracePath, node: Node, packet: Packet, cluster: Cluster) -> String {
        let reason = path.reason ?? path.decidedBy.description
        let chain = path.steps.last?.chain ?? ""
        if let name = reason.dropSuffix(" has no endpoints") {
            return "\(serviceName(name)) has no endpoints"
        }
        if let name = reason.dropSuffix(" has no local endpoints") {
            let policy = chain == "KUBE-SERVICES" ? "internalTrafficPolicy" : "externalTrafficPolicy"
            return "\(policy) Local and node \(node.name) has no local endpoint for \(serviceName(name))"
        }
        if reason.contains("traffic not accepted by KUBE-FW-") {
            // KUBE-PROXY-FIREWALL drops whatever reached the VIP without being DNATed: a source
            // outside the ranges, or an allowed one on a node that had no endpoint to send it to.
            let name = String(reason.prefix { $0 != " " })
            let svc = lookup(name, cluster)
            let ranges = svc?.loadBalancerSourceRanges ?? []
            let allowed = ranges.contains { $0.contains(packet.source) }
            if allowed, let svc, svc.externalTrafficPolicy == .local {
                return "externalTrafficPolicy Local and node \(node.name) has no local endpoint for \(serviceName(name)) (source \(packet.source) is within loadBalancerSourceRanges, but nothing DNATed it, so KUBE-PROXY-FIREWALL drops it)"
            }
            return "source \(packet.source) not in loadBalancerSourceRanges of \(serviceName(name)) (\(ranges.map(\.description).joined(separator: ", ")))"
        }
        if reason.hasPrefix("policy DROP") { return reason }
        return reason
    }

    /// `ns/svc:port` → `ns/svc` port `port`, as people say it.
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
