import Captures
import Foundation
import Wire

/// One packet of a capture file, decoded by `Captures` (link header) and `Wire` (Ethernet, IPv4,
/// TCP, UDP, ICMP, every checksum verified), with what the capture tests look at copied out.
public struct DecodedPacket: Sendable {
    public let number: Int
    public let timestampNanoseconds: Int64
    /// SLL2 captures: the interface index and packet type tcpdump recorded.
    public let sll2: LinuxSLL2Header?
    public let flow: FlowKey
    /// TCP only.
    public let tcpFlags: TCPFlags?
    /// The TCP or UDP payload.
    public let payload: [UInt8]
    /// ICMP only.
    public let icmp: ICMPRepr?
    /// ICMP errors: the packet they quote.
    public let quoted: QuotedPacket?

    public var isSYN: Bool { tcpFlags.map { $0.contains(.syn) && !$0.contains(.ack) } ?? false }
    public var isSYNACK: Bool { tcpFlags.map { $0.contains(.syn) && $0.contains(.ack) } ?? false }
    public var isFIN: Bool { tcpFlags?.contains(.fin) ?? false }
}

/// A whole capture read through `CaptureReader`: small files only (everything is kept).
public struct DecodedCapture: Sendable {
    public let path: String
    public let linkType: LinkType
    public let isPCAPNG: Bool
    public let packets: [DecodedPacket]
    /// Records that did not decode: "packet N: why".
    public let undecodable: [String]

    public init(path: String) throws {
        let reader = try CaptureReader(path: path)
        var packets: [DecodedPacket] = []
        var undecodable: [String] = []
        while let record = try reader.next() {
            do {
                packets.append(try Self.decode(record))
            } catch {
                undecodable.append("packet \(record.number): \(error)")
            }
        }
        self.path = path
        linkType = reader.linkType
        isPCAPNG = reader.isPCAPNG
        self.packets = packets
        self.undecodable = undecodable
    }

    struct NotIPv4: Error, CustomStringConvertible {
        let description: String
    }

    static func decode(_ record: CaptureRecord) throws -> DecodedPacket {
        let link = try record.linkHeader()
        var sll2: LinuxSLL2Header?
        let ipOffset: Int
        let etherType: UInt16?
        switch link.kind {
        case .ethernet:
            let frame = try EthernetFrame(checking: record.bytes)
            (ipOffset, etherType) = (frame.headerLength, frame.etherType.rawValue)
        case .linuxSLL2(let h):
            sll2 = h
            (ipOffset, etherType) = (link.payloadOffset, link.etherType)
        default:
            (ipOffset, etherType) = (link.payloadOffset, link.etherType)
        }
        guard etherType == LinkHeader.etherTypeIPv4 else { throw NotIPv4(description: "EtherType \(etherType.map { String($0, radix: 16) } ?? "none"), not IPv4") }
        let packet = try IPv4Packet(checking: UnsafeRawBufferPointer(rebasing: record.bytes[ipOffset...]))
        let ip = try IPv4Repr.parse(packet, checksum: .verify)
        let src = IPAddress.v4(ip.source), dst = IPAddress.v4(ip.destination)
        let body = UnsafeRawBufferPointer(rebasing: packet.bytes[ip.bufferLength..<(ip.bufferLength + ip.payloadLength)])
        switch ip.proto {
        case .tcp:
            let segment = try TCPSegment(checking: body)
            let tcp = try TCPRepr.parse(segment, source: src, destination: dst, checksum: .verify)
            return DecodedPacket(number: record.number, timestampNanoseconds: record.timestampNanoseconds, sll2: sll2,
                                 flow: FlowKey(source: src, sourcePort: tcp.sourcePort, destination: dst, destinationPort: tcp.destinationPort, proto: .tcp),
                                 tcpFlags: tcp.flags, payload: Array(segment.payload), icmp: nil, quoted: nil)
        case .udp:
            let datagram = try UDPDatagram(checking: body)
            let udp = try UDPRepr.parse(datagram, source: src, destination: dst, checksum: .verify)
            return DecodedPacket(number: record.number, timestampNanoseconds: record.timestampNanoseconds, sll2: sll2,
                                 flow: FlowKey(source: src, sourcePort: udp.sourcePort, destination: dst, destinationPort: udp.destinationPort, proto: .udp),
                                 tcpFlags: nil, payload: Array(datagram.payload), icmp: nil, quoted: nil)
        case .icmp:
            let message = try ICMPMessage(checking: body, v6: false)
            let icmp = try ICMPRepr.parse(message, source: src, destination: dst, checksum: .verify)
            return DecodedPacket(number: record.number, timestampNanoseconds: record.timestampNanoseconds, sll2: sll2,
                                 flow: try FlowKey(ipPacket: packet.bytes), tcpFlags: nil, payload: [], icmp: icmp,
                                 quoted: message.isError ? try message.quoted() : nil)
        default:
            throw NotIPv4(description: "protocol \(ip.proto) is not TCP, UDP or ICMP")
        }
    }
}
