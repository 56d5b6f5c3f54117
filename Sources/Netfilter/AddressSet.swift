import Wire

/// A set of addresses for membership tests on hot paths (`PrefixSet.sameSide`, which `kdp
/// verify` asks for every class boundary): IPv4 addresses in a flat open-addressing table with
/// a multiply-shift hash, so a lookup costs a multiply and one or two probes instead of
/// `Hasher`'s SipHash. IPv6 addresses, rare there, use a standard `Set`.
struct AddressSet: Sendable {
    /// IPv4 address + 1 per position; 0 is empty.
    private var v4: [UInt64] = Array(repeating: 0, count: 8)
    private var v4Count = 0
    private var v6: Set<UInt128> = []

    init() {}

    @inline(__always)
    private static func home(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    mutating func insert(_ a: IPAddress) {
        switch a {
        case .v6(let x):
            v6.insert(x.value)
        case .v4(let x):
            if (v4Count + 1) * 2 > v4.count {
                let old = v4
                v4 = Array(repeating: 0, count: v4.count * 2)
                v4Count = 0
                for k in old where k != 0 { place(k) }
            }
            place(UInt64(x.value) + 1)
        }
    }

    private mutating func place(_ key: UInt64) {
        let mask = v4.count - 1
        var i = Self.home(key, mask)
        while v4[i] != 0 {
            if v4[i] == key { return }
            i = (i + 1) & mask
        }
        v4[i] = key
        v4Count += 1
    }

    @inline(__always)
    func contains(v4 value: UInt32) -> Bool {
        let key = UInt64(value) + 1
        let mask = v4.count - 1
        var i = Self.home(key, mask)
        while true {
            let k = v4[i]
            if k == key { return true }
            if k == 0 { return false }
            i = (i + 1) & mask
        }
    }

    func contains(_ a: IPAddress) -> Bool {
        switch a {
        case .v4(let x): contains(v4: x.value)
        case .v6(let x): v6.contains(x.value)
        }
    }
}
