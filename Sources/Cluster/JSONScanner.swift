import Wire
import Yams

/// Reads one JSON document (RFC 8259) straight from its UTF-8 bytes into the `Yams.Node` tree
/// libyaml would compose from the same text, marks included, so that every decoder and every
/// FILE:LINE:COL error message stays what it is on the YAML path. Kubernetes dumps
/// (`kubectl get -A -o json`) are large; composing one here takes about a sixth of libyaml's time
/// (the shared decoders after it now dominate loading).
///
/// Strings become double-quoted scalars (a JSON `"null"` or `"80"` stays a string); numbers,
/// `true`, `false` and `null` become plain scalars with their text, as libyaml reads them.
/// Columns count Unicode scalars from 1, as libyaml's do.
///
/// Cost: one pass over the bytes; one `String` per scalar and one array per container, no
/// allocation per character (escaped strings reuse one scratch buffer). Nesting is bounded
/// (`maximumDepth`) so that hostile input cannot exhaust the stack.
struct JSONScanner {
    /// What is wrong and where, before the file name is known to the caller.
    struct Failure: Error {
        let message: String
        let line: Int
        let column: Int
    }

    static let maximumDepth = 512

    private let bytes: UnsafeBufferPointer<UInt8>
    private var i = 0
    private var line = 1
    private var lineStart = 0
    /// UTF-8 continuation bytes seen since `lineStart`: a column counts scalars, not bytes.
    private var lineContinuations = 0
    private var depth = 0
    private var scratch: [UInt8] = []
    /// `Tag.implicit` allocates a new tag on every use; one is shared by the whole tree.
    private let tag = Tag.implicit

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// True when the first character that is not white space (or a byte-order mark) opens a
    /// JSON object or array: the only documents kdp reads as JSON.
    static func looksLikeJSON(_ text: String) -> Bool {
        for b in text.utf8.prefix(4096) {
            switch b {
            case 0x20, 0x09, 0x0A, 0x0D, 0xEF, 0xBB, 0xBF: continue
            case UInt8(ascii: "{"), UInt8(ascii: "["): return true
            default: return false
            }
        }
        return false
    }

    /// The document in `text`: exactly one JSON value, with only white space around it.
    static func parse(_ text: String) throws(Failure) -> Yams.Node {
        var text = text
        let result: Result<Yams.Node, Failure> = text.withUTF8 { buffer in
            var scanner = JSONScanner(buffer)
            return Result { () throws(Failure) in try scanner.document() }
        }
        return try result.get()
    }

    private mutating func document() throws(Failure) -> Yams.Node {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { i = 3; lineStart = 3 }
        skipSpace()
        let node = try value()
        skipSpace()
        if i < bytes.count { throw fail("unexpected \(excerpt) after the end of the JSON document") }
        return node
    }

    // MARK: Values

