import CNetlink
import Glibc
import Wire

/// A connected rtnetlink socket (libnl's `nl_sock`), in the network namespace of the thread
/// that opened it: `NetlinkSocket()` in the caller's, `NetlinkSocket(namespace:)` in a
/// namespace entered on a short-lived thread (see `NetworkNamespaceFile.run`). Every dump and
/// change through it applies to that namespace only.
///
/// Not `Sendable`: libnl sockets keep sequence numbers and buffers, so one socket serves one
/// thread at a time. Each call is one netlink request (a dump or a change and its ack).
public final class NetlinkSocket {
    let handle: OpaquePointer
    /// The namespace file this socket was opened in, nil for the caller's own.
    public let namespacePath: String?

    /// A socket in the calling thread's network namespace.
    public convenience init() throws(NetlinkError) {
        try self.init(handle: Self.connect(), namespacePath: nil)
    }

    /// A socket in `namespace`: a thread enters it, opens and connects the socket, and ends;
    /// the socket stays in that namespace.
    public convenience init(namespace: NetworkNamespaceFile) throws(NetlinkError) {
        let box = try namespace.run { () throws(NetlinkError) -> SocketBox in SocketBox(try Self.connect()) }
        try self.init(handle: box.handle, namespacePath: namespace.path)
    }

    /// A socket in the namespace `ip netns` calls `name` (`/run/netns/NAME`).
    public convenience init(namespaceNamed name: String) throws(NetlinkError) {
        try self.init(namespace: NetworkNamespaceFile(named: name))
    }

    private init(handle: OpaquePointer, namespacePath: String?) throws(NetlinkError) {
        self.handle = handle
        self.namespacePath = namespacePath
    }

    private static func connect() throws(NetlinkError) -> OpaquePointer {
        guard let sk = nl_socket_alloc() else { throw NetlinkError(operation: "allocate a netlink socket", message: "out of memory") }
        let r = nl_connect(sk, NETLINK_ROUTE)
        if r < 0 {
            nl_socket_free(sk)
            throw NetlinkError(operation: "connect a NETLINK_ROUTE socket", libnlCode: r)
        }
        return sk
    }

    deinit {
        nl_close(handle)
        nl_socket_free(handle)
    }

    /// Walks a cache libnl filled, calling `body` on each object, then frees the cache.
    func walk(_ cache: OpaquePointer?, _ body: (OpaquePointer) -> Void) {
        var object = nl_cache_get_first(cache)
        while let o = object {
            body(o)
            object = nl_cache_get_next(o)
        }
        nl_cache_free(cache)
    }
}

/// Carries a socket handle out of the namespace thread; it is handed over once, after the
/// thread ends.
private final class SocketBox: @unchecked Sendable {
    let handle: OpaquePointer
    init(_ handle: OpaquePointer) { self.handle = handle }
}

// MARK: - Dumps

extension NetlinkSocket {
    /// Every link in the socket's namespace, by index.
    public func links() throws(NetlinkError) -> [KernelLink] {
        var cache: OpaquePointer?
        try check(rtnl_link_alloc_cache(handle, AF_UNSPEC, &cache), "dump links")
        var out: [KernelLink] = []
        walk(cache) { out.append(Self.link($0)) }
        return out.sorted { $0.index < $1.index }
    }

    static func link(_ l: OpaquePointer) -> KernelLink {
        let index = Int(rtnl_link_get_ifindex(l))
        var link = KernelLink(index: index, name: NLAddress.string(rtnl_link_get_name(l)) ?? "if\(index)")
        link.kind = NLAddress.string(rtnl_link_get_type(l))
        link.mtu = rtnl_link_get_mtu(l)
        link.flags = LinkFlags(rawValue: rtnl_link_get_flags(l))
        let master = Int(rtnl_link_get_master(l))
        link.masterIndex = master > 0 ? master : nil
        var nsid: Int32 = 0
        if rtnl_link_get_link_netnsid(l, &nsid) == 0 { link.linkNetnsID = nsid }
        // IFLA_LINK equal to the link's own index names itself, unless it is an index in
        // another namespace (a veth peer there may have the same number).
        let parent = Int(rtnl_link_get_link(l))
        link.parentIndex = parent > 0 && (parent != index || link.linkNetnsID != nil) ? parent : nil
        link.address = NLAddress.ethernet(rtnl_link_get_addr(l))
        if rtnl_link_is_vxlan(l) != 0 {
            var id: UInt32 = 0, port: UInt32 = 0
            var local: OpaquePointer?
            _ = rtnl_link_vxlan_get_id(l, &id)
            _ = rtnl_link_vxlan_get_port(l, &port)
            var vx = VXLANParameters(id: id, port: UInt16(truncatingIfNeeded: port))
            // A VXLAN's lower device is IFLA_VXLAN_LINK, not IFLA_LINK.
            var lower: UInt32 = 0
            if rtnl_link_vxlan_get_link(l, &lower) == 0, lower > 0 { link.parentIndex = Int(lower) }
            if rtnl_link_vxlan_get_local(l, &local) == 0, let local {
                vx.local = NLAddress.ip(local)
                nl_addr_put(local)
            }
            link.vxlan = vx
        }
        return link
    }

