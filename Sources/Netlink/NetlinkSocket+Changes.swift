import CNetlink
import Glibc
import Wire

/// Creating, changing and deleting links, addresses, routes and neighbours in the socket's
/// namespace. Each call is one request, acknowledged by the kernel before it returns; a
/// refusal comes back as a `NetlinkError` naming the operation.
extension NetlinkSocket {
    /// Creates a veth pair `name` – `peer`. With `peerNamespace`, the peer is created straight
    /// in that namespace (`IFLA_NET_NS_FD`), never appearing in this one.
    public func addVeth(name: String, peer: String, peerNamespace: NetworkNamespaceFile? = nil, mtu: UInt32? = nil) throws(NetlinkError) {
        guard let link = rtnl_link_veth_alloc() else { throw NetlinkError(operation: "add veth \(name)", message: "out of memory") }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        guard let other = rtnl_link_veth_get_peer(link) else { throw NetlinkError(operation: "add veth \(name)", message: "no peer object") }
        defer { rtnl_link_put(other) }
        rtnl_link_set_name(other, peer)
        if let mtu {
            rtnl_link_set_mtu(link, mtu)
            rtnl_link_set_mtu(other, mtu)
        }
        if let peerNamespace { rtnl_link_set_ns_fd(other, peerNamespace.fd) }
        try check(rtnl_link_add(handle, link, NLM_F_CREATE | NLM_F_EXCL), "add veth \(name) peer \(peer)")
    }

    /// Creates a bridge.
    public func addBridge(name: String) throws(NetlinkError) {
        guard let link = rtnl_link_alloc() else { throw NetlinkError(operation: "add bridge \(name)", message: "out of memory") }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        try check(rtnl_link_set_type(link, "bridge"), "add bridge \(name)")
        try check(rtnl_link_add(handle, link, NLM_F_CREATE | NLM_F_EXCL), "add bridge \(name)")
    }

    /// Creates a VXLAN device with `parameters` over the link `parentIndex` (flannel's
    /// `flannel.1`: id 1, port 8472, local the node's address, learning off).
    public func addVXLAN(name: String, parameters: VXLANParameters, parentIndex: Int? = nil, learning: Bool = false) throws(NetlinkError) {
        guard let link = rtnl_link_vxlan_alloc() else { throw NetlinkError(operation: "add vxlan \(name)", message: "out of memory") }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        let op = "add vxlan \(name) id \(parameters.id)"
        try check(rtnl_link_vxlan_set_id(link, parameters.id), op)
        try check(rtnl_link_vxlan_set_port(link, UInt32(parameters.port)), op)
        try check(rtnl_link_vxlan_set_learning(link, learning ? 1 : 0), op)
        if let local = parameters.local {
            let addr = NLAddress.make(local)
            defer { nl_addr_put(addr) }
            try check(rtnl_link_vxlan_set_local(link, addr), op)
        }
        if let parentIndex { try check(rtnl_link_vxlan_set_link(link, UInt32(parentIndex)), op) }
        try check(rtnl_link_add(handle, link, NLM_F_CREATE | NLM_F_EXCL), op)
    }

    /// Deletes the link `name` (a veth takes its peer with it).
    public func deleteLink(name: String) throws(NetlinkError) {
        guard let link = rtnl_link_alloc() else { throw NetlinkError(operation: "delete link \(name)", message: "out of memory") }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        try check(rtnl_link_delete(handle, link), "delete link \(name)")
    }

    /// Changes the link `name`: the kernel's current link is fetched (one RTM_GETLINK), and the
    /// fields `edit` sets on an empty link are what change.
    private func change(_ name: String, _ operation: String, _ edit: (OpaquePointer) -> Void) throws(NetlinkError) {
        var found: OpaquePointer?
        try check(rtnl_link_get_kernel(handle, 0, name, &found), operation)
        guard let original = found else { throw NetlinkError(operation: operation, message: "no link \(name)") }
        guard let changes = rtnl_link_alloc() else {
            rtnl_link_put(original)
            throw NetlinkError(operation: operation, message: "out of memory")
        }
        defer { rtnl_link_put(original); rtnl_link_put(changes) }
        edit(changes)
        try check(rtnl_link_change(handle, original, changes, 0), operation)
    }

    /// Sets the link administratively up or down (`ip link set NAME up`).
    public func setLink(name: String, up: Bool) throws(NetlinkError) {
        try change(name, "set link \(name) \(up ? "up" : "down")") { c in
            if up { rtnl_link_set_flags(c, LinkFlags.up.rawValue) } else { rtnl_link_unset_flags(c, LinkFlags.up.rawValue) }
        }
    }

    public func setLink(name: String, mtu: UInt32) throws(NetlinkError) {
        try change(name, "set link \(name) mtu \(mtu)") { rtnl_link_set_mtu($0, mtu) }
    }

    /// Makes `name` a port of the bridge with index `masterIndex` (0: none).
    public func setLink(name: String, masterIndex: Int) throws(NetlinkError) {
        try change(name, "set link \(name) master \(masterIndex)") { rtnl_link_set_master($0, Int32(masterIndex)) }
    }

