/// A whole iptables-save / iptables-restore file: the tables with their chains and rules, plus
/// the layout of the text so that printing gives back the same bytes.
public struct Ruleset: Hashable, Sendable {
    /// One line of the source, in order. Rules are kept by value so that printing does not
    /// depend on later `-F`/`-X`/`-D` lines having changed the chains.
    public enum Line: Hashable, Sendable {
        case verbatim(String)  // comments, blank lines, `-N`/`-X`/`-F`/`-P`/`-D` commands
        case table(TableName)
        case chain(name: String, policy: Policy?, counters: Counters?)
        /// A rule command: only what printing needs (the words, counters, `-A`/`-I` spelling).
        case rule(chain: String, words: [RuleWord], counters: Counters?, command: String, position: String?)
        case commit
    }

    public var tables: [Table]
    /// The source's lines in order. A ruleset assembled from shared runs (`assemble`) keeps
    /// them as runs that other rulesets share (`lineRuns`); reading `lines` joins them, and the
    /// first change joins them once into one array of its own.
    public var lines: [Line] {
        get { lineRuns.count == 1 ? lineRuns[0] : Array(lineRuns.joined()) }
        _modify {
            if lineRuns.count != 1 { lineRuns = [Array(lineRuns.joined())] }
            yield &lineRuns[0]
        }
        set { lineRuns = [newValue] }
    }
    /// `lines` in runs, each run an array shared copy-on-write with every ruleset assembled
    /// from the same pieces; printing walks the runs without joining them.
    var lineRuns: [[Line]] = [[]]
    /// Rules made never-matching by lenient parsing, with the reason.
    public var problems: [LenientProblem]
    /// What parsing assumed that the text does not say (the table of each `iptables -S`
    /// section), for the trace's notes.
    public var notes: [String] = []
    /// Whether the source text ended with a newline (printing keeps it that way).
    public var endsWithNewline = true

    public init() {
        tables = []
        problems = []
    }

    public static func == (a: Ruleset, b: Ruleset) -> Bool {
        a.tables == b.tables && a.problems == b.problems && a.notes == b.notes && a.endsWithNewline == b.endsWithNewline
            && a.lineRuns.joined().elementsEqual(b.lineRuns.joined())
    }

    public func hash(into h: inout Hasher) {
        h.combine(tables)
        h.combine(problems)
        h.combine(notes)
        h.combine(endsWithNewline)
        for line in lineRuns.joined() { h.combine(line) }
    }

    public func table(_ name: TableName) -> Table? { tables.first { $0.name == name } }

    public mutating func withTable<R>(_ name: TableName, _ body: (inout Table) -> R) -> R {
        if let i = tables.firstIndex(where: { $0.name == name }) { return body(&tables[i]) }
        tables.append(Table(name: name))
        return body(&tables[tables.count - 1])
    }

    /// Prints the ruleset back as iptables-restore text; for parsed iptables-save output this
    /// is byte-for-byte the input.
    public func iptablesSave() -> String {
        var out = ""
        out.reserveCapacity(lineRuns.reduce(0) { $0 + $1.count } * 120)
        for line in lineRuns.joined() {
            switch line {
            case .verbatim(let s): out += s
            case .table(let t): out += "*" + t.rawValue
            case .chain(let name, let policy, let counters):
                out += ":" + name + " " + (policy?.rawValue ?? "-")
                if let c = counters { out += " [\(c.packets):\(c.bytes)]" }
            case .rule(let chain, let words, let counters, let command, let position):
                if let c = counters { out += "[\(c.packets):\(c.bytes)] " }
                out += command + " " + chain
                if let p = position { out += " " + p }
                for w in words { out += " "; out += w.printed }
            case .commit: out += "COMMIT"
            }
            out += "\n"
        }
        if !endsWithNewline && out.hasSuffix("\n") { out.removeLast() }
        return out
    }
}
