import CPcap
import Foundation

/// Timestamp resolution of a written pcap file.
public enum TimestampPrecision: Sendable {
    case microsecond, nanosecond
}

/// Writes a classic pcap file through libpcap (`pcap_open_dead_with_tstamp_precision`,
/// `pcap_dump_open`).
///
/// Records go to a temporary file beside the output (`.NAME.tmp-PID-RANDOM`), renamed onto the
/// output by `close()`; a writer dropped without `close()`, or a failed write, removes the
/// temporary file, so no half-written output is left behind. kdp writes EN10MB and LINUX_SLL2;
/// other link types are accepted too (tests build RAW and NULL files from real packets).
/// Not `Sendable`: it owns libpcap handles.
public final class CaptureWriter {
    public let path: String
    public let linkType: LinkType
    public let precision: TimestampPrecision
    private let temporaryPath: String
    private var dead: OpaquePointer?
    private var dumper: OpaquePointer?
    public private(set) var recordsWritten = 0

    public init(path: String, linkType: LinkType, precision: TimestampPrecision = .microsecond, snapshotLength: Int = 262_144) throws(CaptureError) {
        self.path = path
        self.linkType = linkType
        self.precision = precision
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        temporaryPath = folder + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let p = precision == .nanosecond ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO
        guard let d = pcap_open_dead_with_tstamp_precision(linkType.rawValue, Int32(snapshotLength), UInt32(p)) else {
            throw .cannotWrite(path: path, message: "pcap_open_dead failed for link type \(linkType)")
        }
        dead = d
        guard let dump = pcap_dump_open(d, temporaryPath) else {
            let message = String(cString: pcap_geterr(d))
            pcap_close(d)
            dead = nil
            throw .cannotWrite(path: path, message: message)
        }
        dumper = dump
    }

    deinit { abandon() }

    /// Appends one record. `originalLength` defaults to the bytes' count.
    public func write(_ bytes: UnsafeRawBufferPointer, timestampNanoseconds: Int64, originalLength: Int? = nil) throws(CaptureError) {
        guard let dumper else { throw .cannotWrite(path: path, message: "writer already closed") }
        var h = pcap_pkthdr()
        let seconds = timestampNanoseconds / 1_000_000_000
        let fraction = timestampNanoseconds - seconds * 1_000_000_000
        h.ts.tv_sec = Int(seconds)
        // libpcap keeps the sub-second part in tv_usec; with nanosecond precision it holds nanoseconds.
        h.ts.tv_usec = Int(precision == .nanosecond ? fraction : fraction / 1000)
        h.caplen = UInt32(bytes.count)
        h.len = UInt32(originalLength ?? bytes.count)
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        withUnsafePointer(to: &h) { hp in
            pcap_dump(UnsafeMutableRawPointer(dumper).assumingMemoryBound(to: UInt8.self), hp, base ?? UnsafePointer(bitPattern: 1)!)
        }
        recordsWritten += 1
    }

    /// Appends one record from an owned array.
    public func write(_ bytes: [UInt8], timestampNanoseconds: Int64, originalLength: Int? = nil) throws(CaptureError) {
        var failure: CaptureError?
        bytes.withUnsafeBytes { b in
            do throws(CaptureError) { try write(b, timestampNanoseconds: timestampNanoseconds, originalLength: originalLength) }
            catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Flushes, closes and renames the file into place. On failure the temporary file is removed.
    public func close() throws(CaptureError) {
        guard let dumper, let dead else { throw .cannotWrite(path: path, message: "writer already closed") }
        let flushFailed = pcap_dump_flush(dumper) != 0
        pcap_dump_close(dumper)
        pcap_close(dead)
        self.dumper = nil
        self.dead = nil
        if flushFailed {
            unlink(temporaryPath)
            throw .cannotWrite(path: path, message: "write failed: \(String(cString: strerror(errno)))")
        }
        if rename(temporaryPath, path) != 0 {
            let message = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw .cannotWrite(path: path, message: message)
        }
    }

    /// Drops the output: closes the handles and removes the temporary file.
    public func abandon() {
        if let dumper { pcap_dump_close(dumper) }
        if let dead { pcap_close(dead) }
        if dumper != nil || dead != nil { unlink(temporaryPath) }
        dumper = nil
        dead = nil
    }
}
