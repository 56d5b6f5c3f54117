import Captures
import Foundation
import Testing

/// Capture files built in the test (no root needed): bad files, short records, writer behaviour.
@Suite struct CaptureFileTests {
    let ipv4Packet: [UInt8] = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]
    var ethernetFrame: [UInt8] { [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00] + ipv4Packet }

    @Test func fileThatIsNotACaptureIsACannotOpenErrorNamingIt() throws {
        let folder = try temporaryFolder()
        let path = folder + "/notes.txt"
        try Data("this is not a capture\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try CaptureReader(path: path)
        } throws: { e in
            guard case let .cannotOpen(p, message) = e as? CaptureError else { return false }
            return p == path && !message.isEmpty && (e as! CaptureError).description.hasPrefix(path)
        }
        #expect(throws: CaptureError.self) { try CaptureReader(path: folder + "/missing.pcap") }
    }

    @Test func recordsShorterThanTheirLinkHeaderAreCountedWithTheirNumbersAndReadingGoesOn() throws {
        let folder = try temporaryFolder()
        let path = folder + "/short.pcap"
        try writeCapture(path, linkType: .ethernet, [(1_000, ethernetFrame), (2_000, [1, 2, 3]), (3_000, ethernetFrame), (4_000, Array(ethernetFrame.prefix(13)))])
        let reader = try CaptureReader(path: path)
        var numbers: [Int] = []
        while let (record, link) = try reader.nextDecoded() {
            numbers.append(record.number)
            #expect(link.kind == .ethernet)
        }
        #expect(numbers == [1, 3])
        #expect(reader.undecodableCount == 2)
        #expect(reader.undecodableExamples == [
            UndecodableRecord(number: 2, reason: .shorterThanLinkHeader(linkType: .ethernet, captured: 3, needed: 14)),
            UndecodableRecord(number: 4, reason: .shorterThanLinkHeader(linkType: .ethernet, captured: 13, needed: 14)),
        ])
    }

    @Test func writerLeavesNothingBehindWhenAbandonedOrWhenTheFolderIsMissing() throws {
        let folder = try temporaryFolder()
        do {
            let w = try CaptureWriter(path: folder + "/out.pcap", linkType: .ethernet)
            try w.write(ethernetFrame, timestampNanoseconds: 5)
            w.abandon()
        }
        do {
            let w = try CaptureWriter(path: folder + "/dropped.pcap", linkType: .linuxSLL2)
            try w.write(ethernetFrame, timestampNanoseconds: 5)
            _ = w  // dropped without close()
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == [])
        #expect(throws: CaptureError.self) { try CaptureWriter(path: folder + "/no/such/dir/out.pcap", linkType: .ethernet) }
    }

    @Test func writerRenamesOnlyOnCloseAndKeepsNanosecondTimestamps() throws {
        let folder = try temporaryFolder()
        let path = folder + "/out.pcap"
        let w = try CaptureWriter(path: path, linkType: .linuxSLL2, precision: .nanosecond)
        let sll2: [UInt8] = [0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0] + ipv4Packet
        try w.write(sll2, timestampNanoseconds: 1_764_756_000_123_456_789, originalLength: 1500)
        #expect(!FileManager.default.fileExists(atPath: path))
        try w.close()
        let records = try readAll(path)
        #expect(records == [ReadRecord(number: 1, timestamp: 1_764_756_000_123_456_789, originalLength: 1500, bytes: sll2)])
        #expect(try CaptureReader(path: path).linkType == .linuxSLL2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["out.pcap"])
    }

    @Test func microsecondFilesReadAsWholeMicroseconds() throws {
        let folder = try temporaryFolder()
        let path = folder + "/us.pcap"
        try writeCapture(path, linkType: .ethernet, precision: .microsecond, [(1_764_756_000_123_456_789, ethernetFrame)])
        #expect(try readAll(path).map(\.timestamp) == [1_764_756_000_123_456_000])
    }

    @Test func truncatedFileNamesThePacketAndTheRecordsByteOffset() throws {
        let folder = try temporaryFolder()
        let path = folder + "/t.pcap"
        try writeCapture(path, linkType: .ethernet, [(1, ethernetFrame), (2, ethernetFrame), (3, ethernetFrame)])
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        let recordSize = 16 + ethernetFrame.count
        // Cut inside the third record's data, then inside its 16-byte record header.
        for cut in [5, ethernetFrame.count + 8] {
            let cutPath = folder + "/cut-\(cut).pcap"
            try whole.prefix(whole.count - cut).write(to: URL(fileURLWithPath: cutPath))
            let reader = try CaptureReader(path: cutPath)
            #expect(try reader.next()?.number == 1)
            #expect(try reader.next()?.number == 2)
            #expect {
                _ = try reader.next()
            } throws: { e in
                guard case let .truncated(p, packet, offset, message) = e as? CaptureError else { return false }
                return p == cutPath && packet == 3 && offset == 24 + 2 * recordSize && message.contains("truncated")
            }
        }
        // Cut at a record boundary: a shorter, valid file.
        let boundary = folder + "/boundary.pcap"
        try whole.prefix(whole.count - recordSize).write(to: URL(fileURLWithPath: boundary))
        #expect(try readAll(boundary).count == 2)
    }

    @Test func truncatedPCAPNGNamesThePacket() throws {
        let folder = try temporaryFolder()
        let path = folder + "/t.pcapng"
        let bytes = pcapngFile(linkType: 1, records: [(1, ethernetFrame), (2, ethernetFrame)])
        try Data(bytes.dropLast(6)).write(to: URL(fileURLWithPath: path))
        let reader = try CaptureReader(path: path)
        #expect(reader.isPCAPNG)
        #expect(try reader.next()?.number == 1)
        #expect {
            _ = try reader.next()
        } throws: { e in
            guard case let .truncated(_, packet, offset, _) = e as? CaptureError else { return false }
            return packet == 2 && offset == nil
        }
    }

    @Test func badFilterIsATypedErrorWithLibpcapsMessage() throws {
        let folder = try temporaryFolder()
        let path = folder + "/f.pcap"
        try writeCapture(path, linkType: .ethernet, [(1, ethernetFrame)])
        #expect {
            _ = try CaptureReader(path: path, filter: "tcp port banana")
        } throws: { e in
            guard case let .badFilter(expression, message) = e as? CaptureError else { return false }
            return expression == "tcp port banana" && message.contains("banana")
        }
    }

    @Test func bareIPAndLoopbackFilesDecodeToTheirNetworkLayer() throws {
        let folder = try temporaryFolder()
        let cases: [(LinkType, [UInt8], Int)] = [
            (.raw, ipv4Packet, 0), (.ipv4, ipv4Packet, 0),
            (.null, [2, 0, 0, 0] + ipv4Packet, 4), (.loop, [0, 0, 0, 2] + ipv4Packet, 4),
        ]
        for (t, bytes, offset) in cases {
            let path = folder + "/\(t.rawValue).pcap"
            try writeCapture(path, linkType: t, [(1, bytes)])
            let reader = try CaptureReader(path: path)
            #expect(reader.linkType == t)
            let (record, link) = try #require(try reader.nextDecoded())
            #expect(link.payloadOffset == offset && link.etherType == 0x0800)
            #expect(Array(record.bytes[offset...]) == ipv4Packet)
        }
    }
}
