import Wire

/// Where a route sends a packet: out of `device`, to `nextHop` (the gateway, or the
/// destination itself on a connected subnet). A struct rather than a tuple: every forwarded
/// packet asks for one, and an optional tuple was copied and destroyed through the runtime.
public struct RouteChoice: Sendable, Equatable {
    public var device: String
    public var nextHop: IPAddress

    public init(device: String, nextHop: IPAddress) {
        self.device = device
        self.nextHop = nextHop
    }
}

/// A network interface of the host and its addresses; the first address of a family is the
/// primary one (what MASQUERADE and REDIRECT pick when no subnet fits better).
public struct Interface: Hashable, Sendable {
    public var name: String
    /// Each address with its subnet length.
    public var addresses: [(address: IPAddress, prefixLength: Int)]

    public init(name: String, addresses: [(address: IPAddress, prefixLength: Int)]) {
        self.name = name
        self.addresses = addresses
    }

    public static func == (a: Interface, b: Interface) -> Bool {
        a.name == b.name && a.addresses.elementsEqual(b.addresses) { $0.address == $1.address && $0.prefixLength == $1.prefixLength }
    }

    public func hash(into h: inout Hasher) {
        h.combine(name)
        for a in addresses { h.combine(a.address); h.combine(a.prefixLength) }
    }
}

/// A route: packets to `destination` leave through `device`, via `gateway` when set; `source`
/// is the route's preferred source (`src` in `ip route`), which the node's own packets take.
public struct Route: Hashable, Sendable {
    public var destination: Prefix
    public var device: String
    public var gateway: IPAddress?
    public var source: IPAddress?
    public init(destination: Prefix, device: String, gateway: IPAddress? = nil, source: IPAddress? = nil) {
        self.destination = destination
        self.device = device
        self.gateway = gateway
        self.source = source
    }
}

/// Everything about one node that netfilter's decisions depend on: addresses and interfaces
/// (addrtype, local delivery, MASQUERADE's source), routes, the conntrack table, `recent`
/// lists, ipsets, statistic nth counters, the clock, and IPVS when the node runs it. A value
/// type: each traced path carries its own copy, so following one branch never disturbs another.
public struct Host: Sendable {
    /// Every field, in one copy-on-write box (`Host.Storage`): a copy of the host is one
    /// retain, not two dozen. Traces move hosts in and out of paths and nodes, leaving
    /// `Host.vacant` behind, and forks copy them; field by field that cost some 650
    /// instructions per copy and as many per destroy.
    /// A write to a shared box copies its fields first (`makeUnique`).
    private var storage: Storage

    /// Whether this host and `other` still share one box (neither has been written since one
    /// was copied from the other): what copy-on-write saves, observable.
    func sharesStorage(with other: Host) -> Bool { storage === other.storage }

