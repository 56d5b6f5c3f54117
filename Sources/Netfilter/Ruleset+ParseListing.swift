/// The two text forms of an iptables ruleset people paste: `iptables-save` (and
/// iptables-restore input), and `iptables -S` / `iptables -t TABLE -S` / `ip6tables -S`
/// output, alone or several concatenated.
public enum RulesFormat: String, Sendable, Hashable {
    case save = "iptables-save"
    case listing = "iptables -S"

    /// The format of `text`, from its first line that is neither blank nor a comment: `*table`
    /// or `:CHAIN` is iptables-save; `-P`, `-N`, `-A` (what `iptables -S` prints) is a listing.
    /// Empty text is iptables-save (an empty ruleset either way).
    /// - Complexity: O(k) in the bytes up to that line (`firstContentLine`).
    public static func detect(_ text: String) -> RulesFormat {
        text.firstContentLine?.hasPrefix("-") == true ? .listing : .save
    }
}

/// One `iptables -S` output inside a listing: its lines and the table they were taken as,
/// with how that table was chosen (said in the trace's notes: kdp assumed it).
public struct ListingSection: Hashable, Sendable {
    public var firstLine: Int
    public var lastLine: Int
    public var table: TableName
    /// How the table was chosen, in words: "from its -P lines", "--table", or what was assumed.
    public var how: String

    public var note: String {
        "lines \(firstLine)-\(lastLine) are `iptables -S` output of table \(table.rawValue) (\(how))"
    }
}

extension Ruleset {
    /// Parses a ruleset dump in either format (`RulesFormat.detect`). For `iptables -S` input
    /// the table of each section comes from its `-P` lines (`ListingScan`), or from `table`
    /// where they do not name one table; `notes` says which table each section was taken as.
    /// iptables-save text takes the hot path of `parse(text:file:lenient:noflush:)` unchanged.
    public static func parseDump(text: String, file: String = "<input>", table: TableName? = nil,
                                 lenient: Bool = false) throws(RulesetParseError) -> Ruleset {
        switch RulesFormat.detect(text) {
        case .save: return try parse(text: text, file: file, lenient: lenient)
        case .listing: return try parseListing(text: text, file: file, table: table, lenient: lenient)
        }
    }

    /// Parses `iptables -S` output (several concatenated are several sections), as
    /// iptables-restore would read the same lines framed by `*table` and `COMMIT`: printing the
    /// result gives that iptables-restore text.
    public static func parseListing(text: String, file: String = "<input>", table: TableName? = nil,
                                    lenient: Bool = false) throws(RulesetParseError) -> Ruleset {
        let sections = try ListingScan.sections(text, file: file, table: table)
        var text = text
        text.makeContiguousUTF8()
        let source = text
        let result = source.utf8.withContiguousStorageIfAvailable { bytes in
            Result { () throws(RulesetParseError) -> Ruleset in
                var parser = RestoreParser(bytes: bytes, text: source, file: file, lenient: lenient, noflush: false)
                parser.listing = sections
                return try parser.parse()
            }
        }
        guard let result else { preconditionFailure("contiguous UTF-8 string without contiguous storage") }
        var rs = try result.get()
        rs.notes += sections.map { "\(file): \($0.note)" }
        return rs
    }
}

