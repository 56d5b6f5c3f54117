import Wire

/// The header values a path's decisions compared the packet with: every prefix a `-s`/`-d`
/// (and conntrack's tuple matches) tested, every port range, the members of every ipset
/// consulted, the keys of every dispatch index and IPVS table looked up, and each host's
/// addresses and routes (routing, `addrtype`, martian checks).
///
/// It is the path condition, written as constants: a packet that falls on the same side of
/// every constant as the traced one makes every test come out the same, so it takes the same
/// path (each test it meets is one the traced packet met, by induction on the walk). `kdp
/// verify` splits the header space by these constants into the classes it traces once each.
///
/// Tests made on a rewritten field (after DNAT or masquerade) are recorded against the field as
/// it was: a rewrite either sets the field to a constant, which every packet of the class then
/// shares, or leaves it, so the recorded constant is the right one (or merely one more split).
///
/// Recording is off unless `TraceOptions.recordConstants` asks for it; shared constants
/// (dispatch keys, ipsets, IPVS services) are recorded by reference, so a trace pays O(1) for
/// each such lookup and expansion happens once, in the verifier.
public struct HeaderConstants: Sendable {
    public var sourcePrefixes: [Prefix] = []
    public var destinationPrefixes: [Prefix] = []
    public var sourcePorts: [PortRange] = []
    public var destinationPorts: [PortRange] = []
    /// Shared constant lists, recorded by reference (see `SharedHeaderConstants`).
    public var shared: [SharedHeaderConstants] = []
    /// Shared lists recorded by a reply, whose source constants are the request's destination
    /// ones and the other way round (kept by reference, swapped by the reader).
    public var swappedShared: [SharedHeaderConstants] = []
    /// ipsets consulted, with the packet fields their dimensions read.
    public var sets: [SetLookup] = []
    /// The hosts whose routing and `addrtype` the path consulted, by name: their addresses and
    /// routes are constants (`SharedHeaderConstants(host:)`), expanded once per host by the
    /// reader rather than copied into every path.
    public var hosts: [String] = []
    /// Hosts a reply walked (their constants apply to the request's fields swapped).
    public var swappedHosts: [String] = []

    public init() {}

    public mutating func formUnion(_ other: HeaderConstants) {
        Self.append(&sourcePrefixes, other.sourcePrefixes)
        Self.append(&destinationPrefixes, other.destinationPrefixes)
        Self.append(&sourcePorts, other.sourcePorts)
        Self.append(&destinationPorts, other.destinationPorts)
        Self.append(&shared, other.shared)
        Self.append(&swappedShared, other.swappedShared)
        Self.append(&sets, other.sets)
        Self.append(&hosts, other.hosts)
        Self.append(&swappedHosts, other.swappedHosts)
    }

    /// `a += b`, but an empty `a` takes `b`'s buffer instead of copying its elements into a new
    /// one (a walk's constants start empty and take each node's in turn).
    @inline(__always)
    private static func append<T>(_ a: inout [T], _ b: [T]) {
        if a.isEmpty { a = b } else if !b.isEmpty { a += b }
    }

    /// The constants of a reply, as fields of the request it answers: the reply's source is
    /// the request's destination, and the other way round.
    public var swapped: HeaderConstants {
        var c = HeaderConstants()
        c.sourcePrefixes = destinationPrefixes
        c.destinationPrefixes = sourcePrefixes
        c.sourcePorts = destinationPorts
        c.destinationPorts = sourcePorts
        c.shared = swappedShared
        c.swappedShared = shared
        c.hosts = swappedHosts
        c.swappedHosts = hosts
        c.sets = sets.map { SetLookup(host: $0.host, set: $0.set, directions: $0.directions.map { $0 == .src ? .dst : .src }, firstAddress: $0.firstAddress) }
        return c
    }

