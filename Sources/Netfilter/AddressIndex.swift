import Wire

/// Every local address (the kernel's `local` table), and the subnets of addresses shorter than
/// a host prefix (the connected routes: fib_add_ifaddr adds none for a /32 or a /128, such as
/// kube-ipvs0's), so lookups do not scan interfaces.
///
/// The local addresses are an `AddressSet` (IPv4 in a flat integer hash): every routed packet
/// asks whether its source and destination are local, and a `Set<IPAddress>` hashed each with
/// SipHash. In IPVS mode kube-ipvs0 holds every ClusterIP, so it is a hash, not a scan.
struct AddressIndex: Sendable {
    var local = AddressSet()
    var hasLoopback = false
    var subnets: [(prefix: Prefix, interface: String)] = []
    /// The broadcast address of each IPv4 subnet shorter than /31, with its interface
    /// (`Host.addressType`'s `broadcast`).
    var broadcastsV4: [(address: UInt32, interface: String)] = []

    init(_ interfaces: [Interface]) {
        for i in interfaces {
            if i.name == "lo" { hasLoopback = true }
            for (address, length) in i.addresses {
                local.insert(address)
                guard length < address.family.bitWidth else { continue }
                let prefix = Prefix(containing: address, length: length)
                subnets.append((prefix, i.name))
                if case .v4(let last) = prefix.lastAddress, length < 31 { broadcastsV4.append((last.value, i.name)) }
            }
        }
    }
}
