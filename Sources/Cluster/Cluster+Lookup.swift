import Wire

/// An object named on the command line as `NS/NAME`, or `NAME` in a default namespace.
public struct NamespacedName: Hashable, Sendable, CustomStringConvertible {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    /// `NS/NAME` or `NAME`; nil for anything else (an empty part, or more than one `/`).
    public init?(parsing text: String, defaultNamespace: String = "default") {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), !parts.contains("") else { return nil }
        (namespace, name) = parts.count == 2 ? (parts[0], parts[1]) : (defaultNamespace, parts[0])
    }

    public var description: String { "\(namespace)/\(name)" }
}

/// Lookups by the names a user types, failing with an error that lists what exists instead.
extension Cluster {
    /// The node named `name`, or `no node "NAME"; nodes: a, b, c`.
    /// - Complexity: O(1); O(nodes) to list them on failure.
    public func requireNode(named name: String) throws(InputError) -> Node {
        if let n = node(named: name) { return n }
        throw InputError("no node \"\(name)\"; nodes: \(nodes.map(\.name).joined(separator: ", "))")
    }

    /// The pod, or `no pod NS/NAME; pods in NS: a, b` (`none` when the namespace has none).
    /// - Complexity: O(pods).
    public func requirePod(_ ref: NamespacedName) throws(InputError) -> Pod {
        if let p = pod(namespace: ref.namespace, name: ref.name) { return p }
        let known = pods.filter { $0.namespace == ref.namespace }.map(\.name)
        throw InputError("no pod \(ref); pods in \(ref.namespace): \(known.isEmpty ? "none" : known.joined(separator: ", "))")
    }

    /// The family a node's proxier runs in: `requested`, else the cluster's first family (IPv4
    /// for a cluster without addresses). Whether the cluster has that family is the caller's
    /// to check.
    public func proxierFamily(_ requested: IPFamily?) -> IPFamily {
        requested ?? settings.families.first ?? .ipv4
    }
}

extension IPFamily {
    /// The family as a `--family` flag spells it, `ipv4` or `ipv6`; nil for anything else.
    public init?(flag: String) {
        switch flag {
        case "ipv4": self = .ipv4
        case "ipv6": self = .ipv6
        default: return nil
        }
    }
}