    private mutating func value() throws(Failure) -> Yams.Node {
        guard i < bytes.count else { throw fail("unexpected end of input, expected a value") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""):
            let m = mark()
            return .scalar(.init(try string(), tag, .doubleQuoted, m))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        case UInt8(ascii: "t"): return try literal("true")
        case UInt8(ascii: "f"): return try literal("false")
        case UInt8(ascii: "n"): return try literal("null")
        default: throw fail("unexpected \(excerpt), expected a value")
        }
    }

    private mutating func object() throws(Failure) -> Yams.Node {
        let m = mark()
        try enter()
        i += 1
        var pairs: [(Yams.Node, Yams.Node)] = []
        var keys: Set<String> = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
            i += 1
            depth -= 1
            return .mapping(.init(pairs, tag, .flow, m))
        }
        while true {
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of input in an object (missing '}')") }
            guard bytes[i] == UInt8(ascii: "\"") else {
                if bytes[i] == UInt8(ascii: "}") { throw fail("trailing comma before '}'") }
                throw fail("unexpected \(excerpt), expected a key in double quotes")
            }
            let keyMark = mark(), keyLine = line, keyColumn = column
            let key = try string()
            // libyaml's composer rejects a mapping with a key twice; so does this reader.
            if pairs.count < 16 {
                if pairs.contains(where: { Self.keyText($0.0) == key }) { throw Failure(message: "duplicate key \"\(key)\"", line: keyLine, column: keyColumn) }
                if pairs.count == 15 { keys = Set(pairs.map { Self.keyText($0.0) }); keys.insert(key) }
            } else if !keys.insert(key).inserted {
                throw Failure(message: "duplicate key \"\(key)\"", line: keyLine, column: keyColumn)
            }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':' after the key \"\(key.prefix(40))\", found \(excerpt)") }
            i += 1
            skipSpace()
            let v = try value()
            pairs.append((.scalar(.init(key, tag, .doubleQuoted, keyMark)), v))
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of input in an object (missing '}')") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; break }
            throw fail("expected ',' or '}' in an object, found \(excerpt)")
        }
        depth -= 1
        return .mapping(.init(pairs, tag, .flow, m))
    }

    private static func keyText(_ node: Yams.Node) -> String {
        if case .scalar(let s) = node { return s.string }
        return ""
    }

    private mutating func array() throws(Failure) -> Yams.Node {
        let m = mark()
        try enter()
        i += 1
        var nodes: [Yams.Node] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
            i += 1
            depth -= 1
            return .sequence(.init(nodes, tag, .flow, m))
        }
        while true {
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { throw fail("trailing comma before ']'") }
            nodes.append(try value())
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of input in an array (missing ']')") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; break }
            throw fail("expected ',' or ']' in an array, found \(excerpt)")
        }
        depth -= 1
        return .sequence(.init(nodes, tag, .flow, m))
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        if depth > Self.maximumDepth { throw fail("nesting deeper than \(Self.maximumDepth) objects and arrays") }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) -> Yams.Node {
        let m = mark()
        let n = word.utf8CodeUnitCount
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: n)
        guard i + n <= bytes.count, bytes[i..<(i + n)].elementsEqual(expected) else {
            throw fail("unexpected \(excerpt), expected a value")
        }
        i += n
        try requireDelimiter()
        return .scalar(.init(word.description, tag, .plain, m))
    }

    /// RFC 8259's number grammar; the scalar keeps the number's text, as libyaml does.
    private mutating func number() throws(Failure) -> Yams.Node {
        let m = mark()
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count, isDigit(bytes[i]) else { throw fail("a number needs a digit after '-'") }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < bytes.count, isDigit(bytes[i]) { throw fail("a number cannot have a leading zero") }
        } else {
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail("a number needs a digit after '.'") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail("a number needs a digit in its exponent") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        try requireDelimiter()
        return .scalar(.init(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self), tag, .plain, m))
    }

    /// A number or literal must end where a value may: `truex` and `12abc` are not JSON.
    private func requireDelimiter() throws(Failure) {
        guard i < bytes.count else { return }
        switch bytes[i] {
        case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"): return
        default: throw fail("unexpected \(excerpt) after a value")
        }
    }

    private func isDigit(_ b: UInt8) -> Bool { b &- UInt8(ascii: "0") < 10 }

    // MARK: Strings

    /// The string at `i` (its opening quote), decoded. Without escapes it is one copy of its
    /// bytes; with escapes the decoded bytes go through `scratch`, reused across strings.
    private mutating func string() throws(Failure) -> String {
        let openLine = line, openColumn = column
        i += 1
        let start = i
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<(i - 1)]), as: UTF8.self)
            }
            if b == UInt8(ascii: "\\") { return try escapedString(from: start, openLine: openLine, openColumn: openColumn) }
            if b < 0x20 { throw controlCharacter(b, openLine: openLine, openColumn: openColumn) }
            if b & 0xC0 == 0x80 { lineContinuations += 1 }
            i += 1
        }
        throw Failure(message: "unterminated string", line: openLine, column: openColumn)
    }

    private mutating func escapedString(from start: Int, openLine: Int, openColumn: Int) throws(Failure) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                i += 1
                return String(decoding: scratch, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard i + 1 < bytes.count else { break }
                let e = bytes[i + 1]
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(e)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    try unicodeEscape()
                    continue
                default: throw fail("bad escape \\\(e < 0x80 && e >= 0x20 ? String(UnicodeScalar(e)) : "") in a string")
                }
                i += 2
            default:
                if b < 0x20 { throw controlCharacter(b, openLine: openLine, openColumn: openColumn) }
                if b & 0xC0 == 0x80 { lineContinuations += 1 }
                scratch.append(b)
                i += 1
            }
        }
        throw Failure(message: "unterminated string", line: openLine, column: openColumn)
    }

    /// `\uXXXX` at `i`, or a surrogate pair `\uD8xx\uDCxx`, appended to `scratch` as UTF-8.
    private mutating func unicodeEscape() throws(Failure) {
        guard let high = hex4(at: i + 2) else { throw fail("bad escape: \\u needs four hex digits") }
        var scalar = high
        if (0xD800...0xDBFF).contains(high) {
            guard i + 11 < bytes.count, bytes[i + 6] == UInt8(ascii: "\\"), bytes[i + 7] == UInt8(ascii: "u"),
                  let low = hex4(at: i + 8), (0xDC00...0xDFFF).contains(low) else {
                throw fail("bad escape: \\u\(hexText(high)) is half a surrogate pair")
            }
            scalar = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            i += 6
        } else if (0xDC00...0xDFFF).contains(high) {
            throw fail("bad escape: \\u\(hexText(high)) is half a surrogate pair")
        }
        i += 6
        switch scalar {
        case ..<0x80: scratch.append(UInt8(scalar))
        case ..<0x800:
            scratch.append(UInt8(0xC0 | scalar >> 6)); scratch.append(UInt8(0x80 | scalar & 0x3F))
        case ..<0x10000:
            scratch.append(UInt8(0xE0 | scalar >> 12)); scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | scalar >> 18)); scratch.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F)); scratch.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    private func hex4(at p: Int) -> UInt32? {
        guard p + 4 <= bytes.count else { return nil }
        var v: UInt32 = 0
        for k in p..<(p + 4) {
            let b = bytes[k]
            let d: UInt8 = switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
            default: 255
            }
            guard d < 16 else { return nil }
            v = v << 4 | UInt32(d)
        }
        return v
    }

    private func hexText(_ v: UInt32) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    private func controlCharacter(_ b: UInt8, openLine: Int, openColumn: Int) -> Failure {
        if b == 0x0A || b == 0x0D {
            return Failure(message: "unterminated string (a line break inside a string must be written \\n)", line: openLine, column: openColumn)
        }
        return fail("control character 0x\(String(b, radix: 16)) in a string must be escaped")
    }

    // MARK: Positions

    /// White space between tokens; line breaks as libyaml counts them (CR LF is one).
    private mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09: i += 1
            case 0x0A: i += 1; newLine()
            case 0x0D:
                i += 1
                if i < bytes.count, bytes[i] == 0x0A { i += 1 }
                newLine()
            default: return
            }
        }
    }

    private mutating func newLine() {
        line += 1
        lineStart = i
        lineContinuations = 0
    }

    private var column: Int { i - lineStart - lineContinuations + 1 }

    private func mark() -> Mark? { YAMLMark.make(line: line, column: column) }

    private func fail(_ message: String) -> Failure { Failure(message: message, line: line, column: column) }

    /// The text at `i` for a message: a few characters up to white space, or "end of input".
    private var excerpt: String {
        guard i < bytes.count else { return "end of input" }
        let end = min(bytes.count, i + 16)
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[i..<end]), as: UTF8.self)
        return "'\(text.prefix { !$0.isWhitespace }.prefix(8))'"
    }
}

/// `Yams.Mark` has no public initializer (only libyaml's parser makes one). It is two `Int`s,
/// line then column; `make` builds one with that layout after checking, once, that the layout
/// is the one this Yams version has. On a Yams where it is not, marks are nil and messages
/// name the file without a line (never a wrong line, never a trap).
enum YAMLMark {
    static let layoutMatches: Bool = {
        guard MemoryLayout<Mark>.size == MemoryLayout<(Int, Int)>.size,
              MemoryLayout<Mark>.alignment == MemoryLayout<(Int, Int)>.alignment else { return false }
        // The field order, checked against a mark libyaml made: "x" on line 2, column 3.
        guard case .mapping(let m)? = try? Yams.compose(yaml: "a:\n  x: 1\n", .basic),
              let inner = m.first?.value.mapping?.first?.key.mark else { return false }
        let probe = unsafeBitCast((2, 3), to: Mark.self)
        return inner.line == 2 && inner.column == 3 && probe.line == 2 && probe.column == 3
    }()

    static func make(line: Int, column: Int) -> Mark? {
        layoutMatches ? unsafeBitCast((line, column), to: Mark.self) : nil
    }
}