    public var name: String {
        _read { yield storage.fields.pointee.name }
        set { makeUnique(); storage.fields.pointee.name = newValue }
    }
    /// Setting the interfaces re-indexes the addresses and routes.
    public var interfaces: [Interface] {
        _read { yield storage.fields.pointee.interfaces }
        set {
            makeUnique()
            storage.fields.pointee.interfaces = newValue
            storage.fields.pointee.reindex()
        }
    }
    /// Setting the routes re-indexes them.
    public var routes: [Route] {
        _read { yield storage.fields.pointee.routes }
        set {
            makeUnique()
            storage.fields.pointee.routes = newValue
            storage.fields.pointee.reindexRoutes()
        }
    }
    /// `route(to:)`'s IPv4 answers precomputed from the subnets and routes (public so that a
    /// caller holding the host in place can read the index alone, without copying the host).
    public var routeIndex: RouteIndex { unsafeAddress { UnsafePointer(storage.routeIndex) } }
    /// `interfaces` indexed: a kube-proxy node in IPVS mode has every ClusterIP on kube-ipvs0,
    /// and lookups by scanning them would dominate a trace.
    var addresses: AddressIndex { unsafeAddress { UnsafePointer(storage.addresses) } }
    /// Read through a pointer into the box, a call computes its arguments first: with
    /// `host.conntrack.lookup(packet.tuple)` Swift copies the table (every array retained and
    /// released) to keep it stable while `packet.tuple` runs. Hot callers take such arguments
    /// into locals.
    public var conntrack: ConntrackTable {
        unsafeAddress { UnsafePointer(storage.conntrack) }
        unsafeMutableAddress {
            makeUnique()
            return storage.conntrack
        }
    }
    public var recent: RecentLists {
        unsafeAddress { UnsafePointer(storage.recent) }
        unsafeMutableAddress {
            makeUnique()
            return storage.recent
        }
    }
    public var ipsets: IPSetStore {
        unsafeAddress { UnsafePointer(storage.ipsets) }
        unsafeMutableAddress {
            makeUnique()
            return storage.ipsets
        }
    }
    /// Counters of `statistic --mode nth` rules, by the match's id.
    public var nthCounters: [Int: UInt32] {
        unsafeAddress { UnsafePointer(storage.nthCounters) }
        unsafeMutableAddress {
            makeUnique()
            return storage.nthCounters
        }
    }
    // The scalar settings below copy a shared box only when the value changes: a walk sets
    // them on every node it enters, mostly to what they already are, and a host shared between
    // paths (`kdp verify`) was copied for nothing.
    /// Seconds, for `recent --seconds`.
    public var now: Double {
        get { storage.fields.pointee.now }
        set { if newValue != storage.fields.pointee.now { makeUnique(); storage.fields.pointee.now = newValue } }
    }
    /// net.ipv4.ip_forward.
    public var forwarding: Bool {
        get { storage.fields.pointee.forwarding }
        set { if newValue != storage.fields.pointee.forwarding { makeUnique(); storage.fields.pointee.forwarding = newValue } }
    }
    /// net.ipv4.conf.all.route_localnet (kube-proxy sets it for localhost NodePorts).
    public var routeLocalnet: Bool {
        get { storage.fields.pointee.routeLocalnet }
        set { if newValue != storage.fields.pointee.routeLocalnet { makeUnique(); storage.fields.pointee.routeLocalnet = newValue } }
    }
    /// net.bridge.bridge-nf-call-iptables (or -ip6tables for an IPv6 trace): off, a frame
    /// between two ports of a bridge (see `bridgedInterface(for:)`) never reaches iptables.
    public var bridgeNFCallIPTables: Bool {
        get { storage.fields.pointee.bridgeNFCallIPTables }
        set { if newValue != storage.fields.pointee.bridgeNFCallIPTables { makeUnique(); storage.fields.pointee.bridgeNFCallIPTables = newValue } }
    }
    /// The node's IPVS, hooked in where the kernel hooks it (see `IPVSHook`); nil when the
    /// node runs none.
    public var ipvs: (any IPVSHook)? {
        _read { yield storage.fields.pointee.ipvs }
        set {
            makeUnique()
            storage.fields.pointee.hasIPVS = newValue != nil
            storage.fields.pointee.ipvs = newValue
        }
        _modify {
            makeUnique()
            unowned(unsafe) let box = storage
            yield &box.fields.pointee.ipvs
            box.fields.pointee.hasIPVS = box.fields.pointee.ipvs != nil
        }
    }
    /// The node's native nft base chains, run beside iptables' tables by priority (see
    /// `NFTChainsHook`); nil when the node has none (the iptables-only hook programs).
    public var nft: (any NFTChainsHook)? {
        _read { yield storage.fields.pointee.nft }
        set {
            makeUnique()
            storage.fields.pointee.hasNFT = newValue != nil
            storage.fields.pointee.nft = newValue
        }
    }
    /// Whether `ipvs` and `nft` are set, asked at several hooks of every trace: testing the
    /// optional existential itself copied and destroyed it through the runtime each time.
    public var hasIPVS: Bool { storage.fields.pointee.hasIPVS }
    public var hasNFT: Bool { storage.fields.pointee.hasNFT }

    public init(name: String = "node", interfaces: [Interface], routes: [Route] = []) {
        var interfaces = interfaces
        if !interfaces.contains(where: { $0.name == "lo" }) {
            interfaces.insert(Interface(name: "lo", addresses: [(.v4(IPv4Address(127, 0, 0, 1)), 8), (.v6(.loopback), 128)]), at: 0)
        }
        var fields = Fields(name: name, interfaces: interfaces, routes: routes)
        fields.reindex()
        storage = Storage(fields)
    }

    /// A host with nothing: what a moved-out host's place holds until its owner puts one back
    /// (`Host.take(_:)`). Parking it is a retain of its box.
    public static let vacant = Host(vacantNamed: "")

    private init(vacantNamed name: String) {
        storage = Storage(Fields(name: name, interfaces: [], routes: []))
    }

    /// Moves the host out of `place`, leaving `Host.vacant` there: the caller owns the tables
    /// without a copy, so writing them later does not copy conntrack or a `recent` list
    /// (copy-on-write). Costs a retain of the vacant box.
    @inline(__always)
    public static func take(_ place: inout Host) -> Host {
        withUnsafeMutablePointer(to: &place) { p in
            let h = p.move()
            p.initialize(to: vacant)
            return h
        }
    }

