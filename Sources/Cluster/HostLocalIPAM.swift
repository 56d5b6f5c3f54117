import Wire

/// The host-local IPAM plugin for one node's pod range, as the bridge CNI plugin drives it
/// (containernetworking/plugins, plugins/ipam/host-local): the range runs from the address after
/// the network address to the last address (for IPv4 the one before broadcast); the gateway
/// (the first address, on bridge `cni0`) is never handed out; each allocation starts after the
/// last address reserved and wraps around (host-local's round robin). A requested address is
/// reserved as is and becomes the last reserved, as host-local's store records it.
struct HostLocalIPAM {
    let range: Prefix
    let gateway: IPAddress
    private let first: UInt128
    private let last: UInt128
    private var lastReserved: UInt128?
    private var reserved: Set<UInt128> = []
    /// Addresses other pods asked for by name; automatic allocation steps around them so that
    /// input order never turns a valid request into a conflict.
    private var claimed: Set<UInt128> = []

    init(range: Prefix) {
        self.range = range
        let network = range.network.bits
        let lastAddress = range.lastAddress.bits
        // Ranges too small for a gateway and one pod (/31, /32, /127, /128) hand out nothing.
        if range.hostBits < 2 {
            first = 1
            last = 0
        } else {
            first = network + 1
            last = range.family == .ipv4 ? lastAddress - 1 : lastAddress
        }
        gateway = IPAddress(family: range.family, bits: network &+ 1)
    }

    /// Addresses usable by pods (the range less the gateway).
    var capacity: UInt128 { last >= first ? last - first : 0 }

    mutating func claim(_ ip: IPAddress) { claimed.insert(ip.bits) }

    /// Why `ip` cannot be reserved, or nil when it can.
    func problem(reserving ip: IPAddress) -> String? {
        guard range.contains(ip) else { return "\(ip) is outside the node's pod range \(range)" }
        let b = ip.bits
        if b == range.network.bits { return "\(ip) is the network address of \(range)" }
        if b == gateway.bits { return "\(ip) is the gateway of \(range) (bridge cni0)" }
        if b > last { return "\(ip) is the broadcast address of \(range)" }
        if reserved.contains(b) { return "\(ip) is already in use" }
        return nil
    }

    mutating func reserve(_ ip: IPAddress) {
        reserved.insert(ip.bits)
        lastReserved = ip.bits
    }

    /// The next free address after the last reserved one, wrapping; nil when the range is full.
    mutating func allocateNext() -> IPAddress? {
        guard last > first else { return nil }
        let span = last - first + 1
        var candidate = lastReserved.map { $0 >= last ? first : $0 + 1 } ?? first
        var tried: UInt128 = 0
        while tried < span {
            if candidate != gateway.bits && !reserved.contains(candidate) && !claimed.contains(candidate) {
                reserved.insert(candidate)
                lastReserved = candidate
                return IPAddress(family: range.family, bits: candidate)
            }
            candidate = candidate >= last ? first : candidate + 1
            tried += 1
        }
        return nil
    }
}
