import Captures
import Foundation
import Testing
import TestSupport

/// Captures recorded from the real kernel with tcpdump (see `RecordedCaptures`), read back and
/// compared with what tcpdump itself reads from the same files.
@Suite(.enabled(if: RecordedCaptures.available || KernelCheck.isCI, "needs root, tcpdump, ip and python3 (records in its own network namespaces)"))
struct RecordedCaptureTests {
    /// The IPv4 records of an Ethernet capture: (number, frame).
    func ipv4Frames(_ records: [ReadRecord]) -> [ReadRecord] {
        records.filter { $0.bytes.count > 14 && $0.bytes[12] == 0x08 && $0.bytes[13] == 0x00 }
    }

    @Test func ethernetMicrosecondCaptureReadsEveryRecordTcpdumpReads() throws {
        let c = try RecordedCaptures.get()
        let reader = try CaptureReader(path: c.ethernetMicro)
        #expect(reader.linkType == .ethernet && !reader.isPCAPNG)
        let records = try readAll(c.ethernetMicro)
        #expect(records.count == (try tcpdumpRead(c.ethernetMicro)).count)
        #expect(records.map(\.number) == Array(1...records.count))
        #expect(records.allSatisfy { $0.timestamp % 1000 == 0 })
        // 3 UDP + 3 ICMP port unreachable, and at least 8 TCP segments.
        #expect(ipv4Frames(records).count >= 14)
    }

    @Test func nanosecondTimestampsEqualTcpdumpsNanosecondPrint() throws {
        let c = try RecordedCaptures.get()
        let records = try readAll(c.ethernetNano)
        let lines = try tcpdumpRead(c.ethernetNano, ["--time-stamp-precision=nano", "-tt"])
        #expect(records.count == lines.count && !records.isEmpty)
        for (r, line) in zip(records, lines) {
            let stamp = line.prefix { $0 != " " }.split(separator: ".")
            #expect(Int64(stamp[0])! * 1_000_000_000 + Int64(stamp[1])! == r.timestamp)
        }
        #expect(records.contains { $0.timestamp % 1000 != 0 })
    }

