import Wire

/// The value scanners every extension shares: numbers as `xtables_strtoui` reads them,
/// `value/mask`, decimals, addresses and prefixes, ports. Each is called once per option word,
/// so the common spellings (`a.b.c.d/n`, a bare port) are read from the bytes directly.
extension RuleParser {
    /// An unsigned number as `xtables_strtoui(s, NULL, &v, 0, max)` (libxtables/xtables.c) reads
    /// it: `strtoumax(s, &end, 0)` after refusing a leading `-`, so `0x10` is hex, `010` octal
    /// and `10` decimal; leading blanks and one `+` are allowed, and the whole word must be used.
    /// Every numeric option of every extension reads through here, so parsing and printing
    /// back agree on the value.
    static func number(_ s: String, max: UInt64 = UInt64(UInt32.max)) throws(RuleError) -> UInt32 {
        guard let v = strtoui(s), v <= max else { throw RuleError(word: s, reason: "not a number in range") }
        return UInt32(v)
    }

    /// The value of `s` as `xtables_strtoul` with `end == NULL` gives it, or nil.
    static func strtoui(_ s: String) -> UInt64? {
        var bytes = s.utf8[...]
        while let b = bytes.first, b == 32 || (b >= 9 && b <= 13) { bytes = bytes.dropFirst() }
        if bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        var radix: UInt64 = 10
        if bytes.first == UInt8(ascii: "0") {
            let rest = bytes.dropFirst()
            if let x = rest.first, x | 0x20 == UInt8(ascii: "x"), let h = rest.dropFirst().first, hexDigit(h) != nil {
                radix = 16
                bytes = rest.dropFirst()
            } else {
                radix = 8  // the leading 0 is a digit of the octal number
            }
        }
        guard !bytes.isEmpty else { return nil }
        var v: UInt64 = 0
        for b in bytes {
            guard let d = hexDigit(b), d < radix else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: radix)
            let (a, o2) = m.addingReportingOverflow(d)
            if o1 || o2 { return nil }  // ERANGE
            v = a
        }
        return v
    }

    private static func hexDigit(_ b: UInt8) -> UInt64? {
        switch b {
        case 48...57: UInt64(b - 48)
        case 97...102: UInt64(b - 87)
        case 65...70: UInt64(b - 55)
        default: nil
        }
    }

    /// `value[/mask]`, mask defaulting to all ones (libxt_mark.c).
    static func valueMask(_ s: String) throws(RuleError) -> (UInt32, UInt32) {
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let v = try number(String(parts[0]))
        let m = parts.count == 2 ? try number(String(parts[1])) : UInt32.max
        return (v, m)
    }

    /// `addr[/len|/dotted-mask][,addr...]` as `-s`/`-d` take it; host bits are cleared, as
    /// xtables_ipparse_multiple does.
    static func prefixes(_ s: String) throws(RuleError) -> [Prefix] {
        if !s.utf8.contains(44) { return [try prefix(s)] }
        var out: [Prefix] = []
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            out.append(try prefix(String(part)))
        }
        return out
    }

    /// `a.b.c.d` or `a.b.c.d/n` read straight from the bytes: the common case, many times
    /// faster than the general parser. nil sends anything else to the general parser.
    static func fastIPv4(_ s: String) -> (IPv4Address, Int?)? {
        // On the bytes in place: iterating the String's UTF8View costs more than the checks.
        s.utf8.withContiguousStorageIfAvailable(fastIPv4) ?? fastIPv4(Array(s.utf8))
    }

    private static func fastIPv4(_ bytes: some Sequence<UInt8>) -> (IPv4Address, Int?)? {
        var value: UInt32 = 0, field: UInt32 = 0, digits = 0, dots = 0
        var length: Int? = nil
        var inLength = false
        for b in bytes {
            if inLength {
                guard b >= 48 && b <= 57 else { return nil }
                length = (length ?? 0) * 10 + Int(b - 48)
                if length! > 32 { return nil }
                continue
            }
            switch b {
            case 48...57:
                if digits > 0 && field == 0 { return nil }  // leading zero: leave to the strict parser
                field = field * 10 + UInt32(b - 48); digits += 1
                if field > 255 { return nil }
            case 46:
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | field; field = 0; digits = 0; dots += 1
            case 47:
                guard digits > 0, dots == 3 else { return nil }
                inLength = true
            default:
                return nil
            }
        }
        if inLength && length == nil { return nil }
        guard dots == 3, digits > 0 || inLength else { return nil }
        if !inLength { guard digits > 0 else { return nil } }
        return (IPv4Address(value << 8 | field), length)
    }

    /// `a.b.c.d/w.x.y.z` whose mask is not a run of ones: (address & mask, mask).
    static func nonPrefixMask(_ s: String) -> (UInt32, UInt32)? {
        // Cheap refusal first: a dotted mask needs a '.' after the '/'.
        guard let slash = s.utf8.firstIndex(of: 47), s.utf8[slash...].contains(46) else { return nil }
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1].contains("."), let mask = try? IPv4Address(parsing: parts[1]),
              let a = try? IPv4Address(parsing: parts[0]) else { return nil }
        let m = mask.value
        let contiguous = m == 0 || (~m) & (~m &+ 1) == 0  // ones then zeros
        return contiguous ? nil : (a.value & m, m)
    }

    static func prefix(_ s: String) throws(RuleError) -> Prefix {
        if let (a, len) = fastIPv4(s) { return Prefix(containing: .v4(a), length: len ?? 32) }
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2, parts[1].contains("."), let mask = try? IPv4Address(parsing: parts[1]) {
            let len = mask.value.leadingZeroBitCount == 0 || mask.value == 0 ? mask.value.nonzeroBitCount : -1
            guard len >= 0, mask.value == (len == 0 ? 0 : UInt32.max << UInt32(32 - len)),
                  let a = try? IPAddress(parsing: parts[0]), a.family == .ipv4
            else { throw RuleError(word: s, reason: "not an address or network") }
            return Prefix(containing: a, length: len)
        }
        do {
            return try Prefix(parsing: s, allowHostBits: true, allowBareAddress: true)
        } catch {
            throw RuleError(word: s, reason: "not an address or network (\(error.reason))")
        }
    }

    /// `port` or `first:last` (either end may be left open), as `xtables_parse_port` and
    /// `parse_multi_ports` take it.
    static func portRange(_ s: String) throws(RuleError) -> PortRange {
        if s.utf8.count <= 5, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let p = UInt16(s) { return PortRange(p) }
        do { return try PortRange(parsing: s, allowOpenEnds: true) } catch {
            throw RuleError(word: s, reason: "not a port or port range")
        }
    }

    /// `Double(s)`, read directly when `s` is digits with at most one `.` and at most 15 digits
    /// (kube-proxy's `0.50000000000`): the digits then make an exact integer below 2^53 and the
    /// power of ten is exact, so one division rounds correctly, as strtod does.
    static func decimal(_ s: String) -> Double? {
        var mantissa: UInt64 = 0, digits = 0, fraction = 0, dot = false
        for b in s.utf8 {
            if b == 46 {
                if dot { return Double(s) }
                dot = true
                continue
            }
            guard b >= 48 && b <= 57, digits < 15 else { return Double(s) }
            mantissa = mantissa * 10 + UInt64(b - 48)
            digits += 1
            if dot { fraction += 1 }
        }
        guard digits > 0 else { return Double(s) }
        let powers: [Double] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]
        return Double(mantissa) / powers[fraction]
    }
}