    /// Moves the link `name` into `namespace` (`ip link set NAME netns NS`, by its file
    /// descriptor). It leaves this namespace, with its addresses dropped, as the kernel does.
    public func moveLink(name: String, to namespace: NetworkNamespaceFile) throws(NetlinkError) {
        try change(name, "move link \(name) to \(namespace.path)") { rtnl_link_set_ns_fd($0, namespace.fd) }
    }

    /// The index of the link `name`, or nil when there is none.
    public func linkIndex(name: String) throws(NetlinkError) -> Int? {
        try links().first { $0.name == name }?.index
    }

    private func withAddress<T>(_ a: KernelAddress, _ operation: String, _ body: (OpaquePointer) -> Int32) throws(NetlinkError) -> T? {
        guard let obj = rtnl_addr_alloc() else { throw NetlinkError(operation: operation, message: "out of memory") }
        defer { rtnl_addr_put(obj) }
        rtnl_addr_set_ifindex(obj, Int32(a.interfaceIndex))
        let local = NLAddress.make(a.address, prefixLength: a.prefixLength)
        defer { nl_addr_put(local) }
        try check(rtnl_addr_set_local(obj, local), operation)
        rtnl_addr_set_prefixlen(obj, Int32(a.prefixLength))
        if let peer = a.peer {
            let p = NLAddress.make(peer, prefixLength: a.prefixLength)
            defer { nl_addr_put(p) }
            try check(rtnl_addr_set_peer(obj, p), operation)
        }
        if let broadcast = a.broadcast {
            let b = NLAddress.make(broadcast)
            defer { nl_addr_put(b) }
            try check(rtnl_addr_set_broadcast(obj, b), operation)
        }
        if a.scope != .universe { rtnl_addr_set_scope(obj, Int32(a.scope.rawValue)) }
        if a.flags != 0 { rtnl_addr_set_flags(obj, UInt32(a.flags)) }
        if let label = a.label { try check(rtnl_addr_set_label(obj, label), operation) }
        try check(body(obj), operation)
        return nil
    }

    /// Adds an address to the link `address.interfaceIndex` (`ip addr add`), with the
    /// connected route the kernel adds for it.
    public func addAddress(_ address: KernelAddress) throws(NetlinkError) {
        let _: Int? = try withAddress(address, "add address \(address.address)/\(address.prefixLength) on link \(address.interfaceIndex)") {
            rtnl_addr_add(handle, $0, NLM_F_CREATE | NLM_F_EXCL)
        }
    }

    public func deleteAddress(_ address: KernelAddress) throws(NetlinkError) {
        let _: Int? = try withAddress(address, "delete address \(address.address)/\(address.prefixLength) on link \(address.interfaceIndex)") {
            rtnl_addr_delete(handle, $0, 0)
        }
    }

    private func withRoute(_ r: KernelRoute, _ operation: String, _ body: (OpaquePointer) -> Int32) throws(NetlinkError) {
        guard let obj = rtnl_route_alloc() else { throw NetlinkError(operation: operation, message: "out of memory") }
        defer { rtnl_route_put(obj) }
        let family = r.destination.family == .ipv4 ? AF_INET : AF_INET6
        try check(rtnl_route_set_family(obj, UInt8(family)), operation)
        let dst = NLAddress.make(r.destination.network, prefixLength: r.destination.length)
        defer { nl_addr_put(dst) }
        try check(rtnl_route_set_dst(obj, dst), operation)
        rtnl_route_set_table(obj, r.table)
        try check(rtnl_route_set_type(obj, r.type.rawValue), operation)
        rtnl_route_set_scope(obj, r.scope.rawValue)
        rtnl_route_set_protocol(obj, r.proto.rawValue)
        rtnl_route_set_priority(obj, r.priority)
        if r.tos != 0 { rtnl_route_set_tos(obj, r.tos) }
        if let src = r.preferredSource {
            let s = NLAddress.make(src)
            defer { nl_addr_put(s) }
            try check(rtnl_route_set_pref_src(obj, s), operation)
        }
        for hop in r.nextHops {
            guard let nh = rtnl_route_nh_alloc() else { throw NetlinkError(operation: operation, message: "out of memory") }
            if let index = hop.interfaceIndex { rtnl_route_nh_set_ifindex(nh, Int32(index)) }
            if let gw = hop.gateway {
                let g = NLAddress.make(gw)
                rtnl_route_nh_set_gateway(nh, g)
                nl_addr_put(g)
            }
            if hop.onlink { rtnl_route_nh_set_flags(nh, UInt32(RTNH_F_ONLINK)) }
            if r.nextHops.count > 1 { rtnl_route_nh_set_weight(nh, UInt8(clamping: hop.weight - 1)) }
            rtnl_route_add_nexthop(obj, nh)
        }
        for (metric, value) in r.metrics { try check(rtnl_route_set_metric(obj, Int32(metric), value), operation) }
        try check(body(obj), operation)
    }

