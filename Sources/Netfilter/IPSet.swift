import Wire

/// The ipset types kube-proxy's IPVS mode uses (kube-proxy-rules.md §2) plus hash:net,port, and
/// list:set (a set of sets, as Azure NPM's NetworkPolicy rules use).
public enum IPSetType: String, Hashable, Sendable {
    case hashIP = "hash:ip"
    case hashIPPort = "hash:ip,port"
    case hashIPPortIP = "hash:ip,port,ip"
    case hashIPPortNet = "hash:ip,port,net"
    case hashNet = "hash:net"
    case hashNetPort = "hash:net,port"
    case bitmapPort = "bitmap:port"
    case listSet = "list:set"

    /// What each dimension holds.
    enum Dimension { case ip, port, net }
    var dimensions: [Dimension] {
        switch self {
        case .hashIP: [.ip]
        case .hashIPPort: [.ip, .port]
        case .hashIPPortIP: [.ip, .port, .ip]
        case .hashIPPortNet: [.ip, .port, .net]
        case .hashNet: [.net]
        case .hashNetPort: [.net, .port]
        case .bitmapPort: [.port]
        case .listSet: []  // its members are sets (`memberSets`)
        }
    }
}

/// One element: up to three dimensions. Addresses are prefixes (a host is /32 or /128).
public struct IPSetMember: Hashable, Sendable {
    public var first: Prefix?
    public var proto: IPProtocol?
    public var port: UInt16?
    public var last: Prefix?
    /// `nomatch` on a net element: a packet it covers does not match the set.
    public var nomatch = false

    public init(first: Prefix? = nil, proto: IPProtocol? = nil, port: UInt16? = nil, last: Prefix? = nil, nomatch: Bool = false) {
        self.first = first
        self.proto = proto
        self.port = port
        self.last = last
        self.nomatch = nomatch
    }
}

/// One set from `ipset save`.
public struct IPSet: Hashable, Sendable {
    public var name: String
    public var type: IPSetType
    public var family: IPFamily
    public private(set) var members: [IPSetMember] = []
    /// A list:set's member sets, in order (ip_set_list_set.c keeps a list).
    public private(set) var memberSets: [String] = []
    /// Host-only elements, for a hash lookup.
    private var exact: Set<IPSetMember> = []
    /// Elements with a shorter prefix, most specific first (hash:net looks up from the
    /// longest prefix down; ip_set_hash_gen.h `mtype_test_cidrs`).
    private var wide: [IPSetMember] = []

    public init(name: String, type: IPSetType, family: IPFamily = .ipv4) {
        self.name = name
        self.type = type
        self.family = family
    }

    /// Adds a member set to a list:set.
    public mutating func addSet(_ name: String) { memberSets.append(name) }

    public mutating func add(_ m: IPSetMember) {
        members.append(m)
        let hostOnly = (m.first.map { $0.length == $0.family.bitWidth } ?? true)
            && (m.last.map { $0.length == $0.family.bitWidth } ?? true)
        if hostOnly && !m.nomatch {
            exact.insert(m)
        } else {
            // Kept most specific first, equal ones in insertion order (a stable sorted insert:
            // re-sorting on every add made large hash:net sets quadratic to load).
            let specificity = { (e: IPSetMember) in (e.first?.length ?? 0) + (e.last?.length ?? 0) }
            let key = specificity(m)
            wide.insert(m, at: wide.firstIndex { specificity($0) < key } ?? wide.endIndex)
        }
    }

    /// Whether a packet matches with the given directions (`src,dst`...), as the `set` match
    /// asks ip_set_test. nil means "matched a nomatch element" (distinct for --return-nomatch).
    ///
    /// - Complexity: O(1) for single addresses (a hash lookup of the exact members), then O(*w*)
    ///   over the wider members (nets, ranges, nomatch), most specific first.
    func test(_ packet: Packet, directions: [SetDirection]) -> Bool? {
        let dims = type.dimensions
        guard directions.count >= dims.count else { return false }  // kernel: dim mismatch is no match
        var first: IPAddress?, last: IPAddress?, port: UInt16?
        for (i, d) in dims.enumerated() {
            let useSource = directions[i] == .src
            switch d {
            case .ip, .net:
                let a = useSource ? packet.source : packet.destination
                if i == 0 { first = a } else { last = a }
            case .port:
                guard packet.proto.hasPorts || packet.proto == .icmp else { return false }
                if type == .bitmapPort && !packet.proto.hasPorts { return false }
                port = packet.proto == .icmp ? UInt16(packet.icmpType) << 8 | UInt16(packet.icmpCode)
                                             : (useSource ? packet.sourcePort : packet.destinationPort)
            }
        }
        if let f = first, f.family != family { return false }
        let hasPort = dims.contains(.port)
        let key = IPSetMember(
            first: first.map { Prefix(containing: $0, length: $0.family.bitWidth) },
            proto: hasPort && type != .bitmapPort ? packet.proto : nil, port: port,
            last: last.map { Prefix(containing: $0, length: $0.family.bitWidth) })
        if exact.contains(key) { return true }
        for m in wide {
            if let p = m.first, let f = first, !p.contains(f) { continue }
            if let p = m.last, let l = last, !p.contains(l) { continue }
            if hasPort && (m.port != port || (type != .bitmapPort && m.proto != packet.proto)) { continue }
            return m.nomatch ? nil : true
        }
        return false
    }
}

