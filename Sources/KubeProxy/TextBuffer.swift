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
}
