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
    static func tokenize(_ text: String, file: String) throws(NFTParseError) -> [NFTToken] {
        var out: [NFTToken] = []
        var line = 1
        var lineStart = text.startIndex
        var i = text.startIndex
        func column(_ at: String.Index) -> Int { text.distance(from: lineStart, to: at) + 1 }
        while i < text.endIndex {
            let c = text[i]
            switch c {
            case "\n", "\r\n":
                out.append(NFTToken(kind: .newline, line: line, column: column(i)))
                i = text.index(after: i)
                line += 1
                lineStart = i
            case " ", "\t", "\r":
                i = text.index(after: i)
            case "{": out.append(NFTToken(kind: .lbrace, line: line, column: column(i))); i = text.index(after: i)
            case "}": out.append(NFTToken(kind: .rbrace, line: line, column: column(i))); i = text.index(after: i)
            case ";": out.append(NFTToken(kind: .semicolon, line: line, column: column(i))); i = text.index(after: i)
            case ",": out.append(NFTToken(kind: .comma, line: line, column: column(i))); i = text.index(after: i)
            case "#":
                // A comment to the end of the line; `# handle N` is kept.
                let start = i
                while i < text.endIndex, text[i] != "\n", text[i] != "\r\n" { i = text.index(after: i) }
                let body = text[text.index(after: start)..<i].split(separator: " ")
                if body.count == 2, body[0] == "handle", let n = Int(body[1]) {
                    out.append(NFTToken(kind: .handle(n), line: line, column: column(start)))
                }
            case "\"":
                let start = i
                i = text.index(after: i)
                let bodyStart = i
                while i < text.endIndex, text[i] != "\"", text[i] != "\n" { i = text.index(after: i) }
                guard i < text.endIndex, text[i] == "\"" else {
                    throw NFTParseError(file: file, line: line, column: column(start), message: "unterminated string")
                }
                out.append(NFTToken(kind: .string(text[bodyStart..<i]), line: line, column: column(start)))
                i = text.index(after: i)
            default:
                let start = i
                while i < text.endIndex {
                    let d = text[i]
                    if d == " " || d == "\t" || d == "\n" || d == "\r" || d == "\r\n" || d == "{" || d == "}" || d == ";" || d == "," || d == "\"" { break }
                    i = text.index(after: i)
                }
                out.append(NFTToken(kind: .word(text[start..<i]), line: line, column: column(start)))
            }
        }
        out.append(NFTToken(kind: .newline, line: line, column: column(i)))
        return out
    }
}
