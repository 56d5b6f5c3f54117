import Foundation
import Wire

/// Output text built as UTF-8 bytes: one growing byte array that each piece is copied into,
/// turned into a `String` once at the end. A `String` built with `+=` re-checks its ASCII
/// and capacity flags on every append; for the tens of megabytes of a large node's ruleset
/// that costs more than the copying. Cost: amortised O(bytes) for the appends, one validating
/// pass in `text`.
struct TextBuffer {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    /// Copies `s`'s UTF-8 bytes; native and small strings (all of kube-proxy's) are read in
    /// place, without copying the string first (which would retain and release it).
    @inline(__always)
    mutating func add(_ s: String) {
        if s.utf8.withContiguousStorageIfAvailable({ bytes.append(contentsOf: $0) }) == nil {
            bytes.append(contentsOf: s.utf8)
        }
    }

    @inline(__always)
    mutating func add(byte: UInt8) { bytes.append(byte) }

    /// Go's `%q` of `s` (see `NFTablesRuleset.goQuote`).
    mutating func addGoQuoted(_ s: String) {
        let plain = s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
        if plain {
            add(byte: UInt8(ascii: "\""))
            add(s)
            add(byte: UInt8(ascii: "\""))
        } else {
            add(NFTablesRuleset.goQuote(s))
        }
    }

    /// Words joined with ` . ` (a concatenation's key or value).
    mutating func addJoined(_ words: [String]) {
        for (i, w) in words.enumerated() {
            if i > 0 { add(" . ") }
            add(w)
        }
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    var count: Int { bytes.count }

    /// Reads the bytes in place.
    func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try bytes.withUnsafeBufferPointer(body)
    }

    /// Copies `range` of another buffer (the ruleset's arena).
    @inline(__always)
    mutating func add(from other: TextBuffer, _ range: Range<Int>) {
        other.bytes.withUnsafeBufferPointer { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: $0[range])) }
    }

    /// Go's `%q` of another buffer's `range`.
    mutating func addGoQuoted(from other: TextBuffer, _ range: Range<Int>) {
        addGoQuoted(other.string(range))
    }

    /// An address as `IPAddress.description` spells it; IPv4 written digit by digit.
    mutating func add(_ address: IPAddress) {
        guard case .v4(let a) = address else { return add(address.description) }
        let v = a.value
        for shift in [24, 16, 8, 0] as [UInt32] {
            add(decimal: UInt64((v >> shift) & 0xff))
            if shift > 0 { add(byte: UInt8(ascii: ".")) }
        }
    }

    /// `n` in decimal.
    mutating func add(decimal n: UInt64) {
        if n < 10 { return add(byte: UInt8(ascii: "0") + UInt8(n)) }
        add(decimal: n / 10)
        add(byte: UInt8(ascii: "0") + UInt8(n % 10))
    }

    func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }

    /// FNV-1a of `range`'s bytes, seeded (`NFTablesHashIndex`'s hash).
    func hash(_ range: Range<Int>, seed: UInt64) -> UInt64 {
        bytes.withUnsafeBufferPointer { Self.hash(UnsafeBufferPointer(rebasing: $0[range]), seed: seed) }
    }

    static func hash(_ bytes: UnsafeBufferPointer<UInt8>, seed: UInt64) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ (seed &* 0x9E37_79B9_7F4A_7C15)
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h ^ (h >> 29)
    }

    /// `hash` of a string's UTF-8 bytes.
    static func hash(_ s: String, seed: UInt64) -> UInt64 {
        var s = s
        return s.withUTF8 { hash($0, seed: seed) }
    }

    /// Whether two ranges hold the same bytes.
    func equal(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return bytes.withUnsafeBufferPointer { p in
            memcmp(p.baseAddress! + a.lowerBound, p.baseAddress! + b.lowerBound, a.count) == 0
        }
    }
}
