import CPcap
import Foundation

/// One record of a capture, as `CaptureReader.next()` returns it.
///
/// `bytes` points into libpcap's read buffer: it is valid only until the next call to
/// `next()` (or the reader's end), and must not be kept. `copyBytes()` gives an owned copy.
/// This keeps the read loop free of allocation: one record costs what `pcap_next_ex` costs.
public struct CaptureRecord {
    /// The record's 1-based position in the file, counting records a filter skipped.
    public let number: Int
    /// Nanoseconds since the Unix epoch (the reader asks libpcap for nanosecond precision, so
    /// microsecond files read as multiples of 1000).
    public let timestampNanoseconds: Int64
    /// Bytes captured (`caplen`): `bytes.count`.
    public let capturedLength: Int
    /// The packet's length on the wire (`len`); larger than `capturedLength` when the snaplen cut it.
    public let originalLength: Int
    public let linkType: LinkType
    /// The captured bytes, valid until the next `next()`: see the type's note.
    public let bytes: UnsafeRawBufferPointer

    /// An owned copy of the captured bytes (one allocation).
    public func copyBytes() -> [UInt8] { Array(bytes) }

    /// The decoded link header, or why the record cannot be decoded.
    public func linkHeader() throws(UndecodableReason) -> LinkHeader {
        try LinkHeader.decode(bytes, linkType: linkType)
    }
}

/// A record that could not be decoded, kept as an example for the report.
public struct UndecodableRecord: Hashable, Sendable {
    public let number: Int
    public let reason: UndecodableReason

    public init(number: Int, reason: UndecodableReason) {
        self.number = number
        self.reason = reason
    }
}

/// Streams a pcap or pcapng file one record at a time through libpcap
/// (`pcap_open_offline_with_tstamp_precision` at nanosecond precision, `pcap_next_ex`).
///
/// Memory stays flat whatever the file's size: libpcap holds one record's buffer. Not
/// `Sendable`: it owns a `pcap_t` and libpcap's buffer, used from one thread at a time.
public final class CaptureReader {
    public let path: String
    public let linkType: LinkType
    /// Whether the file is pcapng (else classic pcap).
    public let isPCAPNG: Bool
    /// The capture's snapshot length.
    public let snapshotLength: Int
    /// Records read so far, including those the filter skipped.
    // What `next()` reads and writes per record skips the runtime's exclusivity check
    // (swift_beginAccess, a tenth of reading a record): a reader has one caller at a time and
    // is never re-entered.
    @exclusivity(unchecked) public private(set) var recordsRead = 0
    /// Records `nextDecoded()` could not decode, and the first `undecodableExamplesLimit` of them.
    @exclusivity(unchecked) public private(set) var undecodableCount = 0
    @exclusivity(unchecked) public private(set) var undecodableExamples: [UndecodableRecord] = []
    public static let undecodableExamplesLimit = 16

    private let handle: OpaquePointer
    @exclusivity(unchecked) private var program = bpf_program()
    @exclusivity(unchecked) private var hasFilter = false
    /// The stdio buffer libpcap reads the file through.
    static let readBufferBytes = 1 << 20
    private let readBuffer: UnsafeMutablePointer<CChar>
    /// Byte offset of the next record in a classic pcap file (24-byte file header, 16-byte record headers).
    @exclusivity(unchecked) private var nextOffset = 24

    /// Opens `path`; `filter`, when given, is a BPF expression compiled for the file's link type
    /// and applied to every record (`pcap_offline_filter`), so record numbers stay the file's.
    public init(path: String, filter: String? = nil) throws(CaptureError) {
        self.path = path
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        // The file is opened here rather than by libpcap so that its stdio buffer can be made
        // large: libpcap freads each record through it, and the default 4 KiB buffer made one
        // read(2) per 4 KiB (87,000 for the replay benchmark's 357 MB file; 341 with 1 MiB,
        // and replay went from 1.44 to 1.56 M packets/s). pcap_close closes the stream; a
        // stream libpcap refuses is closed here.
        guard let file = fopen(path, "rb") else {
            throw .cannotOpen(path: path, message: "\(path): \(String(cString: strerror(errno)))")
        }
        // glibc takes the size only with a buffer of the caller's (given none, it allocates
        // its default); this one is freed after pcap_close in deinit.
        readBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Self.readBufferBytes)
        setvbuf(file, readBuffer, _IOFBF, Self.readBufferBytes)
        guard let h = pcap_fopen_offline_with_tstamp_precision(file, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf) else {
            fclose(file)
            readBuffer.deallocate()
            throw .cannotOpen(path: path, message: String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        handle = h
        linkType = LinkType(rawValue: pcap_datalink(h))
        snapshotLength = Int(pcap_snapshot(h))
        isPCAPNG = Self.startsWithPCAPNGMagic(path)
        if let filter {
            guard pcap_compile(h, &program, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
                // Every stored property is set, so throwing runs deinit, which closes the handle.
                let message = String(cString: pcap_geterr(h))
                throw .badFilter(expression: filter, message: message)
            }
            hasFilter = true
        }
    }

    deinit {
        if hasFilter { pcap_freecode(&program) }
        pcap_close(handle)
        readBuffer.deallocate()
    }

    private static func startsWithPCAPNGMagic(_ path: String) -> Bool {
        guard let f = fopen(path, "rb") else { return false }
        defer { fclose(f) }
        var magic: UInt32 = 0
        guard fread(&magic, 4, 1, f) == 1 else { return false }
        return magic == 0x0A0D_0D0A
    }

    /// The next record that passes the filter, or nil at the end of the file. A file that ends
    /// inside a record throws `.truncated` with the record's number (libpcap 1.10 returns -1
    /// with "truncated dump file; tried to read N ... bytes, only got M").
    public func next() throws(CaptureError) -> CaptureRecord? {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while true {
            let status = pcap_next_ex(handle, &header, &data)
            if status == PCAP_ERROR_BREAK { return nil }
            let number = recordsRead + 1
            guard status == 1, let header, let data else {
                let message = String(cString: pcap_geterr(handle))
                if message.contains("truncated") {
                    throw .truncated(path: path, packet: number, byteOffset: isPCAPNG ? nil : nextOffset, message: message)
                }
                throw .readFailed(path: path, packet: number, message: message)
            }
            recordsRead = number
            let h = header.pointee
            nextOffset += 16 + Int(h.caplen)
            if hasFilter, pcap_offline_filter(&program, header, data) == 0 { continue }
            return CaptureRecord(
                number: number,
                timestampNanoseconds: Int64(h.ts.tv_sec) * 1_000_000_000 + Int64(h.ts.tv_usec),
                capturedLength: Int(h.caplen), originalLength: Int(h.len), linkType: linkType,
                bytes: UnsafeRawBufferPointer(start: data, count: Int(h.caplen)))
        }
    }

    /// The next record whose link header decodes, with that header. Records that do not
    /// decode (shorter than their link header...) are counted with their reason and number in
    /// `undecodableCount` / `undecodableExamples`, and reading goes on.
    public func nextDecoded() throws(CaptureError) -> (record: CaptureRecord, link: LinkHeader)? {
        while let record = try next() {
            do {
                return (record, try record.linkHeader())
            } catch {
                undecodableCount += 1
                if undecodableExamples.count < Self.undecodableExamplesLimit {
                    undecodableExamples.append(UndecodableRecord(number: record.number, reason: error))
                }
            }
        }
        return nil
    }
}
