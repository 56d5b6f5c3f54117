import Captures
import Foundation
import Testing

/// Everything a test wants from one record, copied out of libpcap's buffer.
struct ReadRecord: Equatable {
    let number: Int
    let timestamp: Int64
    let originalLength: Int
    let bytes: [UInt8]
}

func readAll(_ path: String, filter: String? = nil) throws -> [ReadRecord] {
    let reader = try CaptureReader(path: path, filter: filter)
    var out: [ReadRecord] = []
    while let r = try reader.next() {
        #expect(r.capturedLength == r.bytes.count)
        out.append(ReadRecord(number: r.number, timestamp: r.timestampNanoseconds, originalLength: r.originalLength, bytes: r.copyBytes()))
    }
    return out
}

/// This process's scratch folder for capture tests, removed when the test process exits.
let scratchFolder: String = {
    let folder = NSTemporaryDirectory() + "kdp-cap13-\(getpid())"
    atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "kdp-cap13-\(getpid())") }
    return folder
}()

func temporaryFolder() throws -> String {
    let folder = scratchFolder + "/\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    return folder
}

func writeCapture(_ path: String, linkType: LinkType, precision: TimestampPrecision = .microsecond, _ records: [(Int64, [UInt8])]) throws {
    let w = try CaptureWriter(path: path, linkType: linkType, precision: precision)
    for (ts, bytes) in records { try w.write(bytes, timestampNanoseconds: ts) }
    try w.close()
}

/// A minimal pcapng file (little-endian): a Section Header Block, one Interface Description
/// Block (EN10MB, if_tsresol 9 = nanoseconds) and one Enhanced Packet Block per record, laid
/// out as in draft-ietf-opsawg-pcapng (tcpdump here writes only pcap, and editcap is absent).
func pcapngFile(linkType: UInt16, records: [(Int64, [UInt8])]) -> [UInt8] {
    var out: [UInt8] = []
    func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
    func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
    // SHB: type, length 28, byte-order magic, version 1.0, section length -1, length.
    u32(0x0A0D_0D0A); u32(28); u32(0x1A2B_3C4D); u16(1); u16(0); u32(0xFFFF_FFFF); u32(0xFFFF_FFFF); u32(28)
    // IDB: type 1, length 32, link type, reserved, snaplen, if_tsresol(9) = 9 padded, opt_endofopt, length.
    u32(1); u32(32); u16(linkType); u16(0); u32(262_144)
    u16(9); u16(1); out += [9, 0, 0, 0]
    u16(0); u16(0); u32(32)
    for (ts, bytes) in records {
        let padded = (bytes.count + 3) & ~3
        let length = UInt32(32 + padded)
        u32(6); u32(length); u32(0); u32(UInt32(UInt64(ts) >> 32)); u32(UInt32(truncatingIfNeeded: UInt64(ts)))
        u32(UInt32(bytes.count)); u32(UInt32(bytes.count))
        out += bytes
        out += [UInt8](repeating: 0, count: padded - bytes.count)
        u32(length)
    }
    return out
}
