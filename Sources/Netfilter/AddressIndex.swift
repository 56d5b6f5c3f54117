import Wire

/// Every local address (the kernel's `local` table), and the subnets of addresses shorter than
/// a host prefix (the connected routes: fib_add_ifaddr adds none for a /32 or a /128, such as
/// kube-ipvs0's), so lookups do not scan interfaces.
///
/// IPv4 addresses sit in a flat open-addressing table of integers (Fibonacci hashing, linear
/// probing, at most half full): every routed packet asks whether its source and destination are
/// local, and a `Set<IPAddress>` hashed each with SipHash. In IPVS mode kube-ipvs0 holds every
/// ClusterIP, so the table is a hash, not a scan. Other families keep a `Set`.
struct AddressIndex: Sendable {
    /// IPv4 addresses; 0 marks an empty slot (0.0.0.0 itself is `hasUnspecifiedV4`).
    private var slotsV4: [UInt32] = []
    private var shiftV4: UInt32 = 32
    private var hasUnspecifiedV4 = false
    private var localOther: Set<IPAddress> = []
    var hasLoopback = false
    var subnets: [(prefix: Prefix, interface: String)] = []
    /// The broadcast address of each IPv4 subnet shorter than /31, with its interface
    /// (`Host.addressType`'s `broadcast`).
    var broadcastsV4: [(address: UInt32, interface: String)] = []

    init(_ interfaces: [Interface]) {
        var v4: [UInt32] = []
        for i in interfaces {
            if i.name == "lo" { hasLoopback = true }
            for (address, length) in i.addresses {
                switch address {
                case .v4(let a) where a.value == 0: hasUnspecifiedV4 = true
                case .v4(let a): v4.append(a.value)
                case .v6: localOther.insert(address)
                }
                guard length < address.family.bitWidth else { continue }
                let prefix = Prefix(containing: address, length: length)
                subnets.append((prefix, i.name))
                if case .v4(let last) = prefix.lastAddress, length < 31 { broadcastsV4.append((last.value, i.name)) }
            }
        }
        var capacity = 8
        while capacity < v4.count * 2 { capacity <<= 1 }
        shiftV4 = UInt32(32 - capacity.trailingZeroBitCount)
        slotsV4 = [UInt32](repeating: 0, count: capacity)
        for a in v4 {
            var i = Self.home(a, shiftV4)
            while slotsV4[i] != 0 && slotsV4[i] != a { i = (i + 1) & (capacity - 1) }
            slotsV4[i] = a
        }
    }

    @inline(__always)
    private static func home(_ a: UInt32, _ shift: UInt32) -> Int { Int((a &* 0x9E37_79B1) >> shift) }

    /// Whether `address` is one of the interfaces' addresses. - Complexity: O(1) expected.
    func contains(_ address: IPAddress) -> Bool {
        guard case .v4(let v4) = address else { return localOther.contains(address) }
        let a = v4.value
        if a == 0 { return hasUnspecifiedV4 }
        let mask = slotsV4.count - 1
        var i = Self.home(a, shiftV4)
        while true {
            let s = slotsV4[i]
            if s == a { return true }
            if s == 0 { return false }
            i = (i + 1) & mask
        }
    }
}
