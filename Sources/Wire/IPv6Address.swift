/// An IPv6 address as a 128-bit number (network order read as a number, `value`), so prefix
/// arithmetic is shifts and masks.
public struct IPv6Address: Hashable, Comparable, Sendable {
    // Two 64-bit halves rather than one UInt128: UInt128 is 16-byte aligned, which made every
    // `IPAddress` 32 bytes inside a struct (17 rounded up) and a flow key or conntrack tuple 64
    // bytes instead of 48. Replay and conntrack keep several per flow.
    private var high: UInt64
    private var low: UInt64

    /// The address as one 128-bit integer, most significant group first.
    public var value: UInt128 {
        @inline(__always) get { UInt128(high) << 64 | UInt128(low) }
        @inline(__always) set {
            high = UInt64(truncatingIfNeeded: newValue >> 64)
            low = UInt64(truncatingIfNeeded: newValue)
        }
    }

    public init(_ value: UInt128) {
        high = UInt64(truncatingIfNeeded: value >> 64)
        low = UInt64(truncatingIfNeeded: value)
    }

    public static let zero = IPv6Address(0)
    public static let loopback = IPv6Address(1)

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.high, lhs.low) < (rhs.high, rhs.low) }

    /// The eight 16-bit groups, most significant first.
    public var groups: [UInt16] {
        (0..<8).map { UInt16(truncatingIfNeeded: value >> (112 - 16 * UInt128($0))) }
    }

    public init(groups: [UInt16]) {
        precondition(groups.count == 8)
        self.init(groups.reduce(0) { $0 << 16 | UInt128($1) })
    }

    /// `::ffff:a.b.c.d` for an IPv4 address.
    public init(v4Mapped v4: IPv4Address) { self.init(0xFFFF_0000_0000 | UInt128(v4.value)) }

    /// The embedded IPv4 address when this is IPv4-mapped (`::ffff:0:0/96`).
    public var v4Mapped: IPv4Address? {
        value >> 32 == 0xFFFF ? IPv4Address(UInt32(truncatingIfNeeded: value)) : nil
    }

    public var isLoopback: Bool { value == 1 }
    public var isUnspecified: Bool { value == 0 }
    public var isMulticast: Bool { value >> 120 == 0xFF }
    public var isLinkLocal: Bool { value >> 118 == 0x3FA }  // fe80::/10

    /// Parses any RFC 4291 text form: full, `::`-compressed, and with a trailing dotted quad.
    public init(parsing text: some StringProtocol) throws(AddressError) {
        let s = Substring(text)
        if s.contains("%") { throw AddressError(text, "IPv6 zone identifiers are not supported") }
        let groups: [UInt16]
        if let gap = s.firstRange(of: "::") {
            let head = s[..<gap.lowerBound], tail = s[gap.upperBound...]
            if tail.contains("::") { throw AddressError(text, "IPv6 address has more than one '::'") }
            let h = try Self.parseGroups(head, of: text, lastMayBeV4: tail.isEmpty)
            let t = try Self.parseGroups(tail, of: text, lastMayBeV4: true)
            guard h.count + t.count <= 7 else { throw AddressError(text, "IPv6 address has too many groups") }
            groups = h + Array(repeating: 0, count: 8 - h.count - t.count) + t
        } else {
            groups = try Self.parseGroups(s, of: text, lastMayBeV4: true)
            guard groups.count == 8 else { throw AddressError(text, "IPv6 address needs eight groups or '::'") }
        }
        self.init(groups: groups)
    }

    /// Parses colon-separated hex groups; a dotted quad is allowed only as the last field.
    private static func parseGroups(
        _ part: Substring, of text: some StringProtocol, lastMayBeV4: Bool
    ) throws(AddressError) -> [UInt16] {
        if part.isEmpty { return [] }
        let fields = part.split(separator: ":", omittingEmptySubsequences: false)
        var groups: [UInt16] = []
        for (i, field) in fields.enumerated() {
            if field.contains(".") && lastMayBeV4 && i == fields.count - 1 {
                let v4: IPv4Address
                do { v4 = try IPv4Address(parsing: field) } catch {
                    throw AddressError(text, "bad embedded IPv4 part \"\(field)\"")
                }
                groups += [UInt16(v4.value >> 16), UInt16(truncatingIfNeeded: v4.value)]
                continue
            }
            guard (1...4).contains(field.utf8.count), field.allSatisfy(\.isHexDigit),
                  let g = UInt16(field, radix: 16)
            else {
                throw AddressError(text, field.isEmpty ? "empty group in IPv6 address" : "bad IPv6 group \"\(field)\"")
            }
            groups.append(g)
        }
        guard groups.count <= 8 else { throw AddressError(text, "IPv6 address has too many groups") }
        return groups
    }
}

extension IPv6Address: CustomStringConvertible {
    /// RFC 5952 text: lower case, no leading zeros, the longest run of two or more zero groups
    /// (the first on a tie) written as `::`, and IPv4-mapped addresses as `::ffff:a.b.c.d`.
    public var description: String {
        if let v4 = v4Mapped { return "::ffff:\(v4)" }
        let g = groups
        var bestStart = -1, bestLength = 0, runStart = -1
        for i in 0...8 {
            if i < 8 && g[i] == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength { bestStart = runStart; bestLength = i - runStart }
                runStart = -1
            }
        }
        if bestLength < 2 { bestStart = -1 }
        var out = ""
        var i = 0
        while i < 8 {
            if i == bestStart {
                out += "::"
                i += bestLength
                continue
            }
            if !out.isEmpty && !out.hasSuffix(":") { out += ":" }
            out += String(g[i], radix: 16)
            i += 1
        }
        return out
    }
}
