/// An inclusive range of L4 ports, such as a NodePort range or an iptables `--dport 80:90`.
public struct PortRange: Hashable, Sendable {
    public let lower: UInt16
    public let upper: UInt16

    public init(_ lower: UInt16, _ upper: UInt16) {
        precondition(lower <= upper)
        self.lower = lower
        self.upper = upper
    }

    public init(_ port: UInt16) { self.init(port, port) }

    public var count: Int { Int(upper) - Int(lower) + 1 }

    public func contains(_ port: UInt16) -> Bool { lower <= port && port <= upper }

    /// Parses `N`, or `N-M` / `N:M` (Kubernetes writes `30000-32767`, iptables `80:90`).
    /// iptables also allows an open end (`:1024`, `1024:`), as `allowOpenEnds`.
    public init(parsing text: some StringProtocol, allowOpenEnds: Bool = false) throws(AddressError) {
        let parts = text.split(omittingEmptySubsequences: false) { $0 == "-" || $0 == ":" }
        switch parts.count {
        case 1:
            self.init(try Self.port(parts[0], in: text))
        case 2:
            let lo = parts[0].isEmpty && allowOpenEnds ? 0 : try Self.port(parts[0], in: text)
            let hi = parts[1].isEmpty && allowOpenEnds ? UInt16.max : try Self.port(parts[1], in: text)
            guard lo <= hi else { throw AddressError(text, "port range runs backwards") }
            self.init(lo, hi)
        default:
            throw AddressError(text, "not a port or port range")
        }
    }

    /// Parses one port number, 0-65535.
    public static func port(_ text: some StringProtocol, in whole: some StringProtocol) throws(AddressError) -> UInt16 {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = UInt16(text) else {
            throw AddressError(whole, "port must be a number 0-65535")
        }
        return n
    }
}

extension PortRange: CustomStringConvertible {
    /// Kubernetes spelling: `30000-32767`, or a single port.
    public var description: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }
}
