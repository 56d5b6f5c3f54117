/// sh, dh and mh (ip_vs_sh.c, ip_vs_dh.c, ip_vs_mh.c): bucket tables of slots, rebuilt whole on
/// every change the kernel rebuilds on, and looked up with the kernel's hashes.
public enum HashTableSize {
    /// CONFIG_IP_VS_SH_TAB_BITS default.
    public static let shBits: UInt32 = 8
    /// CONFIG_IP_VS_DH_TAB_BITS default.
    public static let dhBits: UInt32 = 8
    /// primes[CONFIG_IP_VS_MH_TAB_INDEX - 8] with the default index 12.
    public static let mh = 4093
    /// IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX / 2.
    public static let mhBits = 6
}

/// The mh keys (ip_vs_mh.c: generate_hash_secret).
public enum MaglevKeys {
    public static let hash1: KernelHash.SipKey = (2_654_435_761, 2_654_435_761)
    public static let hash2: KernelHash.SipKey = (2_654_446_892, 2_654_446_892)
}

extension VirtualService {
    // MARK: sh

    /// ip_vs_sh_hashkey: `(offset + hash_32(port + addr, 8)) & 255` (legacy: the product's low bits).
    @inline(__always)
    static func shHashKey(fold: UInt32, port: UInt16, offset: UInt32, hash: HashVariant) -> Int {
        let x = UInt32(port) &+ fold
        let h = hash == .hash32 ? KernelHash.hash32(x, bits: HashTableSize.shBits) : KernelHash.legacy(x)
        return Int((offset &+ h) & 255)
    }

    /// ip_vs_sh_reassign: walk the list cyclically from the head; each server takes `weight`
    /// consecutive buckets, and a weight-0 server still takes one.
    mutating func shReassign() {
        var table = [Int32](repeating: -1, count: 256)
        if !order.isEmpty {
            var p = 0
            var count: Int32 = 0
            for i in 0..<256 {
                let slot = order[p]
                table[i] = slot
                count += 1
                if count >= servers[Int(slot)].weight {
                    p = p + 1 == order.count ? 0 : p + 1
                    count = 0
                }
            }
        }
        setBuckets(table)
    }

    // MARK: dh

    /// ip_vs_dh_hashkey: `hash_32(addr, 8)` (legacy: `(addr * 2654435761) & 255`).
    @inline(__always)
    static func dhHashKey(fold: UInt32, hash: HashVariant) -> Int {
        hash == .hash32 ? Int(KernelHash.hash32(fold, bits: HashTableSize.dhBits)) : Int(KernelHash.legacy(fold) & 255)
    }

    /// ip_vs_dh_reassign: one bucket per server, round-robin over the list, whatever the weight.
    mutating func dhReassign() {
        var table = [Int32](repeating: -1, count: 256)
        if !order.isEmpty {
            for i in 0..<256 { table[i] = order[i % order.count] }
        }
        setBuckets(table)
    }

    // MARK: mh

    /// ip_vs_mh_hashkey: hsiphash of `offset + port + addr` as one u32.
    @inline(__always)
    static func mhHashKey(fold: UInt32, port: UInt16, offset: UInt32, key: KernelHash.SipKey) -> UInt32 {
        KernelHash.hsiphash(offset &+ UInt32(port) &+ fold, key: key)
    }

    /// ip_vs_mh_gcd_weight + ip_vs_mh_shift_weight + ip_vs_mh_permutate + ip_vs_mh_populate.
    /// Uses `last_weight`, so quiescing a server (weight 0) leaves the table as it was.
    mutating func mhReassign() {
        let m = HashTableSize.mh
        var table = [Int32](repeating: -1, count: m)
        var g: Int32 = 0
        var maxWeight: Int32 = 0
        for s in order {
            let w = servers[Int(s)].lastWeight
            if w > 0 { g = g > 0 ? gcd(w, g) : w }
            if w > maxWeight { maxWeight = w }
        }
        guard g >= 1, !order.isEmpty else {
            setBuckets(table)
            return
        }
        let mw = maxWeight / g
        let fls = mw == 0 ? 0 : 32 - mw.leadingZeroBitCount
        let rshift = max(0, fls - HashTableSize.mhBits)
        let n = order.count
        var perm = [Int](repeating: 0, count: n)
        var skip = [Int](repeating: 0, count: n)
        var turns = [Int32](repeating: 0, count: n)
        for (i, slot) in order.enumerated() {
            let s = servers[Int(slot)]
            perm[i] = Int(Self.mhHashKey(fold: s.addressFold, port: s.port, offset: 0, key: MaglevKeys.hash1) % UInt32(m))
            skip[i] = Int(Self.mhHashKey(fold: s.addressFold, port: s.port, offset: 0, key: MaglevKeys.hash2) % UInt32(m - 1)) + 1
            let lw = s.lastWeight
            let t = (lw / g) >> rshift
            turns[i] = t != 0 ? t : (lw != 0 ? 1 : 0)
        }
        var taken = [Bool](repeating: false, count: m)
        var filled = 0
        var dtCount: Int32 = 0
        outer: while filled < m {
            var i = 0
            while i < n {
                if turns[i] < 1 { i += 1; continue }
                var c = perm[i]
                while taken[c] {
                    perm[i] += skip[i]
                    if perm[i] >= m { perm[i] -= m }
                    c = perm[i]
                }
                taken[c] = true
                table[c] = order[i]
                filled += 1
                if filled == m { break outer }
                dtCount += 1
                if dtCount >= turns[i] {
                    dtCount = 0
                    i += 1
                }
            }
        }
        setBuckets(table)
    }
}
