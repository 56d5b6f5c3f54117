import Cluster
import Wire

/// kdp's promise for bad input: one line on stderr that starts with `kdp:`, names the file,
/// line and column (from 1) where there is one, says what is wrong and quotes at most a short
/// excerpt. Every error path ends here (`KDP.main` through `Console.fail`), and the fuzz tests
/// call the same functions, so what they check is what users see.
enum Diagnostic {
    /// The longest excerpt of the input a message quotes, in characters (the ellipsis included).
    static let excerptLimit = Excerpt.limit
    /// Any run of characters without a space longer than this is an excerpt nobody shortened; the
    /// final line cuts it to `excerptLimit`. Long enough for file paths and Kubernetes names.
    static let tokenLimit = 120
    /// The longest line kdp prints for an error, in characters.
    static let lineLimit = 400

    /// `text` as a message may quote it (`Wire.Excerpt`): at most `excerptLimit` characters.
    static func excerpt(_ text: some StringProtocol, limit: Int = excerptLimit) -> String {
        Excerpt.quote(text, limit: limit)
    }

    static func visible(_ s: Unicode.Scalar) -> String { Excerpt.visible(s) }

    /// The one line kdp prints for `message`: `kdp: ` first (unless there already), control
    /// characters escaped, space-free runs longer than `tokenLimit` cut to an excerpt, the whole
    /// at most `lineLimit` characters. A safety net: messages should quote through `excerpt`.
    static func line(_ message: String) -> String {
        var body = Substring(message)
        if body.hasPrefix("kdp: ") { body = body.dropFirst(5) }
        var text = Excerpt.shortened(String(body), tokenLimit: tokenLimit)
        // Trailing newlines of a message are not part of it.
        while text.hasSuffix("\\n") { text.removeLast(2) }
        var out = "kdp: " + text
        if out.count > lineLimit { out = String(out.prefix(lineLimit - 1)) + "…" }
        return out
    }

    /// The column (from 1, in characters) of the first occurrence of `excerpt` on line `line`
    /// (from 1) of `text`, or 1 when it is not there. Parsers report the offending word; this
    /// turns it into a position without every parser tracking columns.
    ///
    /// - Complexity: O(*n*) in the bytes up to the end of that line; called once, on an error.
    ///
    /// Only the word's first 64 bytes are looked for, byte by byte: a search for a 200,000-byte
    /// word in a 200,000-byte line with Foundation's `range(of:)` took minutes.
    static func column(of excerpt: some StringProtocol, line: Int, in text: String) -> Int {
        guard line >= 1, !excerpt.isEmpty, let lineText = Self.lineText(line, in: text) else { return 1 }
        let needle = Array(excerpt.utf8.prefix(64))
        let hay = Array(lineText.utf8)
        guard needle.count <= hay.count else { return 1 }
        var start = 0
        while start + needle.count <= hay.count {
            if hay[start] == needle[0] {
                var k = 1
                while k < needle.count && hay[start + k] == needle[k] { k += 1 }
                if k == needle.count {
                    // Characters, not bytes: count the scalars before the match.
                    return String(decoding: hay[..<start], as: UTF8.self).unicodeScalars.count + 1
                }
            }
            start += 1
        }
        return 1
    }

    /// Line `n` (from 1) of `text`, without its line end; nil past the end.
    static func lineText(_ n: Int, in text: String) -> Substring? {
        var current = 1
        var start = text.utf8.startIndex
        let utf8 = text.utf8
        if n > 1 {
            var i = utf8.startIndex
            while i < utf8.endIndex {
                if utf8[i] == UInt8(ascii: "\n") {
                    current += 1
                    if current == n {
                        start = utf8.index(after: i)
                        break
                    }
                }
                i = utf8.index(after: i)
            }
            guard current == n else { return nil }
        }
        let end = utf8[start...].firstIndex(of: UInt8(ascii: "\n")) ?? utf8.endIndex
        var lineText = text[start..<end]
        if lineText.hasSuffix("\r") { lineText = lineText.dropLast() }
        return lineText
    }

    /// An error at `line` of `file` whose text is `text`, positioned at the first occurrence of
    /// `word` on that line (column 1 when the word is not found there).
    static func error(_ message: String, file: String, line: Int, word: some StringProtocol, in text: String) -> InputError {
        InputError(message, at: InputLocation(file: file, line: max(line, 1), column: column(of: word, line: line, in: text)))
    }
}
