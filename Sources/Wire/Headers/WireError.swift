/// The header a `WireError` is about.
public enum HeaderKind: String, Sendable, Hashable {
    case ethernet, vlan, ipv4, ipv6, ipv6Extension, tcp, tcpOption, udp, sctp, icmpv4, icmpv6, vxlan
}

/// Why bytes could not be read as a header. Parsing never traps: every short or malformed
/// header ends here, with the header, the reason and the byte offset, counted from the start
/// of the view that was being parsed, where the problem was found.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        /// The header (or a length it states) needs `needed` bytes; only `available` are there.
        case truncated(needed: Int, available: Int)
        /// The version field is not this header's version.
        case badVersion(UInt8)
        /// A header-length field is below the minimum or inconsistent with another length.
        case badHeaderLength(Int)
        /// A total/payload length field is inconsistent.
        case badLength(Int)
        /// The checksum in the header (`found`) is not the computed one (`expected`).
        case badChecksum(expected: UInt32, found: UInt32)
        /// An option or extension is malformed (a length below its minimum, past the header's end).
        case malformedOption(kind: UInt8)
        /// A field holds a value the kernel rejects (a reserved flag set, a zero UDP checksum on IPv6...).
        case invalidField(String)
    }

    public var header: HeaderKind
    public var reason: Reason
    public var offset: Int

    public init(_ header: HeaderKind, _ reason: Reason, at offset: Int) {
        self.header = header
        self.reason = reason
        self.offset = offset
    }

    /// The same error, its offset counted from a view that starts `base` bytes earlier.
    public func shifted(by base: Int) -> WireError { WireError(header, reason, at: offset + base) }

    public var description: String {
        let what: String
        switch reason {
        case .truncated(let n, let a): what = "truncated: needs \(n) bytes, has \(a)"
        case .badVersion(let v): what = "version \(v)"
        case .badHeaderLength(let l): what = "bad header length \(l)"
        case .badLength(let l): what = "bad length \(l)"
        case .badChecksum(let e, let f): what = "bad checksum 0x\(String(f, radix: 16)), expected 0x\(String(e, radix: 16))"
        case .malformedOption(let k): what = "malformed option \(k)"
        case .invalidField(let f): what = "invalid \(f)"
        }
        return "\(header.rawValue) at byte \(offset): \(what)"
    }
}

/// Whether parse verifies checksums (smoltcp's ChecksumCapabilities, reduced to what replay
/// needs: captures taken with checksum offload carry unfilled checksums, so replay may ignore them).
public enum ChecksumPolicy: Sendable, Hashable {
    case verify
    case ignore
}

// Big-endian field access. The views hold an `UnsafeRawBufferPointer`: no reference counting,
// no copy, no allocation per packet, which is what a replay loop over a mapped capture needs.
// Every view checks its length once, at `init(checking:)`; accessors then read in bounds.
extension UnsafeRawBufferPointer {
    @inline(__always) func be16(_ i: Int) -> UInt16 { UInt16(self[i]) << 8 | UInt16(self[i + 1]) }
    @inline(__always) func be32(_ i: Int) -> UInt32 { UInt32(be16(i)) << 16 | UInt32(be16(i + 2)) }
    @inline(__always) func ipv4(_ i: Int) -> IPv4Address { IPv4Address(be32(i)) }
    @inline(__always) func ipv6(_ i: Int) -> IPv6Address {
        IPv6Address(UInt128(be32(i)) << 96 | UInt128(be32(i + 4)) << 64 | UInt128(be32(i + 8)) << 32 | UInt128(be32(i + 12)))
    }
    @inline(__always) func tail(from i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: self[i...]) }
    @inline(__always) func slice(_ i: Int, _ n: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: self[i..<(i + n)]) }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always) func put16(_ i: Int, _ v: UInt16) { self[i] = UInt8(v >> 8); self[i + 1] = UInt8(truncatingIfNeeded: v) }
    @inline(__always) func put32(_ i: Int, _ v: UInt32) { put16(i, UInt16(v >> 16)); put16(i + 2, UInt16(truncatingIfNeeded: v)) }
    @inline(__always) func put(_ i: Int, _ a: IPv4Address) { put32(i, a.value) }
    @inline(__always) func put(_ i: Int, _ a: IPv6Address) {
        for k in 0..<4 { put32(i + 4 * k, UInt32(truncatingIfNeeded: a.value >> (96 - 32 * k))) }
    }
    @inline(__always) func copy(_ i: Int, _ bytes: [UInt8]) { for (k, b) in bytes.enumerated() { self[i + k] = b } }
}

/// Emits a representation into a fresh array: for tests and tools, not the hot path.
@inline(__always) func emitted(_ length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: length)
    out.withUnsafeMutableBytes { body($0) }
    return out
}