    /// Adds `route` (`ip route add`); it must not exist yet.
    public func addRoute(_ route: KernelRoute) throws(NetlinkError) {
        try withRoute(route, "add route \(route.destination) table \(route.table)") { rtnl_route_add(handle, $0, NLM_F_CREATE | NLM_F_EXCL) }
    }

    public func deleteRoute(_ route: KernelRoute) throws(NetlinkError) {
        try withRoute(route, "delete route \(route.destination) table \(route.table)") { rtnl_route_delete(handle, $0, 0) }
    }

    private func withNeighbour(_ n: KernelNeighbour, _ operation: String, _ body: (OpaquePointer) -> Int32) throws(NetlinkError) {
        guard let obj = rtnl_neigh_alloc() else { throw NetlinkError(operation: operation, message: "out of memory") }
        defer { rtnl_neigh_put(obj) }
        rtnl_neigh_set_ifindex(obj, Int32(n.interfaceIndex))
        // The destination before the family: libnl refuses an address of another family than
        // the entry's, and an FDB entry (AF_BRIDGE) carries an IP destination (the remote VTEP).
        if let ip = n.destination {
            let d = NLAddress.make(ip)
            defer { nl_addr_put(d) }
            try check(rtnl_neigh_set_dst(obj, d), operation)
        }
        rtnl_neigh_set_family(obj, n.family)
        if let mac = n.linkAddress {
            let l = NLAddress.make(mac)
            defer { nl_addr_put(l) }
            rtnl_neigh_set_lladdr(obj, l)
        }
        rtnl_neigh_set_state(obj, Int32(n.state))
        if n.flags != 0 { rtnl_neigh_set_flags(obj, UInt32(n.flags)) }
        if let vlan = n.vlan { rtnl_neigh_set_vlan(obj, Int32(vlan)) }
        try check(body(obj), operation)
    }

    /// Adds or replaces a neighbour or FDB entry (flannel's `NeighSet`: NLM_F_CREATE |
    /// NLM_F_REPLACE).
    public func setNeighbour(_ neighbour: KernelNeighbour) throws(NetlinkError) {
        try withNeighbour(neighbour, "set neighbour \(neighbour.destination.map { "\($0)" } ?? "-") on link \(neighbour.interfaceIndex)") {
            rtnl_neigh_add(handle, $0, NLM_F_CREATE | NLM_F_REPLACE)
        }
    }

    public func deleteNeighbour(_ neighbour: KernelNeighbour) throws(NetlinkError) {
        try withNeighbour(neighbour, "delete neighbour \(neighbour.destination.map { "\($0)" } ?? "-") on link \(neighbour.interfaceIndex)") {
            rtnl_neigh_delete(handle, $0, 0)
        }
    }
}

extension NetlinkSocket {
    /// Creates a dummy device (`ip link add NAME type dummy`: kube-proxy's IPVS-mode
    /// `kube-ipvs0`, which holds the Service addresses).
    public func addDummy(name: String) throws(NetlinkError) {
        guard let link = rtnl_link_alloc() else { throw NetlinkError(operation: "add dummy \(name)", message: "out of memory") }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        try check(rtnl_link_set_type(link, "dummy"), "add dummy \(name)")
        try check(rtnl_link_add(handle, link, NLM_F_CREATE | NLM_F_EXCL), "add dummy \(name)")
    }
}

extension NetlinkSocket {
    /// Sets a bridge port's hairpin mode (`ip link set NAME type bridge_slave hairpin on`,
    /// the bridge plugin's `hairpinMode`): a frame may leave by the port it came in on. One
    /// RTM_SETLINK of family AF_BRIDGE with IFLA_PROTINFO.
    public func setBridgePort(name: String, hairpin: Bool) throws(NetlinkError) {
        let op = "set bridge port \(name) hairpin \(hairpin ? "on" : "off")"
        var found: OpaquePointer?
        try check(rtnl_link_get_kernel(handle, 0, name, &found), op)
        guard let original = found else { throw NetlinkError(operation: op, message: "no link \(name)") }
        defer { rtnl_link_put(original) }
        // A plain link of family AF_BRIDGE (libnl's bridge port data), not a link of kind
        // bridge: the port stays a veth.
        guard let changes = rtnl_link_alloc() else { throw NetlinkError(operation: op, message: "out of memory") }
        defer { rtnl_link_put(changes) }
        rtnl_link_set_ifindex(changes, rtnl_link_get_ifindex(original))
        rtnl_link_set_family(changes, AF_BRIDGE)
        // libnl refuses (asserts) a change whose family differs from the original's.
        rtnl_link_set_family(original, AF_BRIDGE)
        guard rtnl_link_is_bridge(changes) != 0 else { throw NetlinkError(operation: op, message: "libnl has no bridge port support") }
        if hairpin {
            try check(rtnl_link_bridge_set_flags(changes, UInt32(RTNL_BRIDGE_HAIRPIN_MODE.rawValue)), op)
        } else {
            try check(rtnl_link_bridge_unset_flags(changes, UInt32(RTNL_BRIDGE_HAIRPIN_MODE.rawValue)), op)
        }
        try check(rtnl_link_change(handle, original, changes, 0), op)
    }
}
