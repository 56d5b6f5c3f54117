import CNetlink

/// Generic netlink families (`genl_ctrl_resolve`). IPVS is one ("IPVS", version 1): present
/// only when the ip_vs module is loaded or built in.
public enum GenericNetlink {
    /// The family id of `name`, or nil when the kernel has no such family
    /// (`NLE_OBJ_NOTFOUND`, as for "IPVS" without the ip_vs module). Opens a generic netlink
    /// socket in `namespace` (nil: the caller's).
    public static func familyID(_ name: String, namespace: NetworkNamespaceFile? = nil) throws(NetlinkError) -> Int32? {
        let resolve = { () throws(NetlinkError) -> Int32? in
            guard let sk = nl_socket_alloc() else { throw NetlinkError(operation: "allocate a generic netlink socket", message: "out of memory") }
            defer { nl_close(sk); nl_socket_free(sk) }
            try check(genl_connect(sk), "connect a generic netlink socket")
            let id = genl_ctrl_resolve(sk, name)
            if id >= 0 { return id }
            let e = NetlinkError(operation: "resolve generic netlink family \(name)", libnlCode: id)
            if e.isNotFound { return nil }
            throw e
        }
        if let namespace { return try namespace.run(resolve) }
        return try resolve()
    }
}
