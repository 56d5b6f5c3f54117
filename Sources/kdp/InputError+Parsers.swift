import Cluster
import Dataplane
import IPVS
import IPVSScenarios
import Netfilter
import Wire

/// The library parsers' errors as kdp prints them: `FILE:LINE:COLUMN: what: 'excerpt'`. The
/// parsers report the line and the offending word; the column is where that word sits on the
/// line (`Diagnostic.column`). The fuzz tests call these same functions.
extension InputError {
    /// An iptables-save / iptables-restore line kdp does not understand.
    init(_ e: RulesetParseError, text: String) {
        self = Diagnostic.error("\(e.reason): '\(Diagnostic.excerpt(e.word))'", file: e.file, line: e.line, word: e.word, in: text)
    }

    /// An `ipset save` line kdp does not understand.
    init(_ e: IPSetParseError, file: String, text: String) {
        self = Diagnostic.error("\(e.reason): '\(Diagnostic.excerpt(e.word))'", file: file, line: e.line, word: e.word, in: text)
    }

    /// An `ipvsadm -S` line kdp does not understand. The parser gives the whole line and a reason
    /// that may quote the offending token in double quotes: the column is that token's.
    init(_ e: IPVSAdmParseError, file: String, text: String) {
        let token = Self.quoted(in: e.reason)
        let reason = Excerpt.shortened(e.reason)
        let word = token ?? String(e.text.prefix { $0 != " " && $0 != "\t" })
        self = Diagnostic.error("\(reason): '\(Diagnostic.excerpt(e.text))'", file: file, line: e.line, word: word, in: text)
    }

    /// A scenario `kdp ipvs simulate` refuses, at the node's line and column when known.
    init(_ e: ScenarioError, file: String) {
        let at = e.line.map { InputLocation(file: file, line: $0, column: max(e.column ?? 1, 1)) } ?? InputLocation(file: file)
        self.init(e.summary, at: at)
    }

    /// Why `trace-rules` could not read one of its dumps.
    init(_ e: TraceRulesError, rules: InputFile, ipsets: InputFile?, ipvs: InputFile?) {
        if case .rules(let r) = e {
            self.init(r, text: rules.text)
        } else if case .ipsets(_, let s) = e, let ipsets {
            self.init(s, file: ipsets.name, text: ipsets.text)
        } else if case .ipvs(_, let v) = e, let ipvs {
            self.init(v, file: ipvs.name, text: ipvs.text)
        } else {
            self.init(e.description)
        }
    }

    /// The first `"…"` in `text`, without the quotes.
    static func quoted(in text: String) -> String? {
        guard let open = text.firstIndex(of: "\"") else { return nil }
        let rest = text[text.index(after: open)...]
        guard let close = rest.lastIndex(of: "\"") else { return nil }
        return String(rest[..<close])
    }
}
