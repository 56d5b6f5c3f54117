import Crypto

/// kube-proxy's chain names (proxier.go `portProtoHash`, `servicePortEndpointChainName`):
/// SHA-256 of the port string and lower-case protocol (and the endpoint for KUBE-SEP), no
/// separator, standard base32, first 16 characters.
public enum ChainName {
    public static func servicePortHash(_ portName: String, _ protocolName: String) -> String {
        hash(portName + protocolName)
    }

    public static func endpointHash(_ portName: String, _ protocolName: String, _ endpoint: String) -> String {
        hash(portName + protocolName + endpoint)
    }

    static func hash(_ input: String) -> String {
        let digest = Array(SHA256.hash(data: Array(input.utf8)))
        return String(base32(digest).prefix(16))
    }

    /// RFC 4648 base32 (A–Z, 2–7), as Go's `base32.StdEncoding`.
    static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int(buffer >> UInt32(bits - 5) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int(buffer << UInt32(5 - bits) & 31)]) }
        while out.count % 8 != 0 { out.append(UInt8(ascii: "=")) }
        return String(decoding: out, as: UTF8.self)
    }
}
