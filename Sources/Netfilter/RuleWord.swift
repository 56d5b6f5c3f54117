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

    /// How iptables-save prints a free-text value (`IPTablesQuoting.saved`).
    public static func saved(_ text: String) -> RuleWord {
        RuleWord(text, spelling: IPTablesQuoting.saved(text))
    }
}

/// Splits one iptables-restore line into words, as `add_param_to_argv` (iptables/xshared.c) does.
enum Tokenizer {
    /// Returns the words, or the column of an unterminated quote.
    static func words(_ line: Substring) -> Result<[RuleWord], TokenizeError> {
        var line = line
        line.makeContiguousUTF8()
        let scratch = Scratch()
        return line.utf8.withContiguousStorageIfAvailable { bytes in
            Result { () throws(TokenizeError) in try scan(bytes, scratch) }
        } ?? .failure(TokenizeError(column: 0))
    }

    /// The same, on a line's bytes, collecting in `scratch` (one for many lines).
    static func words(_ bytes: UnsafeBufferPointer<UInt8>, _ scratch: Scratch) throws(TokenizeError) -> [RuleWord] {
        try scan(bytes, scratch)
    }

    static func isBlank(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 }

    /// Where a line's words are collected before they move, without retain or release, into an
    /// array of exactly their number: the array stays with the rule, so spare room in it would
    /// cost memory (and page faults) for every rule. Empty between lines.
    final class Scratch {
        fileprivate var base: UnsafeMutablePointer<RuleWord>
        fileprivate var capacity: Int
        fileprivate var count = 0

        init() {
            capacity = 32
            base = .allocate(capacity: capacity)
        }

        deinit {
            base.deinitialize(count: count)
            base.deallocate()
        }

        @inline(__always)
        fileprivate func append(_ w: RuleWord) {
            if count == capacity { grow() }
            (base + count).initialize(to: w)
            count += 1
        }

        @inline(never)
        private func grow() {
            let bigger = UnsafeMutablePointer<RuleWord>.allocate(capacity: capacity * 2)
            bigger.moveInitialize(from: base, count: count)
            base.deallocate()
            base = bigger
            capacity *= 2
        }

        /// The words collected, moved out; the scratch is empty again.
        fileprivate func take() -> [RuleWord] {
            let n = count
            count = 0
            if n == 0 { return [] }
            // Moved one by one into reserved room (Array(unsafeUninitializedCapacity:) would
            // not be specialized here and looks up the array type's metadata on every call).
            var words: [RuleWord] = []
            words.reserveCapacity(n)
            for i in 0..<n { words.append((base + i).move()) }
            return words
        }

        fileprivate func clear() {
            base.deinitialize(count: count)
            count = 0
        }
    }

    private static func scan(_ bytes: UnsafeBufferPointer<UInt8>, _ words: Scratch) throws(TokenizeError) -> [RuleWord] {
        words.clear()
        var i = 0
        let n = bytes.count
        while i < n {
            while i < n && isBlank(bytes[i]) { i += 1 }
            if i >= n { break }
            let start = i
            // A word without quotes is the bytes up to the next blank; nothing is escaped.
            var j = i
            while j < n && !isBlank(bytes[j]) && bytes[j] != 34 { j += 1 }
            if j >= n || isBlank(bytes[j]) {
                words.append(RuleWord(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<j]), as: UTF8.self)))
                i = j
                continue
            }
            // A quote: decode as add_param_to_argv does, keeping the spelling.
            var text = Array(bytes[start..<j])
            i = j
            var quoteOpen = false, escaped = false
            while i < n {
                let c = bytes[i]
                if quoteOpen {
                    if escaped { text.append(c); escaped = false; i += 1; continue }
                    if c == 92 { escaped = true; i += 1; continue }
                    if c == 34 { quoteOpen = false; i += 1; break }  // a closing quote ends the word
                    text.append(c); i += 1; continue
                }
                if c == 34 { quoteOpen = true; i += 1; continue }
                if isBlank(c) { break }
                text.append(c); i += 1
            }
            if quoteOpen {
                words.clear()
                throw TokenizeError(column: start + 1)
            }
            words.append(RuleWord(String(decoding: text, as: UTF8.self),
                                  spelling: String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)))
        }
        return words.take()
    }

    struct TokenizeError: Error { let column: Int }
}
