/// An IPv4 address held as a host-order integer, so hot paths compare and hash one `UInt32`.
public struct IPv4Address: Hashable, Comparable, Sendable {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    public static let zero = IPv4Address(0)
    public static let broadcast = IPv4Address(.max)

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    /// The four octets, most significant first.
    public var octets: (UInt8, UInt8, UInt8, UInt8) {
        (UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16),
         UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value))
    }

    /// Parses dotted-quad text strictly, as Go's `net.ParseIP` does since Go 1.17: a field with a
    /// leading zero (`010`) is rejected because older parsers read it as octal.
    public init(parsing text: some StringProtocol) throws(AddressError) {
        self = try Self.parse(text, sloppy: false)
    }

    /// Parses dotted-quad text, reading fields with leading zeros as decimal (`172.30.0.041` is
    /// 172.30.0.41). This is Kubernetes' `netutils.ParseIPSloppy`, which kube-proxy and the API
    /// server use for objects stored before strict validation.
    public init(sloppy text: some StringProtocol) throws(AddressError) {
        self = try Self.parse(text, sloppy: true)
    }

    private static func parse(_ text: some StringProtocol, sloppy: Bool) throws(AddressError) -> Self {
        var value: UInt32 = 0
        var fields = 0
        var field: UInt32 = 0
        var digits = 0
        var leadingZero = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if digits == 0 { leadingZero = byte == UInt8(ascii: "0") }
                digits += 1
                field = field * 10 + UInt32(byte - UInt8(ascii: "0"))
                if digits > 3 || field > 255 {
                    throw AddressError(text, "IPv4 field out of range (0-255)")
                }
            case UInt8(ascii: "."):
                try finishField()
            default:
                throw AddressError(text, "not an IPv4 address (unexpected character)")
            }
        }
        try finishField()
        guard fields == 4 else { throw AddressError(text, "IPv4 address needs four fields") }
        return IPv4Address(value)

        func finishField() throws(AddressError) {
            guard digits > 0 else { throw AddressError(text, "empty field in IPv4 address") }
            guard fields < 4 else { throw AddressError(text, "IPv4 address has more than four fields") }
            if leadingZero && digits > 1 && !sloppy {
                throw AddressError(text, "IPv4 field with a leading zero is ambiguous")
            }
            value = value << 8 | field
            fields += 1
            field = 0
            digits = 0
        }
    }

    public var isLoopback: Bool { value >> 24 == 127 }
    public var isUnspecified: Bool { value == 0 }
    public var isMulticast: Bool { value >> 28 == 0xE }
    public var isLinkLocal: Bool { value >> 16 == 0xA9FE }
}

extension IPv4Address: CustomStringConvertible {
    public var description: String {
        let (a, b, c, d) = octets
        return "\(a).\(b).\(c).\(d)"
    }
}
