import Crypto
import Netfilter
import Wire

/// One ipset kube-proxy's IPVS mode keeps (pkg/proxy/ipvs/ipset.go `IPSet`, `NewIPSet`), with
/// the entries one sync makes active (`activeEntries`).
public struct KubeIPSet: Sendable, Equatable {
    /// The set's name in this family: IPv6 sets swap `KUBE-` for `KUBE-6-`, cut to 31 characters.
    public let name: String
    /// How upstream's code refers to the set (`kubeClusterIPSet`...): its IPv4 name.
    public let base: KubeIPSetName
    public let type: IPSetType
    public let family: IPFamily
    /// The set's comment; upstream uses it only in the iptables rules that match the set
    /// (`getComment`), never on `ipset create` any more.
    public let comment: String
    /// Entries as `Entry.String()` spells them (`10.96.0.1,tcp:443`, `30080`), each once.
    public private(set) var entries: [String] = []
    /// The same entries as the kernel holds them, in the same order.
    private(set) var members: [IPSetMember] = []
    /// Active entries the kernel refuses to add (`ipset add` fails and kube-proxy only logs it):
    /// they count for `isEmpty`, as upstream's `activeEntries` do, but are not in the set.
    public private(set) var refused: [String] = []
    private var seen: Set<String> = []

    init(base: KubeIPSetName, family: IPFamily) {
        self.base = base
        self.type = base.type
        self.family = family
        self.comment = base.comment
        name = Self.familyName(base.rawValue, family)
    }

    /// `NewIPSet`: in dual-stack both families' sets coexist, so IPv6 names get `KUBE-6-`; the
    /// kernel allows 31 characters (IPSET_MAXNAMELEN - 1).
    static func familyName(_ name: String, _ family: IPFamily) -> String {
        guard family == .ipv6, name.hasPrefix("KUBE-") else { return name }
        return String(("KUBE-6-" + name.dropFirst(5)).prefix(31))
    }

    /// `activeEntries.Insert`: a string set, so a repeated entry counts once.
    mutating func insert(_ entry: IPSetEntry) {
        guard seen.insert(entry.text).inserted else { return }
        entries.append(entry.text)
        members.append(entry.member)
        if Self.kernelRefuses(entry.member, type: type) { refused.append(entry.text) }
    }

    /// A hash:ip,port,net set cannot store a zero-length network (ip_set_hash_ipportnet.c
    /// rejects cidr 0 with IPSET_ERR_INVALID_CIDR), so a loadBalancerSourceRange of 0.0.0.0/0
    /// never reaches KUBE-LOAD-BALANCER-SOURCE-CIDR.
    static func kernelRefuses(_ member: IPSetMember, type: IPSetType) -> Bool {
        type == .hashIPPortNet && member.last?.length == 0
    }

    public var isEmpty: Bool { entries.isEmpty }
}

/// The seventeen sets of `ipsetInfo` (pkg/proxy/ipvs/proxier.go), in that order (`KubeIPSetName`).
public struct IPSetList: Sendable, Equatable {
    public internal(set) var sets: [KubeIPSet]

    init(family: IPFamily) {
        sets = KubeIPSetName.allCases.map { KubeIPSet(base: $0, family: family) }
    }

    /// The set upstream calls `base`, whatever this family names it.
    public subscript(base: KubeIPSetName) -> KubeIPSet { sets[base.index] }

    /// `ipsetList[base].activeEntries.Insert(entry)`, in place (no copy of the set).
    mutating func insert(into base: KubeIPSetName, _ entry: IPSetEntry) {
        sets[base.index].insert(entry)
    }

    /// The set by the name it has in this family (`KUBE-6-CLUSTER-IP`), or nil.
    public func named(_ name: String) -> KubeIPSet? { sets.first { $0.name == name } }
}

// MARK: entries (pkg/proxy/ipvs/ipset/ipset.go `Entry`)

/// One entry of a kube-proxy ipset, built from typed parts: as `Entry.String()` spells it (what
/// kube-proxy keys its active entries on, and `ipset save` prints) and as the kernel's set holds
/// it (what `-m set` tests against).
struct IPSetEntry: Sendable {
    let text: String
    let member: IPSetMember

    private static func host(_ ip: IPAddress) -> Prefix { Prefix(containing: ip, length: ip.family.bitWidth) }

