/// An IP address and a port, as `a.b.c.d:port` or `[v6]:port`: one type for every place that
/// reads or writes an endpoint (ipvsadm's dumps, IPVS scenarios, trace targets), so the
/// bracket and colon rules live here only.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(_ address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// Parses `a.b.c.d:port` or `[v6]:port` (RFC 3986's authority, as Go's `net.JoinHostPort`
    /// and ipvsadm write it). IPv6 must be in brackets and IPv4 must not; the port is 0–65535
    /// in decimal digits. Addresses parse strictly (`IPAddress(parsing:)`).
    /// - Complexity: O(n) in the text's length.
    public init(parsing text: some StringProtocol) throws(AddressError) {
        let s = Substring(text)
        let (host, portText) = Self.splitHostPort(s)
        guard let portText else { throw AddressError(text, "expected ip:port, or [ipv6]:port") }
        guard !portText.isEmpty, portText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let port = UInt16(portText) else {
            throw AddressError(text, "port is not 0-65535")
        }
        let address = try IPAddress(parsing: host)
        guard s.hasPrefix("[") == (address.family == .ipv6) else {
            throw AddressError(text, "an IPv6 address takes brackets, an IPv4 address none")
        }
        self.init(address, port: port)
    }

    /// Splits `host[:port]` text where the host may also be a name, lexically: `[v6]` in
    /// brackets, optionally followed by `:port` (other text after `]` is no port); a bare IPv6
    /// address (two or more colons) has no port; otherwise the port follows the one colon.
    /// Nothing is parsed: the caller decides what the host and the port may be.
    /// - Complexity: O(n) in the text's length.
    public static func splitHostPort(_ text: Substring) -> (host: Substring, port: Substring?) {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            return (host, rest.hasPrefix(":") ? rest.dropFirst() : nil)
        }
        var colons = 0
        var colon = text.endIndex
        for i in text.indices where text[i] == ":" {
            colons += 1
            colon = i
        }
        guard colons == 1 else { return (text, nil) }  // no port, or a bare IPv6 address
        return (text[..<colon], text[text.index(after: colon)...])
    }

    /// `ip:port`, with IPv6 (RFC 5952 text) in brackets: `10.0.0.1:80`, `[fd00::1]:80`.
    public var description: String {
        switch address {
        case .v4(let a): "\(a):\(port)"
        case .v6(let a): "[\(a)]:\(port)"
        }
    }
}
