#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte scanning for `RestoreParser`, and the speed tricks, each with its reason.
extension RestoreParser {
    /// The index of the next newline at or after `from`, or the end: memchr, which libc
    /// vectorizes.
    func lineEnd(from: Int) -> Int {
        let n = bytes.count
        guard let base = bytes.baseAddress, from < n,
              let hit = memchr(base + from, 10, n - from) else { return n }
        return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    }

    /// The number of newlines. The parse keeps one `Ruleset.Line` per line: counting them
    /// first spares the array's growth copies, which for 200,000 rules are tens of megabytes.
    func countLines() -> Int {
        var newlines = 0
        var at = lineEnd(from: 0)
        while at < bytes.count { newlines += 1; at = lineEnd(from: at + 1) }
        return newlines
    }

    /// The `:CHAIN` lines from `from` on: iptables-save declares every chain right after
    /// `*table`, so the table makes room for them all at once.
    func countChainLines(from: Int) -> Int {
        var chainLines = 0
        var q = from
        while q < bytes.count && bytes[q] == UInt8(ascii: ":") {
            chainLines += 1
            q = lineEnd(from: q) + 1
        }
        return chainLines
    }

    /// The text of bytes[a..<b]; a and b are at line or word boundaries (ASCII), so they are
    /// also scalar boundaries of `text`.
    func sub(_ a: Int, _ b: Int) -> Substring {
        let u = text.utf8
        return Substring(u[u.index(u.startIndex, offsetBy: a)..<u.index(u.startIndex, offsetBy: b)])
    }

    func string(_ a: Int, _ b: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[a..<b]), as: UTF8.self)
    }

    /// Whether the line's text from byte i (< end) starts with the Character bytes[i], as
    /// String.hasPrefix compares: an ASCII byte followed by an ASCII byte (or nothing) is a
    /// whole Character; otherwise ask String.
    func startsWithByte(_ i: Int, _ end: Int) -> Bool {
        i + 1 >= end || bytes[i + 1] < 0x80 || sub(i, end).hasPrefix(String(UnicodeScalar(bytes[i])))
    }

    /// `-A CHAIN ...` (or `--append`) whose first two words hold no quote, as iptables-save
    /// and kube-proxy write every rule: the command, the chain's bytes, and where the rest
    /// starts. Tokenizing from there gives the words the whole line would give after these,
    /// into an array of exactly the rule's words.
    @inline(__always)  // once per line
    func plainAppend(_ ls: Int, _ le: Int) -> (command: String, chain: (Int, Int), rest: Int)? {
        var p = ls
        while p < le && Tokenizer.isBlank(bytes[p]) { p += 1 }
        let a0 = p
        while p < le && !Tokenizer.isBlank(bytes[p]) && bytes[p] != 34 { p += 1 }
        let command: String
        if p - a0 == 2 && bytes[a0] == 45 && bytes[a0 + 1] == UInt8(ascii: "A") {
            command = "-A"
        } else if p - a0 == 8 && string(a0, p) == "--append" {
            command = "--append"
        } else {
            return nil
        }
        guard p < le, bytes[p] != 34 else { return nil }
        while p < le && Tokenizer.isBlank(bytes[p]) { p += 1 }
        let a1 = p
        while p < le && !Tokenizer.isBlank(bytes[p]) && bytes[p] != 34 { p += 1 }
        guard p > a1, p == le || bytes[p] != 34 else { return nil }
        return (command, (a1, p), p)
    }

    /// The chain a rule command names, found through `chainCache`.
    mutating func chainIndex(of chain: String, _ table: TableName) throws(RulesetParseError) -> Int {
        let ti = currentIndex
        if let ci = chainCache.lookup(chain, table: ti, in: rs.tables[ti]) { return ci }
        guard let i = rs.tables[ti].chainIndex(chain) else { throw fail(chain, "no such chain in table \(table.rawValue)") }
        chainCache.remember(rs.tables[ti].chains[i].name, index: i, table: ti)
        return i
    }

    /// XT_EXTENSION_MAXNAMELEN is 29 with the NUL; iptables rejects names starting with '-'
    /// or '!' and names with blanks.
    func checkChainName(_ name: String) throws(RulesetParseError) {
        let u = name.utf8
        // ASCII (nil when not): every byte is a Character, so byte tests are the String tests below.
        let asciiValid: Bool? = u.withContiguousStorageIfAvailable { b -> Bool? in
            var all: UInt8 = 0, blank = false
            for c in b { all |= c; blank = blank || c == 32 || c == 9 }
            guard all < 0x80 else { return nil }
            return !b.isEmpty && b.count <= 28 && b[0] != 45 && b[0] != 33 && !blank
        } ?? nil
        if let asciiValid {
            guard asciiValid else { throw fail(name, "invalid chain name") }
            return
        }
        guard !name.isEmpty, name.utf8.count <= 28, !name.hasPrefix("-"), !name.hasPrefix("!"),
              !name.contains(" "), !name.contains("\t")
        else { throw fail(name, "invalid chain name") }
    }
}

/// The chain of the previous rule. iptables-save writes each chain's rules together and the
/// chains in order, so most rules find theirs here or at the next index without hashing the
/// name. Reset when chain indexes may move (`-X`, `*table`).
struct ChainCache {
    private var table = -1
    private var chain = ""
    private var index = 0

    mutating func reset() { table = -1 }

    /// The index of `name` in table `ti` when it is the cached chain or the one after it.
    mutating func lookup(_ name: String, table ti: Int, in t: Table) -> Int? {
        guard table == ti else { return nil }
        if chain == name { return index }
        if index + 1 < t.chains.count, t.chains[index + 1].name == name {
            index += 1
            chain = t.chains[index].name
            return index
        }
        return nil
    }

    mutating func remember(_ name: String, index i: Int, table ti: Int) {
        table = ti; chain = name; index = i
    }
}