    @Test func anyInterfaceCaptureIsSLL2WithInterfaceIndexAndPacketType() throws {
        let c = try RecordedCaptures.get()
        let reader = try CaptureReader(path: c.sll2)
        #expect(reader.linkType == .linuxSLL2)
        var onA0: [LinuxSLL2Header] = []
        var count = 0
        while let (record, link) = try reader.nextDecoded() {
            count += 1
            guard case let .linuxSLL2(h) = link.kind else { Issue.record("record \(record.number) is not SLL2"); continue }
            #expect(link.payloadOffset == 20)
            if h.interfaceIndex == c.a0Index { onA0.append(h) }
            if link.etherType == 0x0800 { #expect(record.bytes[20] >> 4 == 4) }
        }
        #expect(reader.undecodableCount == 0)
        #expect(count == (try tcpdumpRead(c.sll2)).count)
        #expect(onA0.count >= 14)
        #expect(onA0.contains { $0.packetType == .outgoing && $0.address.description == c.a0MAC && $0.hardwareType == 1 })
        #expect(onA0.contains { $0.packetType == .host })
    }

    @Test func cookedV1CaptureIsSLLWithTheSendersAddress() throws {
        let c = try RecordedCaptures.get()
        let reader = try CaptureReader(path: c.sll)
        #expect(reader.linkType == .linuxSLL)
        var headers: [LinuxSLLHeader] = []
        while let (_, link) = try reader.nextDecoded() {
            guard case let .linuxSLL(h) = link.kind else { Issue.record("not SLL"); continue }
            #expect(link.payloadOffset == 16)
            headers.append(h)
        }
        #expect(headers.count == (try tcpdumpRead(c.sll)).count)
        #expect(headers.contains { $0.packetType == .outgoing && $0.address.description == c.a0MAC && $0.protocol == 0x0800 })
        #expect(headers.contains { $0.packetType == .host && $0.hardwareType == 1 })
    }

    @Test func pcapngOfTheRecordedPacketsReadsTheSameRecords() throws {
        let c = try RecordedCaptures.get()
        let records = try readAll(c.ethernetNano)
        let path = try temporaryFolder() + "/recorded.pcapng"
        try Data(pcapngFile(linkType: 1, records: records.map { ($0.timestamp, $0.bytes) })).write(to: URL(fileURLWithPath: path))
        let reader = try CaptureReader(path: path)
        #expect(reader.isPCAPNG && reader.linkType == .ethernet)
        #expect(try readAll(path) == records)
        #expect((try tcpdumpRead(path)).count == records.count)
    }

    @Test(arguments: [TimestampPrecision.microsecond, .nanosecond])
    func writtenCopiesReadBackEqualAndTcpdumpPrintsThemAsTheOriginals(_ precision: TimestampPrecision) throws {
        let c = try RecordedCaptures.get()
        let folder = try temporaryFolder()
        for (source, linkType) in [(c.ethernetNano, LinkType.ethernet), (c.sll2, .linuxSLL2)] {
            let records = try readAll(source)
            let copy = folder + "/copy-\(linkType.rawValue).pcap"
            let w = try CaptureWriter(path: copy, linkType: linkType, precision: precision)
            for r in records { try w.write(r.bytes, timestampNanoseconds: r.timestamp, originalLength: r.originalLength) }
            try w.close()
            let back = try readAll(copy)
            #expect(back.map(\.bytes) == records.map(\.bytes))
            #expect(back.map(\.timestamp) == records.map { precision == .nanosecond ? $0.timestamp : $0.timestamp / 1000 * 1000 })
            #expect(try tcpdumpRead(copy, ["-tt"]) == (try tcpdumpRead(source, ["-tt"])))
        }
    }

    @Test func bareIPAndNullCopiesOfRealPacketsPrintAsTheEthernetOriginals() throws {
        let c = try RecordedCaptures.get()
        let frames = ipv4Frames(try readAll(c.ethernetMicro))
        let folder = try temporaryFolder()
        let expected = try tcpdumpRead(c.ethernetMicro, ["-tt", "ip"])
        for (t, prefix) in [(LinkType.raw, [UInt8]()), (.ipv4, []), (.null, [2, 0, 0, 0]), (.loop, [0, 0, 0, 2])] {
            let path = folder + "/\(t.rawValue).pcap"
            try writeCapture(path, linkType: t, frames.map { ($0.timestamp, prefix + $0.bytes[14...]) })
            let reader = try CaptureReader(path: path)
            var n = 0
            while let (record, link) = try reader.nextDecoded() {
                n += 1
                #expect(link.etherType == 0x0800 && link.payloadOffset == prefix.count)
                #expect(Array(record.bytes[prefix.count...]) == Array(frames[n - 1].bytes[14...]))
            }
            #expect(n == frames.count)
            // tcpdump prints link-less lines with "IP ..." just as for Ethernet without -e.
            #expect(try tcpdumpRead(path, ["-tt"]) == expected, "link type \(t)")
        }
    }

    @Test(arguments: ["icmp", "udp port 5353", "tcp[tcpflags] & tcp-fin != 0"])
    func filterSelectsWhatTcpdumpSelectsAndKeepsFileNumbers(_ filter: String) throws {
        let c = try RecordedCaptures.get()
        for path in [c.ethernetMicro, c.sll2] {
            let all = try readAll(path)
            let selected = try readAll(path, filter: filter)
            #expect(!selected.isEmpty)
            #expect(selected.count == (try tcpdumpRead(path, [filter])).count)
            for r in selected { #expect(all[r.number - 1] == r) }
        }
    }

    @Test func truncatedRealCaptureNamesTheLastPacket() throws {
        let c = try RecordedCaptures.get()
        let records = try readAll(c.ethernetMicro)
        let whole = try Data(contentsOf: URL(fileURLWithPath: c.ethernetMicro))
        let path = try temporaryFolder() + "/cut.pcap"
        try whole.prefix(whole.count - 3).write(to: URL(fileURLWithPath: path))
        let offset = whole.count - 16 - records.last!.bytes.count
        let reader = try CaptureReader(path: path)
        #expect {
            while try reader.next() != nil {}
        } throws: { e in
            guard case let .truncated(p, packet, o, _) = e as? CaptureError else { return false }
            return p == path && packet == records.count && o == offset
        }
    }
}
