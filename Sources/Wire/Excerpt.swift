/// A short excerpt of input text for an error message. kdp's messages are one line and quote at
/// most `limit` characters of what they complain about (a 1 MB token is cut, not echoed), with
/// control characters shown as escapes (`\n`, `\t`, `\u{0}`) so the message stays on one line.
/// The one home of that rule: the parsers and kdp's final formatting both call it.
public enum Excerpt {
    /// The default limit, in characters, the ellipsis included.
    public static let limit = 40

    /// `text` cut to `limit` characters with `…`, control characters escaped.
    public static func quote(_ text: some StringProtocol, limit: Int = Excerpt.limit) -> String {
        var out = ""
        var count = 0
        var fits = 0  // UTF-8 length of the longest prefix that leaves room for the ellipsis
        for ch in text.unicodeScalars {
            let shown = visible(ch)
            if count + shown.count > limit {
                return String(decoding: out.utf8.prefix(fits), as: UTF8.self) + "…"
            }
            out += shown
            count += shown.count
            if count <= limit - 1 { fits = out.utf8.count }
        }
        return out
    }

    /// A control character (or a line or paragraph separator) as an escape, anything else as is.
    public static func visible(_ s: Unicode.Scalar) -> String {
        switch s {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        default:
            if s.value < 0x20 || (0x7F...0x9F).contains(s.value) || s.value == 0x2028 || s.value == 0x2029 {
                return "\\u{\(String(s.value, radix: 16))}"
            }
            return String(s)
        }
    }

    /// `message` with every `"…"` quotation longer than `limit` cut to an excerpt, every run of
    /// characters without a space longer than `tokenLimit` too, and control characters escaped:
    /// one line whatever the message quoted. Messages built from input text go through this
    /// once (`InputError`), so no decoder has to remember it at each site.
    public static func shortened(_ message: String, limit: Int = Excerpt.limit, tokenLimit: Int = 120) -> String {
        // Fast path: short, printable messages are returned as they are.
        if message.utf8.count <= limit && !message.unicodeScalars.contains(where: { visible($0).count > 1 }) { return message }
        var out = ""
        // The current quotation or token: at most `cap` characters are kept, the rest counted.
        var part = ""
        var partCount = 0
        var inQuote = false
        func flush(cap: Int) {
            out += partCount > cap ? quote(part, limit: limit) : part
            part = ""
            partCount = 0
        }
        func add(_ s: Unicode.Scalar, cap: Int) {
            partCount += 1
            if partCount <= cap + 1 { part += visible(s) }
        }
        for s in message.unicodeScalars {
            if inQuote {
                if s == "\"" {
                    flush(cap: limit)
                    out += "\""
                    inQuote = false
                } else {
                    add(s, cap: limit)
                }
            } else if s == "\"" {
                flush(cap: tokenLimit)
                out += "\""
                inQuote = true
            } else if s == " " {
                flush(cap: tokenLimit)
                out += " "
            } else {
                add(s, cap: tokenLimit)
            }
        }
        flush(cap: inQuote ? limit : tokenLimit)
        return out
    }
}
