/// A TCP segment over bytes (RFC 9293), with an allocation-free option walk.
public struct TCPSegment {
    public let bytes: UnsafeRawBufferPointer

    /// Checks the fixed header and the data offset against the bytes there are.
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 20 else { throw WireError(.tcp, .truncated(needed: 20, available: bytes.count), at: 0) }
        let hl = Int(bytes[12] >> 4) * 4
        guard hl >= 20 else { throw WireError(.tcp, .badHeaderLength(hl), at: 12) }
        guard bytes.count >= hl else { throw WireError(.tcp, .truncated(needed: hl, available: bytes.count), at: 12) }
        self.bytes = bytes
    }

    public var sourcePort: UInt16 { bytes.be16(0) }
    public var destinationPort: UInt16 { bytes.be16(2) }
    public var sequenceNumber: UInt32 { bytes.be32(4) }
    public var acknowledgmentNumber: UInt32 { bytes.be32(8) }
    public var headerLength: Int { Int(bytes[12] >> 4) * 4 }
    /// The reserved nibble and the historic NS bit (byte 12's low bits), kept for round trips.
    public var reserved: UInt8 { bytes[12] & 0xF }
    public var flags: TCPFlags { TCPFlags(rawValue: bytes[13]) }
    public var window: UInt16 { bytes.be16(14) }
    public var checksum: UInt16 { bytes.be16(16) }
    public var urgentPointer: UInt16 { bytes.be16(18) }
    public var options: UnsafeRawBufferPointer { bytes.slice(20, headerLength - 20) }
    public var payload: UnsafeRawBufferPointer { bytes.tail(from: headerLength) }

    /// The checksum over the pseudo-header and the whole segment is zero when valid.
    public func checksumIsValid(source: IPAddress, destination: IPAddress) -> Bool {
        InternetChecksum.finish(InternetChecksum.sum(bytes, initial: InternetChecksum.pseudoHeader(source: source, destination: destination, proto: .tcp, length: bytes.count))) == 0
    }

    /// The checksum the segment should carry.
    public func computedChecksum(source: IPAddress, destination: IPAddress) -> UInt16 {
        let ph = InternetChecksum.pseudoHeader(source: source, destination: destination, proto: .tcp, length: bytes.count)
        return InternetChecksum.finish(InternetChecksum.sum(bytes.slice(0, 16), initial: InternetChecksum.sum(bytes.tail(from: 18), initial: ph)))
    }
}

/// One TCP option as it stands in the header.
public enum TCPOption: Hashable, Sendable {
    case endOfList
    case noOperation
    case maxSegmentSize(UInt16)
    case windowScale(UInt8)
    case sackPermitted
    /// Left and right edges of up to four blocks.
    case sack([SACKBlock])
    case timestamps(value: UInt32, echoReply: UInt32)
    /// Any other kind, its data kept as bytes.
    case unknown(kind: UInt8, data: [UInt8])

    var length: Int {
        switch self {
        case .endOfList, .noOperation: 1
        case .maxSegmentSize: 4
        case .windowScale: 3
        case .sackPermitted: 2
        case .sack(let b): 2 + 8 * b.count
        case .timestamps: 10
        case .unknown(_, let d): 2 + d.count
        }
    }

    func emit(into b: UnsafeMutableRawBufferPointer, at i: Int) {
        switch self {
        case .endOfList: b[i] = 0
        case .noOperation: b[i] = 1
        case .maxSegmentSize(let m): b[i] = 2; b[i + 1] = 4; b.put16(i + 2, m)
        case .windowScale(let s): b[i] = 3; b[i + 1] = 3; b[i + 2] = s
        case .sackPermitted: b[i] = 4; b[i + 1] = 2
        case .sack(let blocks):
            b[i] = 5; b[i + 1] = UInt8(2 + 8 * blocks.count)
            for (k, s) in blocks.enumerated() { b.put32(i + 2 + 8 * k, s.left); b.put32(i + 6 + 8 * k, s.right) }
        case .timestamps(let v, let e): b[i] = 8; b[i + 1] = 10; b.put32(i + 2, v); b.put32(i + 6, e)
        case .unknown(let k, let d): b[i] = k; b[i + 1] = UInt8(2 + d.count); b.copy(i + 2, d)
        }
    }
}

public struct SACKBlock: Hashable, Sendable {
    public var left: UInt32
    public var right: UInt32
    public init(left: UInt32, right: UInt32) { self.left = left; self.right = right }
}

/// Walks a TCP header's options without allocating (except SACK and unknown options' data).
public struct TCPOptionIterator: IteratorProtocol {
    let bytes: UnsafeRawBufferPointer
    var at = 0
    /// Bytes after an end-of-list option, which the walk does not read as options.
    public private(set) var trailerStart: Int?

    public init(_ options: UnsafeRawBufferPointer) { bytes = options }

