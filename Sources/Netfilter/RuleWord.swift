/// One word of a rule as iptables-restore splits it, with the spelling it had in the file.
///
/// iptables-restore's tokenizer (`add_param_to_argv` in iptables/xshared.c) splits on blanks,
/// lets a double quote group words (inside quotes a backslash takes the next character
/// literally) and remembers only the decoded text. kdp keeps the spelling too, so that printing
/// a parsed ruleset gives back the same bytes whether the writer quoted (`"ns2/svc2:p80"`, as
/// iptables-save does through `xtables_save_string`) or not (as kube-proxy does).
public struct RuleWord: Hashable, Sendable {
    /// The word as the kernel's parser sees it, quotes and escapes removed.
    public var text: String
    /// The spelling in the source when it differs from `text` (quoted or escaped); nil otherwise.
    public var spelling: String?

    public init(_ text: String, spelling: String? = nil) {
        self.text = text
        self.spelling = spelling == text ? nil : spelling
    }

    /// The word as it is printed back.
    public var printed: String { spelling ?? text }

    /// How iptables-save prints a free-text value (`xtables_save_string` in libxtables/xtables.c):
    /// bare when it is only `[A-Za-z0-9_-]`, otherwise in double quotes with `"`, `\` and `'`
    /// escaped by a backslash.
    public static func saved(_ text: String) -> RuleWord {
        let plain = !text.isEmpty && text.utf8.allSatisfy { b in
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 || b == 45
        }
        if plain { return RuleWord(text) }
        var out = "\""
        for ch in text {
            if ch == "\"" || ch == "\\" || ch == "'" { out.append("\\") }
            out.append(ch)
        }
        out.append("\"")
        return RuleWord(text, spelling: out)
    }
}

/// Splits one iptables-restore line into words, as `add_param_to_argv` (iptables/xshared.c) does.
enum Tokenizer {
    /// Returns the words, or the column of an unterminated quote.
    static func words(_ line: Substring) -> Result<[RuleWord], TokenizeError> {
        var words: [RuleWord] = []
        words.reserveCapacity(24)
        var utf8 = Array(line.utf8)
        utf8.append(32)  // a final blank flushes the last word, as the newline does in C
        var text: [UInt8] = []
        var start = -1
        var quoteOpen = false, escaped = false, quoted = false
        var i = 0
        while i < utf8.count {
            let c = utf8[i]
            if start < 0 && !(c == 32 || c == 9 || c == 10 || c == 13) { start = i }
            if quoteOpen {
                if escaped {
                    text.append(c); escaped = false; i += 1; continue
                } else if c == 92 {  // backslash
                    escaped = true; i += 1; continue
                } else if c == 34 {
                    quoteOpen = false
                    // a closing quote ends the word (falls into the `case '"': break` in C)
                } else {
                    text.append(c); i += 1; continue
                }
            } else if c == 34 {
                quoteOpen = true; quoted = true; i += 1; continue
            }
            if c == 34 || c == 32 || c == 9 || c == 10 || c == 13 {
                if text.isEmpty && !quoted { i += 1; start = -1; continue }
                let decoded = String(decoding: text, as: UTF8.self)
                let end = c == 34 ? i + 1 : i
                let raw = String(decoding: utf8[start..<end], as: UTF8.self)
                words.append(RuleWord(decoded, spelling: raw))
                text.removeAll(keepingCapacity: true)
                quoted = false
                start = -1
                i += 1
                continue
            }
            text.append(c)
            i += 1
        }
        if quoteOpen { return .failure(TokenizeError(column: start + 1)) }
        return .success(words)
    }

    struct TokenizeError: Error { let column: Int }
}
