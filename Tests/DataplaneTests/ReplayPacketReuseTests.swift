import Captures
import Foundation
import Netfilter
import Testing
import TestSupport
import Wire
@testable import Dataplane

/// Replay decodes every record into one reused `ReplayPacket` (`decode(_:link:keepBytes:into:)`).
/// Nothing of one record may leak into the next: an ICMP error after a TCP segment, a segment
/// after an error, a `-i any` record after an Ethernet one.
@Suite struct ReplayPacketReuseTests {
    static let captures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("captures")

    /// Every field replay reads, in one comparable value.
    struct Fields: Equatable {
        var number: Int, timestamp: Int64, flow: FlowKey, packet: Netfilter.Packet, quoted: FlowKey?
        var interfaceIndex: UInt32?, packetType: LinuxPacketType?, bytes: [UInt8]?, badChecksum: Bool

        init(_ p: ReplayPacket) {
            number = p.number
            timestamp = p.timestampNanoseconds
            flow = p.flow
            packet = p.packet
            quoted = p.quoted
            interfaceIndex = p.interfaceIndex
            packetType = p.packetType
            bytes = p.bytes
            badChecksum = p.badTransportChecksum
        }
    }

    /// A record's fields decoded fresh, and decoded into the packet the records before it used.
    static func compare(_ path: String, keepBytes: Bool) throws -> Int {
        let fresh = try CaptureReader(path: path), reused = try CaptureReader(path: path)
        var packet = ReplayPacket()
        var compared = 0
        while let (record, link) = try fresh.nextDecoded() {
            let (record2, link2) = try #require(try reused.nextDecoded())
            let skip = ReplayPacket.decode(record2, link: link2, keepBytes: keepBytes, into: &packet)
            switch ReplayPacket.decode(record, link: link, keepBytes: keepBytes) {
            case .success(let p):
                #expect(skip == nil, "record \(record.number)")
                #expect(Fields(p) == Fields(packet), "record \(record.number) of \(path)")
                compared += 1
            case .failure(let s):
                #expect(skip == s, "record \(record.number)")
            }
        }
        return compared
    }

    @Test(arguments: ["dns-udp.pcap", "http-web.pcap", "nodeport.pcap", "refused.pcap", "affinity.pcap", "demo.pcapng", "node-any.pcap"])
    func aReusedPacketDecodesEveryShippedRecordAsAFreshOneDoes(_ name: String) throws {
        let path = Self.captures.appendingPathComponent(name).path
        #expect(try Self.compare(path, keepBytes: true) > 0)
        #expect(try Self.compare(path, keepBytes: false) > 0)
    }

    /// ICMP fields (type, code, echo id, the quoted flow) set by one record are reset by the
    /// next: a TCP segment after a port unreachable carries no quote and the default type.
    @Test func anICMPErrorsFieldsDoNotLeakIntoTheNextRecord() throws {
        var f = PacketFactory()
        let query = PacketFactory.udp("10.244.1.2", 40001, "10.244.0.2", 53)
        f.add(query)
        f.add(PacketFactory.unreachable("10.244.0.2", "10.244.1.2", code: 3, quoting: query))
        f.add(PacketFactory.tcp("10.244.1.2", 40003, "10.96.0.10", 80, .syn))
        f.add(PacketFactory.unreachable("10.244.2.2", "10.244.1.2", code: 3, quoting: query))
        f.add(PacketFactory.udp("10.244.1.2", 40004, "10.244.0.2", 53))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-reuse-\(getpid()).pcap").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try f.write(to: path)
        #expect(try Self.compare(path, keepBytes: false) == f.frames.count)
    }
}
