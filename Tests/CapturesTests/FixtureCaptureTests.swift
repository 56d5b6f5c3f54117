import Captures
import Foundation
import Testing

/// The committed recordings in Fixtures/ (scripts/record-capture-fixtures.sh: 3 UDP datagrams to
/// a closed port, 3 ICMP port unreachable back, one 10-segment TCP connection, 2 ARP), read
/// without root. Counts were taken with `tcpdump -nnr` on the same files.
@Suite struct FixtureCaptureTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Fixtures"

    @Test func nanosecondEthernetFixtureReadsEighteenRecordsWithNanosecondStamps() throws {
        let path = Self.folder + "/en10mb-ns.pcap"
        #expect(try CaptureReader(path: path).linkType == .ethernet)
        let records = try readAll(path)
        #expect(records.count == 18)
        // tcpdump --time-stamp-precision=nano -tt prints 1796293569.636894010 for the first.
        #expect(records.first?.timestamp == 1_796_293_569_636_894_010)
        #expect(try readAll(path, filter: "icmp").count == 3)
        #expect(try readAll(path, filter: "tcp port 8080").count == 10)
    }

    @Test func sll2FixtureKeepsDirectionAndInterfaceOfEveryRecord() throws {
        let reader = try CaptureReader(path: Self.folder + "/sll2.pcap")
        #expect(reader.linkType == .linuxSLL2)
        var incoming = 0, outgoing = 0, indexes = Set<UInt32>()
        while let (_, link) = try reader.nextDecoded() {
            guard case let .linuxSLL2(h) = link.kind else { Issue.record("not SLL2"); continue }
            if h.packetType == .host { incoming += 1 }
            if h.packetType == .outgoing { outgoing += 1 }
            indexes.insert(h.interfaceIndex)
        }
        #expect(incoming == 8 && outgoing == 10)
        #expect(indexes.count == 1)
        #expect(reader.undecodableCount == 0 && reader.recordsRead == 18)
    }
}
