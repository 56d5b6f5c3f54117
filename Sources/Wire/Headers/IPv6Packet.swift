/// An IPv6 packet over bytes (RFC 8200): the fixed header; extension headers are walked by
/// `upperLayer()`.
public struct IPv6Packet {
    public static let headerLength = 40
    public let bytes: UnsafeRawBufferPointer

    /// Checks version and payload length against the bytes there are (trailing padding is cut).
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 40 else { throw WireError(.ipv6, .truncated(needed: 40, available: bytes.count), at: 0) }
        guard bytes[0] >> 4 == 6 else { throw WireError(.ipv6, .badVersion(bytes[0] >> 4), at: 0) }
        let total = 40 + Int(bytes.be16(4))
        guard bytes.count >= total else { throw WireError(.ipv6, .truncated(needed: total, available: bytes.count), at: 4) }
        self.bytes = bytes.slice(0, total)
    }

    public var trafficClass: UInt8 { UInt8(truncatingIfNeeded: bytes.be16(0) >> 4) }
    public var flowLabel: UInt32 { bytes.be32(0) & 0xF_FFFF }
    public var payloadLength: Int { Int(bytes.be16(4)) }
    /// The first next-header value: an extension header or the upper-layer protocol.
    public var nextHeader: IPProtocol { IPProtocol(rawValue: bytes[6]) }
    public var hopLimit: UInt8 { bytes[7] }
    public var source: IPv6Address { bytes.ipv6(8) }
    public var destination: IPv6Address { bytes.ipv6(24) }
    public var payload: UnsafeRawBufferPointer { bytes.tail(from: 40) }

    /// Walks hop-by-hop, routing, fragment, destination-options and AH headers to the
    /// upper-layer protocol, as the kernel's ipv6_skip_exthdr does.
    public func upperLayer() throws(WireError) -> IPv6UpperLayer { try IPv6UpperLayer.walk(bytes, first: nextHeader) }
}

/// Where an IPv6 packet's upper layer starts, and what the extension headers said on the way.
public struct IPv6UpperLayer: Hashable, Sendable {
    /// The upper-layer protocol (59, no next header, when there is none).
    public var proto: IPProtocol
    /// Byte offset of the upper-layer header from the start of the IPv6 header.
    public var offset: Int
    /// Extension headers crossed, as a bit set of `IPv6ExtensionHeader` kinds.
    public var extensions: IPv6ExtensionHeader
    /// The fragment header's fields, when there is one.
    public var fragment: IPv6Fragment?

    public static let noNextHeader = IPProtocol(rawValue: 59)

    static func walk(_ b: UnsafeRawBufferPointer, first: IPProtocol) throws(WireError) -> IPv6UpperLayer {
        var next = first
        var at = 40
        var seen: IPv6ExtensionHeader = []
        var fragment: IPv6Fragment?
        while let kind = IPv6ExtensionHeader(next) {
            guard b.count >= at + 8 else { throw WireError(.ipv6Extension, .truncated(needed: at + 8, available: b.count), at: at) }
            let length: Int
            switch kind {
            case .fragment:
                length = 8
                let f = b.be16(at + 2)
                fragment = IPv6Fragment(offset: Int(f & 0xFFF8), moreFragments: f & 1 != 0, identification: b.be32(at + 4))
            case .authentication: length = (Int(b[at + 1]) + 2) * 4
            default: length = (Int(b[at + 1]) + 1) * 8
            }
            guard b.count >= at + length else { throw WireError(.ipv6Extension, .truncated(needed: at + length, available: b.count), at: at) }
            seen.insert(kind)
            next = IPProtocol(rawValue: b[at])
            at += length
            // A non-first fragment carries no upper-layer header.
            if let f = fragment, f.offset != 0 { break }
        }
        return IPv6UpperLayer(proto: next, offset: at, extensions: seen, fragment: fragment)
    }
}

/// The extension headers the walk crosses, as a bit set.
public struct IPv6ExtensionHeader: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let hopByHop = IPv6ExtensionHeader(rawValue: 1)
    public static let routing = IPv6ExtensionHeader(rawValue: 2)
    public static let fragment = IPv6ExtensionHeader(rawValue: 4)
    public static let destinationOptions = IPv6ExtensionHeader(rawValue: 8)
    public static let authentication = IPv6ExtensionHeader(rawValue: 16)

    /// The kind a next-header value names, or nil for an upper-layer protocol.
    public init?(_ p: IPProtocol) {
        switch p.rawValue {
        case 0: self = .hopByHop
        case 43: self = .routing
        case 44: self = .fragment
        case 60: self = .destinationOptions
        case 51: self = .authentication
        default: return nil
        }
    }
}

/// The IPv6 fragment header's fields.
public struct IPv6Fragment: Hashable, Sendable {
    /// In bytes; a multiple of 8.
    public var offset: Int
    public var moreFragments: Bool
    public var identification: UInt32
}

/// A parsed IPv6 fixed header. Extension headers stay in the payload, so emit(parse(bytes))
/// gives the bytes back.
public struct IPv6Repr: Hashable, Sendable {
    public var source: IPv6Address
    public var destination: IPv6Address
    public var nextHeader: IPProtocol
    public var payloadLength: Int
    public var hopLimit: UInt8
    public var trafficClass: UInt8
    public var flowLabel: UInt32

    public init(source: IPv6Address, destination: IPv6Address, nextHeader: IPProtocol, payloadLength: Int,
                hopLimit: UInt8 = 64, trafficClass: UInt8 = 0, flowLabel: UInt32 = 0) {
        self.source = source
        self.destination = destination
        self.nextHeader = nextHeader
        self.payloadLength = payloadLength
        self.hopLimit = hopLimit
        self.trafficClass = trafficClass
        self.flowLabel = flowLabel
    }

    public static func parse(_ p: IPv6Packet) -> IPv6Repr {
        IPv6Repr(source: p.source, destination: p.destination, nextHeader: p.nextHeader, payloadLength: p.payloadLength,
                 hopLimit: p.hopLimit, trafficClass: p.trafficClass, flowLabel: p.flowLabel)
    }

    public var bufferLength: Int { 40 }

    public func emit(into b: UnsafeMutableRawBufferPointer) {
        b.put32(0, 0x6000_0000 | UInt32(trafficClass) << 20 | flowLabel & 0xF_FFFF)
        b.put16(4, UInt16(truncatingIfNeeded: payloadLength))
        b[6] = nextHeader.rawValue
        b[7] = hopLimit
        b.put(8, source)
        b.put(24, destination)
    }
}
