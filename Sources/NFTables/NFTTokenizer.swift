/// One token of nft text. Words are runs of characters other than blanks and `{ } ; , "`;
/// nft's own output separates the concatenation `.`, `:` of map elements and operators with
/// blanks, so an address (`10.0.0.0/8`, `fd00::1`, `10.0.0.1:80`) stays one word.
struct NFTToken: Sendable {
    enum Kind: Equatable, Sendable {
        case word(Substring)
        case string(Substring)
        case lbrace, rbrace, semicolon, comma, newline
        /// `# handle N`, as `nft -a` prints it.
        case handle(Int)
    }
    var kind: Kind
    var line: Int
    var column: Int

    var word: Substring? { if case .word(let w) = kind { w } else { nil } }
}

enum NFTTokenizer {
    /// Splits `text` into tokens with 1-based line and column (columns count characters).
    ///
    /// Reads the UTF-8 bytes: every delimiter is ASCII, so a token's ends fall on scalar
    /// boundaries and its text is a `Substring` of `text`. A column is the byte offset on an
    /// ASCII line (what nft and kube-proxy write), and is counted in characters only on a line
    /// that holds other bytes. O(n) in the text's bytes.
    static func tokenize(_ text: String, file: String) throws(NFTParseError) -> [NFTToken] {
        var text = text
        text.makeContiguousUTF8()
        let u = text.utf8
        let count = u.count
        var out: [NFTToken] = []
        out.reserveCapacity(count / 6)
        var line = 1
        var lineStart = 0
        // Whether the bytes from `lineStart` to the scan are all ASCII.
        var lineASCII = true
        func index(_ offset: Int) -> String.Index { u.index(u.startIndex, offsetBy: offset) }
        func column(_ at: Int) -> Int {
            if lineASCII { return at - lineStart + 1 }
            return text.distance(from: index(lineStart), to: index(at)) + 1
        }
        func isWordEnd(_ b: UInt8) -> Bool {
            b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x7B || b == 0x7D || b == 0x3B || b == 0x2C || b == 0x22
        }
        // The closure cannot throw a typed error: an unterminated string is passed out.
        var failure: NFTParseError?
        u.withContiguousStorageIfAvailable { bytes in
            var i = 0
            while i < count {
                let c = bytes[i]
                switch c {
                case 0x0A:  // \n
                    out.append(NFTToken(kind: .newline, line: line, column: column(i)))
                    i += 1
                    line += 1
                    lineStart = i
                    lineASCII = true
                case 0x0D where i + 1 < count && bytes[i + 1] == 0x0A:  // \r\n, one line end
                    out.append(NFTToken(kind: .newline, line: line, column: column(i)))
                    i += 2
                    line += 1
                    lineStart = i
                    lineASCII = true
                case 0x20, 0x09, 0x0D:
                    i += 1
                case 0x7B: out.append(NFTToken(kind: .lbrace, line: line, column: column(i))); i += 1
                case 0x7D: out.append(NFTToken(kind: .rbrace, line: line, column: column(i))); i += 1
                case 0x3B: out.append(NFTToken(kind: .semicolon, line: line, column: column(i))); i += 1
                case 0x2C: out.append(NFTToken(kind: .comma, line: line, column: column(i))); i += 1
                case 0x23:  // # … to the end of the line; `# handle N` is kept.
                    let start = i
                    while i < count, bytes[i] != 0x0A, !(bytes[i] == 0x0D && i + 1 < count && bytes[i + 1] == 0x0A) {
                        if bytes[i] >= 0x80 { lineASCII = false }
                        i += 1
                    }
                    let body = text[index(start + 1)..<index(i)].split(separator: " ")
                    if body.count == 2, body[0] == "handle", let n = Int(body[1]) {
                        out.append(NFTToken(kind: .handle(n), line: line, column: column(start)))
                    }
                case 0x22:  // "
                    let start = i
                    i += 1
                    let bodyStart = i
                    while i < count, bytes[i] != 0x22, bytes[i] != 0x0A {
                        if bytes[i] >= 0x80 { lineASCII = false }
                        i += 1
                    }
                    guard i < count, bytes[i] == 0x22 else {
                        failure = NFTParseError(file: file, line: line, column: column(start), message: "unterminated string")
                        return
                    }
                    out.append(NFTToken(kind: .string(text[index(bodyStart)..<index(i)]), line: line, column: column(start)))
                    i += 1
                default:
                    let start = i
                    while i < count, !isWordEnd(bytes[i]) {
                        if bytes[i] >= 0x80 { lineASCII = false }
                        i += 1
                    }
                    out.append(NFTToken(kind: .word(text[index(start)..<index(i)]), line: line, column: column(start)))
                }
            }
            out.append(NFTToken(kind: .newline, line: line, column: column(count)))
        }
        if let failure { throw failure }
        return out
    }
}
