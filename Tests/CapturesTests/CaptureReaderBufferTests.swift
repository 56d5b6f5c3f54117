import Foundation
import Testing
@testable import Captures

/// `CaptureReader` reads through a 1 MiB stdio buffer of its own: records that straddle its
/// refills, and a file several buffers long, read back whole and in order.
@Suite struct CaptureReaderBufferTests {
    @Test func recordsAcrossManyBufferRefillsReadBackExactly() throws {
        let path = try temporaryFolder() + "/long.pcap"
        // Record sizes that do not divide the buffer, so records straddle refills.
        let sizes = (0..<5_000).map { 60 + ($0 * 7919) % 1_400 }
        let total = sizes.reduce(0) { $0 + 16 + $1 }
        #expect(total > 3 * CaptureReader.readBufferBytes)
        let w = try CaptureWriter(path: path, linkType: .raw, precision: .nanosecond)
        for (i, n) in sizes.enumerated() {
            try w.write((0..<n).map { UInt8(truncatingIfNeeded: i &+ $0) }, timestampNanoseconds: Int64(i) * 1_000)
        }
        try w.close()
        let r = try CaptureReader(path: path)
        var i = 0
        while let record = try r.next() {
            #expect(record.capturedLength == sizes[i])
            #expect(record.timestampNanoseconds == Int64(i) * 1_000)
            let expected = (0..<sizes[i]).map { UInt8(truncatingIfNeeded: i &+ $0) }
            #expect(Array(record.bytes) == expected, "record \(i + 1)")
            i += 1
        }
        #expect(i == sizes.count)
    }

    @Test func aMissingFileIsACannotOpenErrorNamingItAndWhy() {
        let path = "/nonexistent-kdp-\(getpid())/x.pcap"
        #expect {
            _ = try CaptureReader(path: path)
        } throws: { e in
            guard case let .cannotOpen(p, message) = e as? CaptureError else { return false }
            return p == path && message.contains("No such file or directory")
        }
    }
}