    /// Records what `m` compares the packet with. Tests that no constant can express (a
    /// non-prefix netmask) pin the field to the packet's own value: the class shrinks to it.
    mutating func note(_ m: Match, packet: Packet) {
        switch m {
        case .source(let ps, _), .ctOrigSource(let ps, _), .ctReplyDestination(let ps, _):
            sourcePrefixes += ps
        case .destination(let ps, _), .ctOrigDestination(let ps, _), .ctReplySource(let ps, _):
            destinationPrefixes += ps
        case .sourceMasked:
            sourcePrefixes.append(Prefix(containing: packet.source, length: packet.source.family.bitWidth))
        case .destinationMasked:
            destinationPrefixes.append(Prefix(containing: packet.destination, length: packet.destination.family.bitWidth))
        case .sourcePort(_, let r, _), .ctOrigSourcePort(let r, _), .ctReplyDestinationPort(let r, _):
            sourcePorts.append(r)
        case .destinationPort(_, let r, _), .ctOrigDestinationPort(let r, _), .ctReplySourcePort(let r, _):
            destinationPorts.append(r)
        case .multiport(let ranges, let side, _):
            if side != .destination { sourcePorts += ranges }
            if side != .source { destinationPorts += ranges }
        case .recent(let r):
            // A list holds addresses seen earlier on this path (fresh state): pin the field.
            let a = r.useDestination ? packet.destination : packet.source
            let p = Prefix(containing: a, length: a.family.bitWidth)
            if r.useDestination { destinationPrefixes.append(p) } else { sourcePrefixes.append(p) }
        case .ipvs(let v):
            if let a = v.vaddr { destinationPrefixes.append(a) }
            if let p = v.vport { destinationPorts.append(PortRange(p)) }
        default:
            // Protocol is fixed per class; marks, ctstate, interfaces, owner, physdev and
            // statistic depend on the path, not on the header.
            break
        }
    }

    /// Records that the path walked `host`: routing and `addrtype` read its addresses, routes
    /// and the kernel's fixed ranges.
    mutating func noteHost(_ host: Host) {
        hosts.append(host.name)
        shared.append(.kernelRanges)
    }
}

/// A `--match-set` lookup a path made: the host (a set's members are fixed per host while
/// packets flow, so a verifier may expand them once per host and name), the set, and the
/// fields its dimensions read.
public struct SetLookup: Sendable {
    public var host: String
    public var set: IPSet
    public var directions: [SetDirection]
    /// The address the set's first dimension read: the other dimensions matter only for the
    /// members whose first dimension holds it.
    public var firstAddress: IPAddress?
}

/// A constant list several paths share (a dispatch index's keys, an IPVS table's virtual
/// services, the kernel's fixed ranges): built once, recorded by reference.
public final class SharedHeaderConstants: Sendable {
    public let destinationPrefixes: [Prefix]
    public let sourcePrefixes: [Prefix]
    public let destinationPorts: [PortRange]
    public let sourcePorts: [PortRange]

    /// The prefixes arranged for membership tests: host prefixes in an `AddressSet` (a
    /// multiply and a probe; `Set`'s SipHash was over half of comparing an address with them),
    /// the others in one hash set of networks per prefix length (a routing table of a thousand
    /// /24s is one lookup, not a thousand compares).
    let sourceHosts: AddressSet
    public let sourceNets: PrefixSet
    let destinationHosts: AddressSet
    public let destinationNets: PrefixSet

    public init(destinationPrefixes: [Prefix] = [], sourcePrefixes: [Prefix] = [], destinationPorts: [PortRange] = [],
                sourcePorts: [PortRange] = []) {
        self.destinationPrefixes = destinationPrefixes
        self.sourcePrefixes = sourcePrefixes
        self.destinationPorts = destinationPorts
        self.sourcePorts = sourcePorts
        (sourceHosts, sourceNets) = Self.split(sourcePrefixes)
        (destinationHosts, destinationNets) = Self.split(destinationPrefixes)
    }

    private static func split(_ prefixes: [Prefix]) -> (AddressSet, PrefixSet) {
        var hosts = AddressSet(), nets: [Prefix] = []
        for p in prefixes {
            if p.length == p.family.bitWidth { hosts.insert(p.network) } else { nets.append(p) }
        }
        return (hosts, PrefixSet(nets))
    }

    /// Whether `a` falls on the same side of every source constant as `r`.
    ///
    /// - Complexity: two hash lookups, and two per distinct prefix length of the others.
    public func sameSource(_ a: IPAddress, as r: IPAddress) -> Bool { Self.same(a, r, sourceHosts, sourceNets) }

    public func sameDestination(_ a: IPAddress, as r: IPAddress) -> Bool { Self.same(a, r, destinationHosts, destinationNets) }

    static func same(_ a: IPAddress, _ r: IPAddress, _ hosts: AddressSet, _ nets: PrefixSet) -> Bool {
        if a == r { return true }
        // A host constant splits off exactly that address.
        if hosts.contains(r) || hosts.contains(a) { return false }
        return nets.sameSide(a, r)
    }

