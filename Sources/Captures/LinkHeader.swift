/// The link-layer header of one captured record, decoded far enough to find the network layer.
///
/// A value type with no heap storage: decoding one costs a few loads per packet. Ethernet
/// frames are handed on whole (`payloadOffset` 0, `etherType` nil): their header and VLAN tags
/// are `Wire`'s to decode. The cooked (SLL, SLL2) and loopback (NULL, LOOP) headers are read
/// here, field by field as libpcap's `pcap/sll.h` lays them out (all SLL fields big-endian).
public struct LinkHeader: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// An Ethernet frame, passed on undecoded.
        case ethernet
        case linuxSLL(LinuxSLLHeader)
        case linuxSLL2(LinuxSLL2Header)
        /// Bare IP (RAW, IPV4, IPV6): the version nibble chose `etherType`.
        case rawIP
        case null(NullHeader)
    }

    public let kind: Kind
    /// Where the link's payload (for everything but Ethernet, the network-layer packet) starts.
    public let payloadOffset: Int
    /// The network-layer protocol as an EtherType (0x0800 IPv4, 0x86DD IPv6, ...), when the
    /// link header says it; nil for Ethernet (read it from the frame) and unknown families.
    public let etherType: UInt16?

    public static let etherTypeIPv4: UInt16 = 0x0800
    public static let etherTypeIPv6: UInt16 = 0x86DD
}

/// The SLL/SLL2 packet type: Linux's `PACKET_` values (`LINUX_SLL_HOST`...), which direction
/// the packet went through the capturing interface.
public struct LinuxPacketType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Sent to this host.
    public static let host = LinuxPacketType(rawValue: 0)
    public static let broadcast = LinuxPacketType(rawValue: 1)
    public static let multicast = LinuxPacketType(rawValue: 2)
    /// Sent to another host (seen in promiscuous mode).
    public static let otherHost = LinuxPacketType(rawValue: 3)
    /// Sent by this host.
    public static let outgoing = LinuxPacketType(rawValue: 4)

    public var description: String {
        switch rawValue {
        case 0: "In"
        case 1: "B"
        case 2: "M"
        case 3: "P"
        case 4: "Out"
        default: "type \(rawValue)"
        }
    }
}

/// A link-layer address of up to 8 bytes as SLL carries it (`sll_addr`, `sll_halen`), packed
/// big-endian into an integer so the header stays free of heap storage.
public struct LinkAddress: Hashable, Sendable, CustomStringConvertible {
    /// The first `length` bytes of the 8-byte field, first byte most significant, zero-padded.
    public let packed: UInt64
    /// The address's declared length (`halen`); can exceed 8 in a corrupt header, then only 8 are kept.
    public let length: UInt8

    public init(packed: UInt64, length: UInt8) {
        self.packed = packed
        self.length = length
    }

    /// The address bytes (at most 8).
    public var bytes: [UInt8] {
        (0..<min(Int(length), 8)).map { UInt8(truncatingIfNeeded: packed >> (56 - 8 * UInt64($0))) }
    }

    /// `aa:bb:cc:dd:ee:ff`, as tcpdump prints it.
    public var description: String {
        bytes.map { b in
            let h = String(b, radix: 16)
            return h.count == 1 ? "0" + h : h
        }.joined(separator: ":")
    }
}

/// A DLT_LINUX_SLL header (16 bytes): packet type, ARPHRD_ type, address length, 8-byte
/// address, protocol (`struct sll_header` in pcap/sll.h).
public struct LinuxSLLHeader: Hashable, Sendable {
    public let packetType: LinuxPacketType
    /// The link-layer address type, an `ARPHRD_` value (1 Ethernet, 772 loopback, 65534 none).
    public let hardwareType: UInt16
    public let address: LinkAddress
    /// The protocol field: an EtherType, or for non-Ethernet payloads one of `LINUX_SLL_P_`.
    public let `protocol`: UInt16
    public static let length = 16
}

/// A DLT_LINUX_SLL2 header (20 bytes): protocol, reserved, 1-based interface index, ARPHRD_
/// type, packet type, address length, 8-byte address (`struct sll2_header` in pcap/sll.h).
public struct LinuxSLL2Header: Hashable, Sendable {
    public let `protocol`: UInt16
    /// The capturing interface's index on the captured host (1-based); with `tcpdump -i any`
    /// this tells which interface each packet crossed.
    public let interfaceIndex: UInt32
    public let hardwareType: UInt16
    public let packetType: LinuxPacketType
    public let address: LinkAddress
    public static let length = 20
}

