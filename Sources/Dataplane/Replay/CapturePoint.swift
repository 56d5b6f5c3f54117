import Cluster
import Wire

/// Where a capture was taken, which decides where its packets enter the emulated network
/// (`kdp replay --at`).
public enum CapturePoint: Sendable, Equatable, CustomStringConvertible {
    /// Each packet by its source address: a pod's IP at that pod's eth0, a node's IP on that
    /// node as locally generated, anything else from outside.
    case auto
    /// Inside a pod (`tcpdump -i eth0` in it): its own packets start there.
    case pod(namespace: String, name: String)
    /// On a node, on one interface (`tcpdump -i eth0`) or on all (`-i any`, nil).
    case node(String, interface: String?)
    /// Outside the cluster: every packet that starts a flow comes from outside.
    case external

    /// Parses `auto`, `external`, `pod/NS/NAME` and `node/NAME[/IFACE]` against the cluster:
    /// a pod, node or interface that does not exist is an error naming what does.
    public static func parse(_ text: String, in cluster: Cluster) throws(InputError) -> CapturePoint {
        switch text {
        case "auto": return .auto
        case "external": return .external
        default: break
        }
        if let rest = text.dropPrefix("pod/") {
            let pod = try TraceTargetParser.pod(rest, cluster)
            if let why = pod.pendingReason { throw InputError("--at \(text): \(why): it has no interface to capture on") }
            return .pod(namespace: pod.namespace, name: pod.name)
        }
        if let rest = text.dropPrefix("node/") {
            let parts = rest.split(separator: "/", maxSplits: 1).map(String.init)
            let node = try cluster.requireNode(named: parts.first ?? "")
            guard parts.count == 2 else { return .node(node.name, interface: nil) }
            let devices = NodeNetwork(node: node, in: cluster).interfaces.map(\.name)
            let device = parts[1]
            guard device == "any" || devices.contains(device) else {
                throw InputError("--at \(text): node \(node.name) has no interface \(device); it has \(devices.joined(separator: ", ")) (or any)")
            }
            return .node(node.name, interface: device == "any" ? nil : device)
        }
        throw InputError("--at \"\(text)\": expected auto, external, pod/NS/NAME or node/NAME[/IFACE]")
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .pod(let ns, let name): "pod/\(ns)/\(name)"
        case .node(let n, let i): "node/\(n)" + (i.map { "/\($0)" } ?? "")
        case .external: "external"
        }
    }
}