    /// What routing and `addrtype` compare a packet with on `host`: each address and its
    /// subnet (as source and destination: `--src-type LOCAL`, martian checks) and each route.
    public convenience init(host: Host) {
        var prefixes: [Prefix] = []
        for i in host.interfaces {
            for a in i.addresses {
                prefixes += [Prefix(containing: a.address, length: a.address.family.bitWidth), Prefix(containing: a.address, length: a.prefixLength)]
            }
        }
        self.init(destinationPrefixes: prefixes + host.routes.map(\.destination), sourcePrefixes: prefixes)
    }

    /// What the kernel's routing tests on every packet: loopback (martians), multicast,
    /// the limited broadcast, and the unspecified address.
    public static let kernelRanges: SharedHeaderConstants = {
        let fixed = ["127.0.0.0/8", "224.0.0.0/4", "255.255.255.255/32", "0.0.0.0/32", "::1/128", "ff00::/8", "::/128"]
            .map { try! Prefix(parsing: $0) }
        return SharedHeaderConstants(destinationPrefixes: fixed, sourcePrefixes: fixed)
    }()

    /// No constants (an IPVS hook that keys on nothing).
    public static let none = SharedHeaderConstants()
}

extension IPSet {
    /// The constants a `--match-set NAME dirs` lookup compares the packet with, in two parts:
    /// the first dimension's prefixes (or ports), which every lookup compares; and, per
    /// member, the other dimensions, which matter only when the first dimension holds the
    /// packet's value.
    public func headerConstants(_ directions: [SetDirection]) -> (first: HeaderConstants, rest: [(first: Prefix?, constants: HeaderConstants)]) {
        var first = HeaderConstants()
        var rest: [(Prefix?, HeaderConstants)] = []
        let dims = type.dimensions
        for m in members {
            var more = HeaderConstants()
            for (k, dim) in dims.enumerated() where k < directions.count {
                let src = directions[k] == .src
                var c = HeaderConstants()
                switch dim {
                case .ip, .net:
                    guard let p = k == 0 ? m.first : m.last else { continue }
                    if src { c.sourcePrefixes.append(p) } else { c.destinationPrefixes.append(p) }
                case .port:
                    guard let port = m.port else { continue }
                    if src { c.sourcePorts.append(PortRange(port)) } else { c.destinationPorts.append(PortRange(port)) }
                }
                if k == 0 { first.formUnion(c) } else { more.formUnion(c) }
            }
            if dims.count > 1 { rest.append((dims[0] == .port ? nil : m.first, more)) }
        }
        return (first, rest)
    }
}

/// Prefixes grouped by family and length, each group a hash set of networks: "which of these
/// prefixes contain the address?" is one masked lookup per group.
public struct PrefixSet: Sendable {
    private var groups: [(family: IPFamily, length: Int, networks: AddressSet)] = []

    public init(_ prefixes: [Prefix]) {
        var byKey: [Int: Int] = [:]
        for p in prefixes {
            let key = (p.family == .ipv4 ? 0 : 256) + p.length
            if let g = byKey[key] { groups[g].networks.insert(p.network) } else {
                byKey[key] = groups.count
                var networks = AddressSet()
                networks.insert(p.network)
                groups.append((p.family, p.length, networks))
            }
        }
    }

    /// Whether every prefix holds both addresses or neither. Two IPv4 addresses are compared
    /// with integer masks (the common case in `kdp verify`), others through `Prefix`.
    public func sameSide(_ a: IPAddress, _ b: IPAddress) -> Bool {
        if case .v4(let x) = a, case .v4(let y) = b {
            // Each group read in place: `for g in groups` copied it, retaining its sets.
            return groups.withUnsafeBufferPointer { gs in
                for i in gs.indices where gs[i].family == .ipv4 {
                    let length = gs[i].length
                    let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << (32 - length)
                    let na = x.value & mask, nb = y.value & mask
                    let inA = gs[i].networks.contains(v4: na), inB = na == nb ? inA : gs[i].networks.contains(v4: nb)
                    if inA != inB || (inA && na != nb) { return false }
                }
                return true
            }
        }
        for g in groups {
            let na = a.family == g.family ? Prefix(containing: a, length: g.length).network : nil
            let nb = b.family == g.family ? Prefix(containing: b, length: g.length).network : nil
            let inA = na.map(g.networks.contains) ?? false, inB = nb.map(g.networks.contains) ?? false
            // Both inside prefixes of this length: the same prefix, or each is outside the other's.
            if inA != inB || (inA && na != nb) { return false }
        }
        return true
    }
}
