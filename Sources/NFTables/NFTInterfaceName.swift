/// Interface names packed into 128 bits (16 bytes, first character most significant, zero
/// padded, as the kernel compares IFNAMSIZ bytes): a name is a key field with no string work
/// per packet; `eth*` is the range of names with that prefix.
public enum NFTInterfaceName {
    public static func pack(_ name: some StringProtocol) -> UInt128 {
        var v: UInt128 = 0
        var n = 0
        for b in name.utf8.prefix(16) { v = (v << 8) | UInt128(b); n += 1 }
        return n == 16 ? v : v << UInt128(8 * (16 - n))
    }

    static func range(_ w: Substring) -> (UInt128, UInt128)? {
        guard !w.isEmpty, w.utf8.count <= 16 else { return nil }
        if w.hasSuffix("*") {
            let prefix = w.dropLast()
            let low = pack(prefix)
            let rest = 8 * (16 - prefix.utf8.count)
            let high = rest >= 128 ? UInt128.max : low | ((1 << UInt128(rest)) - 1)
            return (low, high)
        }
        let v = pack(w)
        return (v, v)
    }
}
