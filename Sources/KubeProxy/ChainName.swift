import Crypto
import Netfilter

/// The name of a chain kube-proxy (or kubelet) writes: its fixed chains by name, its per-port
/// and per-endpoint chains from a hash, and the built-in chains it jumps from. Rules name their
/// chain with this type, so the compilers compare and switch on names without string literals;
/// the text appears only where rules are printed or handed to Netfilter.
public struct ChainName: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The chain's name as iptables spells it.
    public let rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    /// The built-in chain of `hook`.
    public init(_ hook: Hook) { rawValue = hook.rawValue }

    public var description: String { rawValue }

    /// Whether the chain is one of kube-proxy's or kubelet's (`KUBE-` prefix), which upstream's
    /// test sort (`sortIPTablesRules`) puts before any other.
    public var isKube: Bool { rawValue.hasPrefix("KUBE-") }

    // iptables mode (pkg/proxy/iptables/proxier.go).
    public static let services: ChainName = "KUBE-SERVICES"
    public static let externalServices: ChainName = "KUBE-EXTERNAL-SERVICES"
    public static let forward: ChainName = "KUBE-FORWARD"
    public static let nodePorts: ChainName = "KUBE-NODEPORTS"
    public static let proxyFirewall: ChainName = "KUBE-PROXY-FIREWALL"
    public static let postrouting: ChainName = "KUBE-POSTROUTING"
    public static let markMasq: ChainName = "KUBE-MARK-MASQ"
    /// kubelet's anti-martian chain (kube-proxy writes its own copy with localhost nodePorts).
    public static let firewall: ChainName = "KUBE-FIREWALL"

    // IPVS mode (pkg/proxy/ipvs/proxier.go `iptablesChains`).
    public static let ipvsNodePort: ChainName = "KUBE-NODE-PORT"
    public static let ipvsLoadBalancer: ChainName = "KUBE-LOAD-BALANCER"
    public static let sourceRangesFirewall: ChainName = "KUBE-SOURCE-RANGES-FIREWALL"
    public static let ipvsFilter: ChainName = "KUBE-IPVS-FILTER"
    public static let ipvsOutFilter: ChainName = "KUBE-IPVS-OUT-FILTER"

    // The canaries and the hint (pkg/util/iptables `iptables.Monitor`, kubelet).
    public static let kubeletCanary: ChainName = "KUBE-KUBELET-CANARY"
    public static let proxyCanary: ChainName = "KUBE-PROXY-CANARY"
    public static let iptablesHint: ChainName = "KUBE-IPTABLES-HINT"

    /// A service port's chains, from `servicePortHash`.
    public static func serviceCluster(_ hash: String) -> ChainName { ChainName("KUBE-SVC-" + hash) }
    public static func serviceLocal(_ hash: String) -> ChainName { ChainName("KUBE-SVL-" + hash) }
    public static func serviceExternal(_ hash: String) -> ChainName { ChainName("KUBE-EXT-" + hash) }
    public static func serviceFirewall(_ hash: String) -> ChainName { ChainName("KUBE-FW-" + hash) }
    /// An endpoint's chain, from `endpointHash`.
    public static func endpoint(_ hash: String) -> ChainName { ChainName("KUBE-SEP-" + hash) }
}

/// kube-proxy's chain hashes (proxier.go `portProtoHash`, `servicePortEndpointChainName`):
/// SHA-256 of the port string and lower-case protocol (and the endpoint for KUBE-SEP), no
/// separator, standard base32, first 16 characters.
extension ChainName {
    public static func servicePortHash(_ portName: String, _ protocolName: String) -> String {
        hash(portName + protocolName)
    }

    public static func endpointHash(_ portName: String, _ protocolName: String, _ endpoint: String) -> String {
        hash(portName + protocolName + endpoint)
    }

    static func hash(_ input: String) -> String { hashPrefix(input, characters: 16) }

    /// The first `characters` (≤ 51) base32 characters of the SHA-256 of `input`: what
    /// `base32(sha256)[:n]` gives, without encoding the rest of the digest.
    /// Cost: one SHA-256 over the UTF-8 bytes and one small string; no intermediate arrays.
    static func hashPrefix(_ input: String, characters: Int) -> String {
        var input = input
        let digest = input.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        return digest.withUnsafeBytes { bytes in
            String(unsafeUninitializedCapacity: characters) { base32Prefix(of: bytes, into: $0, characters: characters) }
        }
    }

    /// `hashPrefix` of bytes, into bytes (base32 is ASCII): for names built as bytes.
    static func hashPrefix(bytes input: UnsafeRawBufferPointer, characters: Int) -> [UInt8] {
        let digest = SHA256.hash(data: input)
        return digest.withUnsafeBytes { bytes in
            [UInt8](unsafeUninitializedCapacity: characters) { out, count in
                count = base32Prefix(of: bytes, into: out, characters: characters)
            }
        }
    }

    /// Writes the first `characters` base32 characters of `bytes` into `out`; returns how many.
    @inline(__always)
    static func base32Prefix(of bytes: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<UInt8>, characters: Int) -> Int {
        let alphabet = base32Alphabet
        var buffer: UInt64 = 0, bits = 0, i = 0, n = 0
        while n < characters {
            if bits < 5 {
                buffer = buffer << 8 | UInt64(bytes[i])
                i += 1
                bits += 8
            }
            out[n] = alphabet[Int(buffer >> UInt64(bits - 5) & 31)]
            bits -= 5
            n += 1
        }
        return characters
    }

    static let base32Alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// RFC 4648 base32 (A–Z, 2–7), as Go's `base32.StdEncoding`.
    static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = base32Alphabet
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
