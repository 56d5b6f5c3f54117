import Wire

/// A ruleset line kdp does not understand: the file, the 1-based line, the word, and why.
/// The lead maps it to exit status 2 with `description` on stderr.
public struct RulesetParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var word: String
    public var reason: String

    public init(file: String, line: Int, word: String, reason: String) {
        self.file = file
        self.line = line
        self.word = word
        self.reason = reason
    }

    public var description: String { "\(file):\(line): \(reason): '\(Excerpt.quote(word))'" }
}

/// A rule that lenient parsing kept as never matching.
public struct LenientProblem: Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var table: TableName
    public var chain: String
    public var word: String
    public var reason: String
    public var description: String { "line \(line): \(reason): '\(Excerpt.quote(word))' (rule in \(table.rawValue) \(chain) never matches)" }
}