    /// hash:ip — `192.168.1.1`.
    static func ip(_ ip: IPAddress) -> IPSetEntry {
        IPSetEntry(text: ip.description, member: IPSetMember(first: host(ip)))
    }
    /// hash:ip,port — `192.168.1.1,udp:53`.
    static func ipPort(_ ip: IPAddress, _ proto: IPProtocol, _ port: UInt16) -> IPSetEntry {
        IPSetEntry(text: "\(ip),\(proto.name):\(port)", member: IPSetMember(first: host(ip), proto: proto, port: port))
    }
    /// hash:ip,port,ip — `192.168.1.1,udp:53,10.0.0.1`.
    static func ipPortIP(_ ip: IPAddress, _ proto: IPProtocol, _ port: UInt16, _ ip2: IPAddress) -> IPSetEntry {
        IPSetEntry(text: "\(ip),\(proto.name):\(port),\(ip2)", member: IPSetMember(first: host(ip), proto: proto, port: port, last: host(ip2)))
    }
    /// hash:ip,port,net — `192.168.1.2,udp:80,10.0.1.0/24`.
    static func ipPortNet(_ ip: IPAddress, _ proto: IPProtocol, _ port: UInt16, _ net: Prefix) -> IPSetEntry {
        IPSetEntry(text: "\(ip),\(proto.name):\(port),\(net)", member: IPSetMember(first: host(ip), proto: proto, port: port, last: net))
    }
    /// bitmap:port — `30080`.
    static func port(_ port: UInt16) -> IPSetEntry {
        IPSetEntry(text: String(port), member: IPSetMember(port: port))
    }
}

// MARK: `ipset save`

extension KubeIPSet {
    /// `hashsize`/`maxelem` are upstream's defaults (`setIPSetDefaults`: 1024, 65536); bitmap sets
    /// get `range 0-65535` (`DefaultPortRange`).
    static let hashSize = 1024, maxElem = 65536, bucketSize = 12

    /// The hash seed. The kernel draws it at random when a set is created (`get_random_u32` in
    /// ip_set_hash_gen.h `IPSET_TOKEN(HTYPE, _create)`), and `ipset save` prints it; kdp derives
    /// a fixed one from the set's name so its text is reproducible. `ipset restore` keeps a given
    /// `initval`, so restoring this text gives a kernel that prints it back unchanged.
    var initval: UInt32 {
        let d = Array(SHA256.hash(data: Array(name.utf8)))
        return UInt32(d[0]) << 24 | UInt32(d[1]) << 16 | UInt32(d[2]) << 8 | UInt32(d[3])
    }

    /// The `create` line as `ipset save` prints it (ipset 7.x with a kernel that has bucketsize).
    public var saveCreateLine: String {
        switch type {
        case .bitmapPort:
            return "create \(name) bitmap:port range 0-65535"
        default:
            return "create \(name) \(type.rawValue) family \(family == .ipv4 ? "inet" : "inet6") hashsize \(Self.hashSize) "
                + "maxelem \(Self.maxElem) bucketsize \(Self.bucketSize) initval 0x" + Self.hex8(initval)
        }
    }

    static func hex8(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 8 - s.count)) + s
    }

    /// Entries as the kernel stores and prints them: networks masked, a host-length network as a
    /// bare address (`10.1.2.3`, not `10.1.2.3/32`), in the kernel's listing order (bitmap: by
    /// port; hash: by bucket, see `IPSetHashOrder`).
    public var savedEntries: [String] { listed.map(\.text) }

    /// `savedEntries` as the kernel holds them: the members in the order it lists them.
    var savedMembers: [IPSetMember] { listed.map(\.member) }

    /// The entries the kernel holds, as `ipset save` prints them and as members, in its order.
    var listed: [(text: String, member: IPSetMember)] {
        switch type {
        case .bitmapPort:
            return members.compactMap(\.port).sorted().map { (String($0), IPSetMember(port: $0)) }
        default:
            let kept = zip(entries, members).filter { !refused.contains($0.0) }.map { (text: Self.kernelSpelling($0.0, $0.1), member: $0.1) }
            return IPSetHashOrder.order(kept, type: type, family: family, initval: initval)
        }
    }

    /// `ipset save` spells a full-length network without its prefix length (`Entry.String()`
    /// keeps it).
    static func kernelSpelling(_ entry: String, _ member: IPSetMember) -> String {
        guard let net = member.last, net.length == net.family.bitWidth, let slash = entry.lastIndex(of: "/") else { return entry }
        return String(entry[..<slash])
    }
}

extension IPSetList {
    /// What `ipset save` prints for these sets once kube-proxy has synced: every set, in the order
    /// they were created (kdp creates them in `ipsetInfo` order; upstream iterates a Go map, so a
    /// real node's order varies), each `create` line followed by its `add` lines.
    public func saveText() -> String {
        var out = ""
        for set in sets {
            out += set.saveCreateLine + "\n"
            for e in set.savedEntries { out += "add \(set.name) \(e)\n" }
        }
        return out
    }

    /// The sets as the Netfilter engine holds them, for `-m set` matches: the typed members, in
    /// the kernel's listing order, exactly what parsing `saveText()` gives (a test holds the two
    /// equal) without printing and re-reading it.
    /// - Complexity: O(n log n) in the entries (the listing order sorts them).
    public func store() -> IPSetStore {
        var store = IPSetStore()
        for set in sets {
            // bitmap:port has no family (NFPROTO_UNSPEC): its create line names none, and the
            // parser takes that as inet.
            var s = IPSet(name: set.name, type: set.type, family: set.type == .bitmapPort ? .ipv4 : set.family)
            for m in set.savedMembers { s.add(m) }
            store.sets[set.name] = s
        }
        return store
    }
}
