/// A 48-bit MAC address, held in the low bits of a `UInt64`.
public struct EthernetAddress: Hashable, Sendable, CustomStringConvertible {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value & 0xFFFF_FFFF_FFFF }

    public var description: String {
        (0..<6).map { k in
            let b = UInt8(truncatingIfNeeded: value >> (40 - 8 * k))
            return (b < 16 ? "0" : "") + String(b, radix: 16)
        }.joined(separator: ":")
    }
}

/// The EtherType (or TPID) field.
public struct EtherType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let ipv4 = EtherType(rawValue: 0x0800)
    public static let arp = EtherType(rawValue: 0x0806)
    public static let ipv6 = EtherType(rawValue: 0x86DD)
    /// 802.1Q customer tag.
    public static let vlan = EtherType(rawValue: 0x8100)
    /// 802.1ad service tag (QinQ outer tag).
    public static let qinq = EtherType(rawValue: 0x88A8)

    var isTag: Bool { self == .vlan || self == .qinq }
}

/// One 802.1Q/802.1ad tag: its TPID and TCI (priority, drop-eligible, VLAN id).
public struct VLANTag: Hashable, Sendable {
    public var tpid: EtherType
    public var priority: UInt8
    public var dropEligible: Bool
    public var id: UInt16

    public init(tpid: EtherType = .vlan, priority: UInt8 = 0, dropEligible: Bool = false, id: UInt16) {
        self.tpid = tpid
        self.priority = priority
        self.dropEligible = dropEligible
        self.id = id
    }

    var tci: UInt16 { UInt16(priority & 7) << 13 | (dropEligible ? 0x1000 : 0) | id & 0xFFF }
    init(tpid: EtherType, tci: UInt16) {
        self.init(tpid: tpid, priority: UInt8(tci >> 13), dropEligible: tci & 0x1000 != 0, id: tci & 0xFFF)
    }
}

/// An Ethernet II frame over bytes, with up to two VLAN tags (802.1Q, or QinQ: an 802.1ad or
/// 802.1Q outer tag then an 802.1Q inner tag), as Linux's vlan code accepts them.
public struct EthernetFrame {
    public static let headerLength = 14
    public let bytes: UnsafeRawBufferPointer
    /// Bytes before the payload: 14, plus 4 per tag.
    public let headerLength: Int

    /// Checks that the header and every tag are present.
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 14 else { throw WireError(.ethernet, .truncated(needed: 14, available: bytes.count), at: 0) }
        var at = 12
        var tags = 0
        while EtherType(rawValue: bytes.be16(at)).isTag {
            guard tags < 2 else { throw WireError(.vlan, .invalidField("third VLAN tag"), at: at) }
            guard bytes.count >= at + 6 else { throw WireError(.vlan, .truncated(needed: at + 6, available: bytes.count), at: at) }
            tags += 1
            at += 4
        }
        self.bytes = bytes
        headerLength = at + 2
    }

    public var destination: EthernetAddress { EthernetAddress(UInt64(bytes.be16(0)) << 32 | UInt64(bytes.be32(2))) }
    public var source: EthernetAddress { EthernetAddress(UInt64(bytes.be16(6)) << 32 | UInt64(bytes.be32(8))) }
    /// The EtherType after the tags: what the payload is.
    public var etherType: EtherType { EtherType(rawValue: bytes.be16(headerLength - 2)) }
    public var tagCount: Int { (headerLength - 14) / 4 }
    /// The tag at `index` (0 is the outermost).
    public func tag(_ index: Int) -> VLANTag { VLANTag(tpid: EtherType(rawValue: bytes.be16(12 + 4 * index)), tci: bytes.be16(14 + 4 * index)) }
    public var payload: UnsafeRawBufferPointer { bytes.tail(from: headerLength) }
}

/// A parsed Ethernet header. Two optional tags instead of an array: no allocation.
public struct EthernetRepr: Hashable, Sendable {
    public var destination: EthernetAddress
    public var source: EthernetAddress
    public var outerTag: VLANTag?
    public var innerTag: VLANTag?
    public var etherType: EtherType

    public init(destination: EthernetAddress, source: EthernetAddress, outerTag: VLANTag? = nil, innerTag: VLANTag? = nil, etherType: EtherType) {
        self.destination = destination
        self.source = source
        self.outerTag = outerTag
        self.innerTag = innerTag
        self.etherType = etherType
    }

    public static func parse(_ frame: EthernetFrame) -> EthernetRepr {
        EthernetRepr(destination: frame.destination, source: frame.source,
                     outerTag: frame.tagCount > 0 ? frame.tag(0) : nil,
                     innerTag: frame.tagCount > 1 ? frame.tag(1) : nil,
                     etherType: frame.etherType)
    }

    public var bufferLength: Int { 14 + (outerTag == nil ? 0 : 4) + (innerTag == nil ? 0 : 4) }

    /// Writes the header (`bufferLength` bytes) at the start of `buffer`.
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        buffer.put16(0, UInt16(truncatingIfNeeded: destination.value >> 32)); buffer.put32(2, UInt32(truncatingIfNeeded: destination.value))
        buffer.put16(6, UInt16(truncatingIfNeeded: source.value >> 32)); buffer.put32(8, UInt32(truncatingIfNeeded: source.value))
        var at = 12
        if let tag = outerTag { buffer.put16(at, tag.tpid.rawValue); buffer.put16(at + 2, tag.tci); at += 4 }
        if let tag = innerTag { buffer.put16(at, tag.tpid.rawValue); buffer.put16(at + 2, tag.tci); at += 4 }
        buffer.put16(at, etherType.rawValue)
    }
}