    /// Makes the box unshared before a write: a copy of its fields when shared (the first
    /// write of a forked path or a copied host).
    @inline(__always)
    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(storage.fields.pointee) }
    }

    /// The host `kdp trace-rules` describes: every `--local-ip` on `eth0` (the first one primary),
    /// loopback, and a default route out of `eth0`.
    public static func simple(localAddresses: [IPAddress], interface: String = "eth0", name: String = "node") -> Host {
        let addrs = localAddresses.map { ($0, $0.family == .ipv4 ? 24 : 64) }
        var routes: [Route] = []
        if localAddresses.contains(where: { $0.family == .ipv4 }) {
            routes.append(Route(destination: Prefix(containing: .v4(.zero), length: 0), device: interface))
        }
        if localAddresses.contains(where: { $0.family == .ipv6 }) {
            routes.append(Route(destination: Prefix(containing: .v6(.zero), length: 0), device: interface))
        }
        return Host(name: name, interfaces: [Interface(name: interface, addresses: addrs)], routes: routes)
    }

    /// Whether `address` is one of this host's (the kernel's `local` routing table, which also
    /// holds all of 127.0.0.0/8 on lo). With `interface`, only that interface's addresses
    /// count (addrtype `--limit-iface-*`).
    public func isLocal(_ address: IPAddress, interface: String? = nil) -> Bool {
        guard let interface else {
            if addresses.local.contains(address) { return true }
            if case .v4(let a) = address, a.isLoopback { return addresses.hasLoopback }
            return false
        }
        for i in interfaces where i.name == interface {
            if i.addresses.contains(where: { $0.address == address }) { return true }
            if i.name == "lo", case .v4(let a) = address, a.isLoopback { return true }
        }
        return false
    }

    /// The address type the kernel's FIB gives (inet_addr_type / inet_dev_addr_type), for
    /// `-m addrtype`.
    public func addressType(_ address: IPAddress, interface: String? = nil) -> AddressTypeSet {
        if address.isUnspecified { return .unspec }
        if isLocal(address, interface: interface) { return .local }
        switch address {
        case .v4(let a):
            if a.isMulticast { return .multicast }
            if a == .broadcast { return .broadcast }
            for b in addresses.broadcastsV4 where b.address == a.value && (interface == nil || b.interface == interface) {
                return .broadcast
            }
        case .v6(let a):
            if a.isMulticast { return .multicast }
        }
        if interface != nil { return .unicast }
        return route(to: address) == nil ? .unreachable : .unicast
    }

    /// Whether `address` is a broadcast address here and not a local one: what
    /// `addressType(address) == .broadcast` says, without its route lookup (the input route
    /// asks it of every packet that is not for a local address).
    public func isBroadcast(_ address: IPAddress) -> Bool {
        guard case .v4(let a) = address, !a.isMulticast, !address.isUnspecified, !isLocal(address) else { return false }
        return a == .broadcast || addresses.broadcastsV4.contains { $0.address == a.value }
    }

    /// The route to `destination`: the longest matching configured route, else the subnet of
    /// an interface address (the kernel's connected routes).
    ///
    /// - Complexity: O(*a* + *r*): for IPv4 a scan of `RouteIndex`'s integer entries, longest
    ///   first; for IPv6 of the interface subnets and the routes, where the kernel walks its
    ///   FIB trie. Hosts hold a CNI-sized table, tens of routes.
    public func route(to destination: IPAddress) -> RouteChoice? {
        if case .v4(let a) = destination { return routeIndex.route(to: a) }
        var best: (Int, String, IPAddress)?
        for n in addresses.subnets where n.interface != "lo" && n.prefix.family == destination.family {
            if n.prefix.contains(destination), best == nil || best!.0 < n.prefix.length {
                best = (n.prefix.length, n.interface, destination)
            }
        }
        for r in routes where r.destination.contains(destination) {
            if best == nil || best!.0 < r.destination.length {
                best = (r.destination.length, r.device, r.gateway ?? destination)
            }
        }
        return best.map { RouteChoice(device: $0.1, nextHop: $0.2) }
    }

    /// The interface a packet arriving on `inInterface` was bridged on, when it was: its
    /// destination is not local but on that interface's own subnet, so the sender addressed
    /// the frame to the destination's MAC and a bridge forwards it between its ports (a
    /// routed interface would send it back out where it came from). Nil otherwise.
    public func bridgedInterface(for packet: Packet) -> String? {
        guard let dev = packet.inInterface, dev != "lo", !isLocal(packet.destination),
              let i = interfaces.first(where: { $0.name == dev }),
              i.addresses.contains(where: { Prefix(containing: $0.address, length: $0.prefixLength).contains(packet.destination) })
        else { return nil }
        return dev
    }

    /// The route the kernel picks for `destination`, with what source selection needs: the
    /// route's preferred source (a connected route's is its interface address, as
    /// fib_add_ifaddr sets it) and its gateway (nil on-link).
    func routeEntry(to destination: IPAddress) -> (device: String, gateway: IPAddress?, preferredSource: IPAddress?)? {
        var best: (length: Int, device: String, gateway: IPAddress?, source: IPAddress?)?
        for n in addresses.subnets where n.interface != "lo" && n.prefix.family == destination.family {
            if n.prefix.contains(destination), best == nil || best!.length < n.prefix.length {
                let own = interfaces.first { $0.name == n.interface }?.addresses.first { n.prefix.contains($0.address) }?.address
                best = (n.prefix.length, n.interface, nil, own)
            }
        }
        for r in routes where r.destination.contains(destination) {
            if best == nil || best!.length < r.destination.length {
                best = (r.destination.length, r.device, r.gateway, r.source)
            }
        }
        return best.map { ($0.device, $0.gateway, $0.source) }
    }

    /// The source address of a packet this host sends to `destination` from an unbound socket,
    /// as `ip route get` shows it. IPv4 (ip_route_output_key_hash_rcu): a local destination
    /// takes its local route's `src` (the address itself; 127.0.0.1 for 127.0.0.0/8); else
    /// the route's `src` (fib_result_prefsrc), else inet_select_addr on the route's device
    /// towards its gateway (the device's first address, or the first in the gateway's subnet).
    /// IPv6 (ipv6_dev_get_saddr, RFC 6724): the route's `src`, else the outgoing interface's
    /// address with the longest prefix in common with the destination (rules 5 and 8), else
    /// any interface's. Nil when there is no route or no address.
    ///
    /// - Complexity: O(*a* + *r*), as `route(to:)`; once per trace, not per hook.
    public func outputSource(to destination: IPAddress) -> IPAddress? {
        if isLocal(destination) {
            if case .v4(let a) = destination, a.isLoopback { return .v4(IPv4Address(127, 0, 0, 1)) }
            return destination
        }
        guard let r = routeEntry(to: destination) else { return nil }
        if let s = r.preferredSource { return s }
        switch destination {
        case .v4:
            return selectAddress(device: r.device, nextHop: r.gateway, family: .ipv4)
        case .v6(let d):
            func common(_ a: IPAddress) -> Int {
                guard case .v6(let x) = a else { return -1 }
                return (x.value ^ d.value).leadingZeroBitCount
            }
            func usable(_ a: IPAddress) -> Bool {
                guard case .v6(let x) = a else { return false }
                return !x.isLoopback && !x.isLinkLocal
            }
            if let i = interfaces.first(where: { $0.name == r.device }),
               let best = i.addresses.map(\.address).filter(usable).max(by: { common($0) < common($1) }) { return best }
            return interfaces.flatMap { $0.addresses.map(\.address) }.filter(usable).max { common($0) < common($1) }
        }
    }

    /// The source address the kernel picks on `device` towards `nextHop` (inet_select_addr with
    /// RT_SCOPE_UNIVERSE, as MASQUERADE asks): of the device's addresses that are not host-scoped
    /// loopback ones, the first whose subnet holds the next hop, else the first; with none (a
    /// packet masqueraded out of `lo`), the first such address of any device, in device order.
    public func sourceAddress(device: String, nextHop: IPAddress) -> IPAddress? {
        selectAddress(device: device, nextHop: nextHop, family: nextHop.family)
    }

    /// inet_select_addr: a nil `nextHop` (an on-link route's gateway, 0 in the kernel) takes
    /// the device's first address.
    func selectAddress(device: String, nextHop: IPAddress?, family: IPFamily) -> IPAddress? {
        func universe(_ a: IPAddress) -> Bool {
            switch a {
            case .v4(let v4): !v4.isLoopback
            case .v6(let v6): v6 != .loopback
            }
        }
        // One pass over the device's addresses, without building the list of candidates:
        // MASQUERADE asks on every new connection it applies to.
        if let i = interfaces.first(where: { $0.name == device }) {
            var first: IPAddress?
            for a in i.addresses where a.address.family == family && universe(a.address) {
                guard let nextHop else { return a.address }
                if Prefix(containing: a.address, length: a.prefixLength).contains(nextHop) { return a.address }
                if first == nil { first = a.address }
            }
            if let first { return first }
        }
        for i in interfaces {
            if let a = i.addresses.first(where: { $0.address.family == family && universe($0.address) }) { return a.address }
        }
        return nil
    }
}
