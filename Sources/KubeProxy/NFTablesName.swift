import Netfilter

/// kube-proxy's nftables object names (proxier.go `hashAndTruncate`, `servicePortChainNameBase`,
/// `servicePortEndpointChainNameBase`): the first 8 characters of the standard base32 of the
/// SHA-256 of the base name, a hyphen, the base name; cut to 240 characters with `...`.
public enum NFTablesName {
    static let baseLengthMax = 256 - 16

    static func hashAndTruncate(_ name: String) -> String {
        hashAndTruncate(bytes: Array(name.utf8))
    }

    /// `hashAndTruncate` of a name given as its UTF-8 bytes: hashed and copied without
    /// building the name as a `String` first.
    static func hashAndTruncate(bytes name: [UInt8]) -> String {
        // The first 8 base32 characters are exactly the first 5 bytes' 40 bits.
        let hash = name.withUnsafeBytes { ChainName.hashPrefix(bytes: $0, characters: 8) }
        var out = hash
        out.reserveCapacity(hash.count + 1 + name.count)
        out.append(UInt8(ascii: "-"))
        out.append(contentsOf: name)
        if out.count > baseLengthMax {
            out = Array(out.prefix(baseLengthMax - 3)) + Array("...".utf8)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `HASH-namespace/service/protocol/port`.
    public static func servicePortBase(_ port: ServicePortName, protocolName: String) -> String {
        hashAndTruncate("\(port.namespace)/\(port.name)/\(protocolName)/\(port.port)")
    }

    /// `HASH-namespace/service/protocol/port__ip/port` from the endpoint's `ip:port` (or
    /// `[ip6]:port`) text as kube-proxy holds it, an IPv6 address's colons as dots. Built as
    /// bytes: a Service port's endpoints each pay one of these, and a SHA-256.
    public static func endpointBase(_ port: ServicePortName, protocolName: String, endpoint: String) -> String {
        var name: [UInt8] = []
        name.reserveCapacity(port.namespace.utf8.count + port.name.utf8.count + endpoint.utf8.count + 24)
        name.append(contentsOf: port.namespace.utf8)
        name.append(UInt8(ascii: "/"))
        name.append(contentsOf: port.name.utf8)
        name.append(UInt8(ascii: "/"))
        name.append(contentsOf: protocolName.utf8)
        name.append(UInt8(ascii: "/"))
        name.append(contentsOf: String(port.port).utf8)
        name.append(contentsOf: "__".utf8)
        // net.SplitHostPort: the host is what precedes the last colon, brackets removed.
        let text = Array(endpoint.utf8)
        var hostStart = 0, hostEnd = text.count, portStart = text.count
        if let colon = text.lastIndex(of: UInt8(ascii: ":")) {
            hostEnd = colon
            portStart = colon + 1
        }
        if hostEnd - hostStart >= 2, text[hostStart] == UInt8(ascii: "["), text[hostEnd - 1] == UInt8(ascii: "]") {
            hostStart += 1
            hostEnd -= 1
        }
        for b in text[hostStart..<hostEnd] { name.append(b == UInt8(ascii: ":") ? UInt8(ascii: ".") : b) }
        name.append(UInt8(ascii: "/"))
        name.append(contentsOf: text[portStart...])
        return hashAndTruncate(bytes: name)
    }
}