    /// Every address, IPv4 and IPv6, on every link of the socket's namespace.
    public func addresses() throws(NetlinkError) -> [KernelAddress] {
        var cache: OpaquePointer?
        try check(rtnl_addr_alloc_cache(handle, &cache), "dump addresses")
        var out: [KernelAddress] = []
        walk(cache) { a in
            guard let local = NLAddress.ip(rtnl_addr_get_local(a)) else { return }
            var addr = KernelAddress(interfaceIndex: Int(rtnl_addr_get_ifindex(a)), address: local, prefixLength: Int(rtnl_addr_get_prefixlen(a)))
            if let peer = NLAddress.ip(rtnl_addr_get_peer(a)), peer != local { addr.peer = peer }
            addr.broadcast = NLAddress.ip(rtnl_addr_get_broadcast(a))
            addr.scope = Scope(rawValue: UInt8(truncatingIfNeeded: rtnl_addr_get_scope(a)))
            addr.flags = UInt32(truncatingIfNeeded: rtnl_addr_get_flags(a))
            addr.label = NLAddress.string(rtnl_addr_get_label(a))
            out.append(addr)
        }
        return out
    }

    /// Every route of every table (main, local, default and any other) and both families.
    public func routes() throws(NetlinkError) -> [KernelRoute] {
        var cache: OpaquePointer?
        try check(rtnl_route_alloc_cache(handle, AF_UNSPEC, 0, &cache), "dump routes")
        var out: [KernelRoute] = []
        walk(cache) { out.append(Self.route($0)) }
        return out
    }

    static func route(_ r: OpaquePointer) -> KernelRoute {
        let family: IPFamily = rtnl_route_get_family(r) == UInt8(AF_INET6) ? .ipv6 : .ipv4
        let dst = rtnl_route_get_dst(r)
        let destination = NLAddress.prefix(dst)
            ?? Prefix(containing: IPAddress(family: family, bits: 0), length: dst.map { Int(nl_addr_get_prefixlen($0)) } ?? 0)
        var route = KernelRoute(table: rtnl_route_get_table(r), destination: destination)
        route.type = RouteType(rawValue: rtnl_route_get_type(r))
        route.scope = Scope(rawValue: rtnl_route_get_scope(r))
        route.proto = RouteProtocol(rawValue: rtnl_route_get_protocol(r))
        route.priority = rtnl_route_get_priority(r)
        route.preferredSource = NLAddress.ip(rtnl_route_get_pref_src(r))
        route.tos = rtnl_route_get_tos(r)
        for i in 0..<rtnl_route_get_nnexthops(r) {
            guard let nh = rtnl_route_nexthop_n(r, i) else { continue }
            let index = Int(rtnl_route_nh_get_ifindex(nh))
            route.nextHops.append(NextHop(
                interfaceIndex: index > 0 ? index : nil, gateway: NLAddress.ip(rtnl_route_nh_get_gateway(nh)),
                onlink: rtnl_route_nh_get_flags(nh) & UInt32(RTNH_F_ONLINK) != 0, weight: Int(rtnl_route_nh_get_weight(nh)) + 1))
        }
        for metric in RouteMetric.names.keys {
            var value: UInt32 = 0
            if rtnl_route_get_metric(r, Int32(metric), &value) == 0 { route.metrics[metric] = value }
        }
        return route
    }

    /// Every neighbour (ARP, NDP) and forwarding-database (bridge, VXLAN) entry.
    public func neighbours() throws(NetlinkError) -> [KernelNeighbour] {
        var cache: OpaquePointer?
        // One dump per family libnl knows for neighbours (NL_CACHE_AF_ITER): an AF_UNSPEC dump
        // holds the ARP and NDP tables only; the bridge and VXLAN FDBs answer an AF_BRIDGE one.
        try check(rtnl_neigh_alloc_cache_flags(handle, &cache, UInt32(NL_CACHE_AF_ITER)), "dump neighbours")
        var out: [KernelNeighbour] = []
        walk(cache) { n in
            var entry = KernelNeighbour(family: rtnl_neigh_get_family(n), interfaceIndex: Int(rtnl_neigh_get_ifindex(n)))
            entry.destination = NLAddress.ip(rtnl_neigh_get_dst(n))
            entry.linkAddress = NLAddress.ethernet(rtnl_neigh_get_lladdr(n))
            entry.state = UInt16(truncatingIfNeeded: rtnl_neigh_get_state(n))
            entry.flags = UInt8(truncatingIfNeeded: rtnl_neigh_get_flags(n))
            let master = Int(rtnl_neigh_get_master(n))
            entry.masterIndex = master > 0 ? master : nil
            let vlan = Int(rtnl_neigh_get_vlan(n))
            entry.vlan = vlan > 0 ? vlan : nil
            out.append(entry)
        }
        return out
    }
}
