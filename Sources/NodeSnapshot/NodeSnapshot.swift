import Netlink
import Wire

/// What `kdp snapshot` records of one node (or one network namespace), and what
/// `kdp trace-rules --snapshot` reads back: links, addresses, routes of every table and
/// neighbours through libnl; the iptables, ip6tables and ipset dumps as their tools print them;
/// IPVS where the kernel has it; and `meta.json`, which says where and when, and what could not
/// be recorded. The directory format is in README ("Snapshot directories").
public struct NodeSnapshot: Sendable {
    public var links: [KernelLink]
    public var addresses: [KernelAddress]
    public var routes: [KernelRoute]
    public var neighbours: [KernelNeighbour]
    /// `iptables-save` output; nil when it could not be recorded (`meta.missing` says why).
    public var iptablesRules: String?
    public var ip6tablesRules: String?
    /// `ipset save` output.
    public var ipsets: String?
    /// `ipvsadm -S -n` output, when the kernel has IPVS.
    public var ipvs: String?
    public var meta: SnapshotMeta

    public init(links: [KernelLink], addresses: [KernelAddress], routes: [KernelRoute], neighbours: [KernelNeighbour] = [],
                iptablesRules: String? = nil, ip6tablesRules: String? = nil, ipsets: String? = nil, ipvs: String? = nil, meta: SnapshotMeta) {
        self.links = links
        self.addresses = addresses
        self.routes = routes
        self.neighbours = neighbours
        self.iptablesRules = iptablesRules
        self.ip6tablesRules = ip6tablesRules
        self.ipsets = ipsets
        self.ipvs = ipvs
        self.meta = meta
    }

    /// The name of a link by index, as the snapshot holds it.
    public func linkName(_ index: Int) -> String? { links.first { $0.index == index }?.name }
}

/// `meta.json`: where and when the snapshot was taken, and what is not in it.
public struct SnapshotMeta: Sendable, Equatable, Codable {
    /// The snapshot format's version (1).
    public var format: Int
    public var hostname: String
    /// `uname -r`.
    public var kernel: String
    /// ISO 8601, UTC.
    public var time: String
    /// The namespace recorded (`--netns`), nil for the caller's own (the node).
    public var netns: String?
    /// Each file not written or written empty, with why: `["ipvs: …"]`.
    public var missing: [String]
    /// Sysctls the trace consults, by name (`net.ipv4.ip_forward`), 0 or 1, as read in the
    /// namespace.
    public var sysctls: [String: Int]

    public init(format: Int = 1, hostname: String, kernel: String, time: String, netns: String?, missing: [String] = [], sysctls: [String: Int] = [:]) {
        self.format = format
        self.hostname = hostname
        self.kernel = kernel
        self.time = time
        self.netns = netns
        self.missing = missing
        self.sysctls = sysctls
    }

    /// The sysctls recorded, under `/proc/sys/` with dots for slashes.
    public static let recordedSysctls = [
        "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net.ipv4.conf.all.route_localnet",
        "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
    ]
}

/// The snapshot directory's files.
public enum SnapshotFile: String, CaseIterable, Sendable {
    case links = "links.json"
    case addresses = "addresses.json"
    case routes = "routes.json"
    case neighbours = "neighbours.json"
    case iptables = "iptables.rules"
    case ip6tables = "ip6tables.rules"
    case ipsets = "ipsets"
    case ipvs = "ipvs"
    case meta = "meta.json"
}

/// A snapshot directory kdp cannot use, or cannot write: the file, the line where that
/// applies (0: the whole file), and what is wrong.
public struct SnapshotError: Error, Sendable, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    /// The column (from 1) where one is known: malformed JSON.
    public var column: Int
    public var message: String
    public init(file: String, line: Int = 0, column: Int = 0, _ message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }
    public var description: String {
        line > 0 ? "\(file):\(line)\(column > 0 ? ":\(column)" : ""): \(message)" : "\(file): \(message)"
    }
}
