/// What `kdp materialize` built (or removed), for the text and JSON outputs. Strings here are
/// the output edge: kdp's typed values, printed as `ip` prints them.
public struct MaterializeReport: Encodable, Sendable {
    /// One network namespace made, with what is in it.
    public struct Namespace: Encodable, Sendable {
        /// `fabric`, `node` or `pod`.
        public var role: String
        public var name: String
        /// The node's name, or the pod's `NS/NAME`; nil for the fabric.
        public var of: String?
        /// `NAME (kind)` and its addresses, e.g. `eth0 (veth) 10.244.1.2/24`.
        public var links: [String] = []
        /// The routes kdp added (the kernel adds the connected ones with the addresses).
        public var routes: [String] = []
        /// Neighbour and FDB entries (flannel's VXLAN).
        public var neighbours: [String] = []
        /// sysctls written, `name=value`.
        public var sysctls: [String] = []
        /// Rules loaded: `iptables-restore: N rules`.
        public var rules: [String] = []
    }

    public var prefix: String
    public var cluster: String
    public var namespaces: [Namespace] = []
    /// Namespaces removed (`--delete`).
    public var deleted: [String] = []
    public var notes: [String] = []

    public init(prefix: String, cluster: String) {
        self.prefix = prefix
        self.cluster = cluster
    }

    /// The text output: one block per namespace (the notes are the caller's to print).
    public var text: String {
        var lines: [String] = []
        if !namespaces.isEmpty {
            lines.append("materialized \(cluster) with prefix \(prefix): \(namespaces.count) network namespaces")
        }
        for n in namespaces {
            lines.append("\(n.role) \(n.name)" + (n.of.map { " (\($0))" } ?? ""))
            for l in n.links { lines.append("  link \(l)") }
            for r in n.routes { lines.append("  route \(r)") }
            for e in n.neighbours { lines.append("  neigh \(e)") }
            if !n.sysctls.isEmpty { lines.append("  sysctl " + n.sysctls.joined(separator: " ")) }
            for r in n.rules { lines.append("  rules \(r)") }
        }
        if !deleted.isEmpty || namespaces.isEmpty {
            lines.append("deleted \(deleted.count) network namespaces with prefix \(prefix)" + (deleted.isEmpty ? "" : ":"))
            for d in deleted { lines.append("  \(d)") }
        }
        return lines.joined(separator: "\n")
    }
}
