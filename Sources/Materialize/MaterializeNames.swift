/// The names `kdp materialize` gives what it builds. Namespace names carry the prefix (the
/// only names the host sees, in `/run/netns`), so two clusters with different prefixes
/// coexist and `--delete` finds exactly one cluster's:
///
/// - `PREFIXfabric`: the fabric, bridge `br0` joining every node's `eth0`;
/// - `PREFIXexternal`: clients outside the cluster, when asked for (`ExternalNetwork`);
/// - `PREFIXnode.NODE`: a node;
/// - `PREFIXpod.NAMESPACE.POD`: a pod that is not hostNetwork (a Kubernetes namespace has no dot,
///   so the split is unambiguous).
///
/// A prefix is 1–32 of `a-z 0-9 -`, ends with `-` and holds no dot: then no name of one prefix
/// matches another prefix's patterns (a longer prefix `P+X` would need `X` to start `node.`,
/// `pod.` or be part of `fabric` or `external`, none of which ends with `-`).
///
/// Interface names stay the ones kdp models (`eth0`, `cni0`, `flannel.1`), each inside a
/// namespace made for this prefix, so they never meet the host's or another cluster's. The
/// names kdp picks are short for the 15-character limit (IFNAMSIZ): a pod's node-side veth is
/// `veth` and 8 hex digits of an FNV-1a hash of `NS/NAME` (the bridge plugin's `veth%08x`
/// shape), a node's port on the fabric bridge `n` and its index and as much of its name as fits.
public struct MaterializeNames: Sendable, Equatable {
    public let prefix: String
    public static let defaultPrefix = "kdp-"
    public static let fabricBridge = "br0"
    /// The longest interface name Linux takes (IFNAMSIZ less the NUL).
    public static let interfaceNameLimit = 15

    /// Why `prefix` is not a valid prefix, or nil.
    public static func problem(prefix: String) -> String? {
        guard (1...32).contains(prefix.count) else { return "the prefix must be 1 to 32 characters, not \(prefix.count)" }
        guard prefix.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }) else {
            return "the prefix may hold only a-z, 0-9 and -: '\(prefix.prefix(40))'"
        }
        guard prefix.hasSuffix("-") else { return "the prefix must end with '-' (so no other prefix's names look like its own): '\(prefix)'" }
        return nil
    }

    public init(prefix: String) { self.prefix = prefix }

    public var fabric: String { prefix + "fabric" }
    /// The client network outside the cluster (`ExternalNetwork`), joined to the fabric.
    public var external: String { prefix + "external" }
    public func node(_ name: String) -> String { prefix + "node." + name }
    public func pod(namespace: String, name: String) -> String { prefix + "pod." + namespace + "." + name }

    /// Whether `namespace` is one of this prefix's names (what `--delete` removes).
    public func owns(_ namespace: String) -> Bool {
        guard namespace.hasPrefix(prefix) else { return false }
        let rest = namespace.dropFirst(prefix.count)
        if rest == "fabric" || rest == "external" { return true }
        if rest.hasPrefix("node."), rest.count > 5 { return true }
        if rest.hasPrefix("pod.") {
            let parts = rest.dropFirst(4).split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
        }
        return false
    }

    /// The node-side veth of a pod: `veth` + 8 hex digits of FNV-1a over `NS/NAME`.
    public static func podVeth(namespace: String, name: String) -> String {
        var h: UInt32 = 2_166_136_261
        for b in "\(namespace)/\(name)".utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        let hex = String(h, radix: 16)
        return "veth" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// A node's port on the fabric bridge: `n<index>-<name>` cut to 15 characters.
    public static func fabricPort(index: Int, node: String) -> String {
        String("n\(index)-\(node)".prefix(interfaceNameLimit))
    }
}