    /// The next option; throws for an option whose length is wrong or runs past the header.
    public mutating func nextOption() throws(WireError) -> TCPOption? {
        guard at < bytes.count, trailerStart == nil else { return nil }
        let kind = bytes[at]
        if kind == 0 { at += 1; trailerStart = at; return .endOfList }
        if kind == 1 { at += 1; return .noOperation }
        guard at + 2 <= bytes.count else { throw WireError(.tcpOption, .truncated(needed: at + 2, available: bytes.count), at: 20 + at) }
        let len = Int(bytes[at + 1])
        guard len >= 2 else { throw WireError(.tcpOption, .malformedOption(kind: kind), at: 20 + at + 1) }
        guard at + len <= bytes.count else { throw WireError(.tcpOption, .truncated(needed: at + len, available: bytes.count), at: 20 + at + 1) }
        let i = at
        at += len
        switch (kind, len) {
        case (2, 4): return .maxSegmentSize(bytes.be16(i + 2))
        case (3, 3): return .windowScale(bytes[i + 2])
        case (4, 2): return .sackPermitted
        case (5, _) where (len - 2) % 8 == 0 && len > 2:
            return .sack((0..<(len - 2) / 8).map { SACKBlock(left: bytes.be32(i + 2 + 8 * $0), right: bytes.be32(i + 6 + 8 * $0)) })
        case (8, 10): return .timestamps(value: bytes.be32(i + 2), echoReply: bytes.be32(i + 6))
        case (2, _), (3, _), (4, _), (5, _), (8, _): throw WireError(.tcpOption, .malformedOption(kind: kind), at: 20 + i + 1)
        default: return .unknown(kind: kind, data: Array(bytes.slice(i + 2, len - 2)))
        }
    }

    public mutating func next() -> TCPOption? { try? nextOption() }
}

/// A parsed TCP header.
public struct TCPRepr: Hashable, Sendable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequenceNumber: UInt32
    public var acknowledgmentNumber: UInt32
    public var flags: TCPFlags
    public var window: UInt16
    public var urgentPointer: UInt16
    public var reserved: UInt8
    /// Options in header order, NOPs and end-of-list included, so emit gives the same bytes.
    public var options: [TCPOption]
    /// Bytes after an end-of-list option, the header's padding included (normally zeros), so
    /// emit gives the same bytes; a repr whose options and trailer do not fill a multiple of 4
    /// is padded with zeros on emit and parses back with the padding in the trailer.
    public var optionTrailer: [UInt8]
    public var payloadLength: Int

    public init(sourcePort: UInt16, destinationPort: UInt16, sequenceNumber: UInt32 = 0, acknowledgmentNumber: UInt32 = 0,
                flags: TCPFlags, window: UInt16 = 65535, urgentPointer: UInt16 = 0, reserved: UInt8 = 0,
                options: [TCPOption] = [], optionTrailer: [UInt8] = [], payloadLength: Int = 0) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.sequenceNumber = sequenceNumber
        self.acknowledgmentNumber = acknowledgmentNumber
        self.flags = flags
        self.window = window
        self.urgentPointer = urgentPointer
        self.reserved = reserved
        self.options = options
        self.optionTrailer = optionTrailer
        self.payloadLength = payloadLength
    }

    /// Parses the header; with `.verify`, checks the checksum over the pseudo-header of
    /// `source` and `destination`.
    public static func parse(_ s: TCPSegment, source: IPAddress, destination: IPAddress, checksum: ChecksumPolicy = .verify) throws(WireError) -> TCPRepr {
        if checksum == .verify, !s.checksumIsValid(source: source, destination: destination) {
            throw WireError(.tcp, .badChecksum(expected: UInt32(s.computedChecksum(source: source, destination: destination)), found: UInt32(s.checksum)), at: 16)
        }
        var options: [TCPOption] = []
        var it = TCPOptionIterator(s.options)
        while let o = try it.nextOption() { options.append(o) }
        let trailer = it.trailerStart.map { Array(s.options.tail(from: $0)) } ?? []
        return TCPRepr(sourcePort: s.sourcePort, destinationPort: s.destinationPort, sequenceNumber: s.sequenceNumber,
                       acknowledgmentNumber: s.acknowledgmentNumber, flags: s.flags, window: s.window,
                       urgentPointer: s.urgentPointer, reserved: s.reserved, options: options, optionTrailer: trailer,
                       payloadLength: s.payload.count)
    }

    public var maxSegmentSize: UInt16? { for case .maxSegmentSize(let m) in options { return m }; return nil }
    public var windowScale: UInt8? { for case .windowScale(let w) in options { return w }; return nil }
    public var sackPermitted: Bool { options.contains(.sackPermitted) }
    public var timestamps: (value: UInt32, echoReply: UInt32)? { for case .timestamps(let v, let e) in options { return (v, e) }; return nil }

    /// Header bytes: 20 plus the options, padded with zeros to a multiple of 4.
    public var bufferLength: Int { 20 + (options.reduce(0) { $0 + $1.length } + optionTrailer.count + 3) / 4 * 4 }

    /// Writes the header into `b`, whose first `bufferLength + payloadLength` bytes are the
    /// segment with its payload already in place, and fills the checksum.
    public func emit(into b: UnsafeMutableRawBufferPointer, source: IPAddress, destination: IPAddress) {
        let hl = bufferLength
        b.put16(0, sourcePort)
        b.put16(2, destinationPort)
        b.put32(4, sequenceNumber)
        b.put32(8, acknowledgmentNumber)
        b[12] = UInt8(hl / 4) << 4 | reserved & 0xF
        b[13] = flags.rawValue
        b.put16(14, window)
        b.put16(16, 0)
        b.put16(18, urgentPointer)
        var at = 20
        for o in options { o.emit(into: b, at: at); at += o.length }
        b.copy(at, optionTrailer); at += optionTrailer.count
        while at < hl { b[at] = 0; at += 1 }
        let n = hl + payloadLength
        let ph = InternetChecksum.pseudoHeader(source: source, destination: destination, proto: .tcp, length: n)
        b.put16(16, InternetChecksum.finish(InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: b[0..<n]), initial: ph)))
    }
}