/// Why an `ipset save` line was not understood.
public struct IPSetParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var word: String
    public var reason: String
    public var description: String { "line \(line): \(reason): '\(word)'" }
}

/// All sets of a host, by name.
public struct IPSetStore: Hashable, Sendable {
    public var sets: [String: IPSet] = [:]

    public init() {}

    /// Parses `ipset save` output: `create NAME TYPE [options]` and `add NAME ELEMENT [options]`.
    public static func parse(ipsetSave text: String) throws(IPSetParseError) -> IPSetStore {
        var store = IPSetStore()
        var lineNo = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let w = line.split(separator: " ")
            guard let cmd = w.first, !cmd.hasPrefix("#") else { continue }
            switch cmd {
            case "create", "-N", "-exist":
                guard w.count >= 3 else { throw IPSetParseError(line: lineNo, word: String(line), reason: "create needs a name and a type") }
                guard let t = IPSetType(rawValue: String(w[2])) else {
                    throw IPSetParseError(line: lineNo, word: String(w[2]), reason: "set type not emulated")
                }
                var fam = IPFamily.ipv4
                if let i = w.firstIndex(of: "family"), i + 1 < w.count, w[i + 1] == "inet6" { fam = .ipv6 }
                store.sets[String(w[1])] = IPSet(name: String(w[1]), type: t, family: fam)
            case "add", "-A":
                guard w.count >= 3, let type = store.sets[String(w[1])]?.type else {
                    throw IPSetParseError(line: lineNo, word: w.count > 1 ? String(w[1]) : String(line), reason: "add to a set not created before")
                }
                if type == .listSet {
                    try store.addToList(String(w[1]), member: String(w[2]), line: lineNo)
                    continue
                }
                var m = try member(String(w[2]), type: type, line: lineNo)
                // ipset refuses an element of the other family (`ipset restore` stops there).
                if let f = store.sets[String(w[1])]?.family, m.first.map({ $0.family != f }) ?? false || m.last.map({ $0.family != f }) ?? false {
                    throw IPSetParseError(line: lineNo, word: String(w[2]), reason: "element is not of the set's family (\(f == .ipv4 ? "inet" : "inet6"))")
                }
                m.nomatch = w.dropFirst(3).contains("nomatch")
                // In place: copying the set out and back made every add copy its hash table.
                store.sets[String(w[1])]!.add(m)
            default:
                throw IPSetParseError(line: lineNo, word: String(cmd), reason: "expected create or add")
            }
        }
        return store
    }

    static func member(_ text: String, type: IPSetType, line: Int) throws(IPSetParseError) -> IPSetMember {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let dims = type.dimensions
        guard parts.count == dims.count else { throw IPSetParseError(line: line, word: text, reason: "element does not fit \(type.rawValue)") }
        var m = IPSetMember()
        for (i, d) in dims.enumerated() {
            let s = String(parts[i])
            switch d {
            case .ip, .net:
                guard let p = try? Prefix(parsing: s, allowHostBits: true, allowBareAddress: true) else {
                    throw IPSetParseError(line: line, word: s, reason: "not an address or network")
                }
                if i == 0 { m.first = p } else { m.last = p }
            case .port:
                // `tcp:80`, `udp:53`, or a bare port (tcp) (ip_set_getport.c, ipset's parse_port).
                let pp = s.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                guard let portText = pp.last, !portText.isEmpty else { throw IPSetParseError(line: line, word: text, reason: "element has no port") }
                guard let port = UInt16(portText) else { throw IPSetParseError(line: line, word: s, reason: "bad port") }
                m.port = port
                if type != .bitmapPort {
                    m.proto = pp.count == 2 ? (try? IPProtocol(parsing: pp[0])) : .tcp
                    if m.proto == nil { throw IPSetParseError(line: line, word: s, reason: "bad protocol") }
                }
            }
        }
        return m
    }
}

extension IPSetStore {
    /// `add LIST SET`: the member set must exist and not be a list:set itself (ipset refuses
    /// both).
    mutating func addToList(_ list: String, member: String, line: Int) throws(IPSetParseError) {
        guard let m = sets[member] else { throw IPSetParseError(line: line, word: member, reason: "list:set member is not a set created before") }
        guard m.type != .listSet else { throw IPSetParseError(line: line, word: member, reason: "a list:set cannot hold a list:set") }
        sets[list]!.addSet(member)
    }

    /// ip_set_test as `-m set` asks it: a list:set asks its member sets in order and matches
    /// when one matches (list_set_ktest; a member's nomatch is no match there).
    func test(_ set: IPSet, _ packet: Packet, directions: [SetDirection]) -> Bool? {
        guard set.type == .listSet else { return set.test(packet, directions: directions) }
        for name in set.memberSets {
            if let s = sets[name], s.test(packet, directions: directions) == true { return true }
        }
        return false
    }
}