/// Finds the sections of `iptables -S` text and the table of each.
///
/// `iptables -S` prints, for one table, a `-P` line for each built-in chain (in the kernel's
/// hook order), then `-N` for each user chain, then the `-A` rules: a run of `-P` lines starts
/// a section. Each table has its own built-in chains (net/ipv4/netfilter/iptable_*.c
/// `valid_hooks`), listed in hook order; an empty table prints only its `-P` lines, so the runs
/// of two concatenated listings can touch: a `-P` chain not after the previous one in hook
/// order starts the next. The tables: raw PREROUTING OUTPUT; mangle all five; nat PREROUTING INPUT OUTPUT
/// POSTROUTING (no INPUT before Linux 2.6.36); filter and security INPUT FORWARD OUTPUT. So the
/// `-P` lines name the table, except filter and security, which have the same: filter is taken
/// (what `iptables -S` lists without `-t`) and the note says so.
enum ListingScan {
    static func sections(_ text: String, file: String, table flag: TableName?) throws(RulesetParseError) -> [ListingSection] {
        var found: [(first: Int, last: Int, policies: [(String, Int)])] = []
        var inPolicyRun = false
        var lineNo = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let first = words.first, !first.hasPrefix("#") else { continue }
            if first == "-P" || first == "--policy" {
                let chain = words.count > 1 ? String(words[1]) : ""
                // -P lines come in hook order, and every table's first built-in chain comes before
                // (or is) another's last: a chain not after the previous one starts a new table.
                if !inPolicyRun || found[found.count - 1].policies.last.map({ Self.hookOrder($0.0) >= Self.hookOrder(chain) }) == true {
                    found.append((lineNo, lineNo, []))
                }
                found[found.count - 1].policies.append((chain, lineNo))
                inPolicyRun = true
            } else {
                if found.isEmpty { found.append((lineNo, lineNo, [])) }
                inPolicyRun = false
            }
            found[found.count - 1].last = lineNo
        }
        var out: [ListingSection] = []
        for s in found {
            let (table, how) = try Self.table(of: s.policies, flag: flag, file: file, line: s.first)
            // A second listing of one table would replace the first (as a second *table does in
            // iptables-restore input): most likely `iptables -S` and `ip6tables -S` pasted
            // together, and a trace is of one family.
            if let earlier = out.first(where: { $0.table == table }) {
                throw RulesetParseError(file: file, line: s.first, word: "-P",
                                        reason: "table \(table.rawValue) is listed again (first at line \(earlier.firstLine)): iptables -S and ip6tables -S output mixed? give one family's rules")
            }
            out.append(ListingSection(firstLine: s.first, lastLine: s.last, table: table, how: how))
        }
        return out
    }

    /// The table whose built-in chains the `-P` lines name, or `flag` where they do not tell.
    static func table(of policies: [(String, Int)], flag: TableName?, file: String, line: Int) throws(RulesetParseError) -> (TableName, String) {
        let names = Set(policies.map(\.0))
        for (name, at) in policies where Hook(rawValue: name) == nil {
            throw RulesetParseError(file: file, line: at, word: name, reason: "-P names a chain that is not built-in")
        }
        let listed = names.sorted { Self.hookOrder($0) < Self.hookOrder($1) }.joined(separator: " ")
        let exact = TableName.allCases.filter { Set($0.builtinChains.map(\.rawValue)) == names }
        let fits = TableName.allCases.filter { t in names.allSatisfy { t.hasBuiltinChain($0) } }
        if exact.count == 1 { return (exact[0], "from its -P lines: \(listed)") }
        if names == ["PREROUTING", "OUTPUT", "POSTROUTING"] && flag == nil {
            return (.nat, "from its -P lines: \(listed), nat before Linux 2.6.36")
        }
        if let flag {
            guard fits.contains(flag) else {
                let missing = names.filter { !flag.hasBuiltinChain($0) }.sorted().joined(separator: " ")
                throw RulesetParseError(file: file, line: line, word: "--table \(flag.rawValue)",
                                        reason: "table \(flag.rawValue) has no built-in chain \(missing)")
            }
            return (flag, "--table")
        }
        if names.isEmpty {
            return (.filter, "no -P lines: filter assumed, as iptables -S lists without -t; pass --table otherwise")
        }
        if exact == [.filter, .security] {
            return (.filter, "from its -P lines: \(listed), which filter and security both have: filter assumed; pass --table security if it is")
        }
        if fits.contains(.filter) {
            return (.filter, "its -P lines (\(listed)) fit several tables: filter assumed; pass --table otherwise")
        }
        throw RulesetParseError(file: file, line: line, word: "-P " + listed,
                                reason: "these -P lines fit tables \(fits.map(\.rawValue).joined(separator: ", ")): pass --table")
    }

    static func hookOrder(_ name: String) -> Int {
        Hook.allCases.firstIndex { $0.rawValue == name } ?? Hook.allCases.count
    }
}