/// A DLT_NULL / DLT_LOOP header: a 4-byte address family.
public struct NullHeader: Hashable, Sendable {
    /// The family as the writer meant it (2 IPv4; 24, 28 or 30 IPv6 on the BSDs and Darwin; 10 IPv6 on Linux).
    public let family: UInt32
    /// Whether the field was read in the opposite order from the one DLT_NULL (writer's host
    /// order, guessed little-endian) or DLT_LOOP (network order) implies: a file from a
    /// big-endian host. As tcpdump does, a value with nonzero upper 16 bits is taken byte-swapped.
    public let swapped: Bool
    public static let length = 4

    public init(family: UInt32, swapped: Bool) {
        self.family = family
        self.swapped = swapped
    }
}

/// Why a record could not be decoded; the record is counted and reading goes on.
public enum UndecodableReason: Error, Hashable, Sendable, CustomStringConvertible {
    /// The captured bytes end before the link header does.
    case shorterThanLinkHeader(linkType: LinkType, captured: Int, needed: Int)
    /// A bare-IP record whose first nibble is not 4 or 6.
    case unknownIPVersion(UInt8)
    /// A link type this module does not decode.
    case unsupportedLinkType(LinkType)

    public var description: String {
        switch self {
        case let .shorterThanLinkHeader(t, captured, needed):
            "record of \(captured) bytes is shorter than its \(t) header (\(needed) bytes)"
        case let .unknownIPVersion(v): "raw IP record with IP version \(v)"
        case let .unsupportedLinkType(t): "link type \(t) is not decoded"
        }
    }
}

extension LinkHeader {
    /// Decodes the link header at the start of `bytes` for a record of link type `linkType`.
    /// Never reads past `bytes`; a record too short or otherwise undecodable throws its reason.
    public static func decode(_ bytes: UnsafeRawBufferPointer, linkType: LinkType) throws(UndecodableReason) -> LinkHeader {
        @inline(__always) func be16(_ o: Int) -> UInt16 { UInt16(bytes[o]) << 8 | UInt16(bytes[o + 1]) }
        @inline(__always) func be32(_ o: Int) -> UInt32 { UInt32(be16(o)) << 16 | UInt32(be16(o + 2)) }
        @inline(__always) func need(_ n: Int) throws(UndecodableReason) {
            if bytes.count < n { throw .shorterThanLinkHeader(linkType: linkType, captured: bytes.count, needed: n) }
        }
        func address(at o: Int, length: UInt8) -> LinkAddress {
            var packed: UInt64 = 0
            let n = min(Int(length), 8)
            for i in 0..<8 where i < n { packed |= UInt64(bytes[o + i]) << (56 - 8 * UInt64(i)) }
            return LinkAddress(packed: packed, length: length)
        }
        switch linkType {
        case .ethernet:
            try need(14)
            return LinkHeader(kind: .ethernet, payloadOffset: 0, etherType: nil)
        case .linuxSLL:
            try need(LinuxSLLHeader.length)
            let halen = be16(4)
            let h = LinuxSLLHeader(
                packetType: LinuxPacketType(rawValue: be16(0)), hardwareType: be16(2),
                address: address(at: 6, length: UInt8(truncatingIfNeeded: min(halen, 255))), protocol: be16(14))
            return LinkHeader(kind: .linuxSLL(h), payloadOffset: LinuxSLLHeader.length, etherType: h.protocol)
        case .linuxSLL2:
            try need(LinuxSLL2Header.length)
            let h = LinuxSLL2Header(
                protocol: be16(0), interfaceIndex: be32(4), hardwareType: be16(8),
                packetType: LinuxPacketType(rawValue: UInt16(bytes[10])), address: address(at: 12, length: bytes[11]))
            return LinkHeader(kind: .linuxSLL2(h), payloadOffset: LinuxSLL2Header.length, etherType: h.protocol)
        case .raw, .ipv4, .ipv6:
            try need(1)
            switch bytes[0] >> 4 {
            case 4: return LinkHeader(kind: .rawIP, payloadOffset: 0, etherType: etherTypeIPv4)
            case 6: return LinkHeader(kind: .rawIP, payloadOffset: 0, etherType: etherTypeIPv6)
            case let v: throw .unknownIPVersion(v)
            }
        case .null, .loop:
            try need(NullHeader.length)
            let big = be32(0)
            let little = big.byteSwapped
            // DLT_NULL: the writer's host order (little-endian is the common case); DLT_LOOP: network order.
            let natural = linkType == .loop ? big : little
            let swapped = natural & 0xFFFF_0000 != 0
            let family = swapped ? natural.byteSwapped : natural
            let etherType: UInt16? =
                switch family {
                case 2: etherTypeIPv4
                case 10, 24, 28, 30: etherTypeIPv6
                default: nil
                }
            return LinkHeader(kind: .null(NullHeader(family: family, swapped: swapped)), payloadOffset: 4, etherType: etherType)
        default:
            throw .unsupportedLinkType(linkType)
        }
    }
}
