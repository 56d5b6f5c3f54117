import Wire

/// iptables-restore text a topology adds to one node's rules (`nodes[].extraRules` for
/// iptables, `extraRules6` for ip6tables): the user's own rules, applied after kube-proxy's and
/// flannel's as `iptables-restore --noflush` applies a file (`-A` appends, `-I` inserts, `-N`
/// and `:CHAIN` lines make chains). Dataplane parses it against the node's compiled rules, so
/// a mistake is reported at its line in the topology file.
public struct NodeExtraRules: Sendable, Equatable {
    public var family: IPFamily
    public var text: String
    /// The topology file, the line of the text's first line, and the column its lines start at
    /// (the block's indentation, from 1).
    public var location: InputLocation
    /// Where the key (`extraRules:`) is written, for messages about the text as a whole.
    public var keyLocation: InputLocation?

    public init(family: IPFamily, text: String, location: InputLocation, keyLocation: InputLocation? = nil) {
        self.family = family
        self.text = text
        self.location = location
        self.keyLocation = keyLocation
    }

    /// The place in the topology file of `word` on line `line` (from 1) of the text: its line
    /// in the file, and its column (the first occurrence on that line; the line's start when
    /// the word is not there).
    public func location(line: Int, word: String) -> InputLocation {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var column = 1
        if line >= 1, line <= lines.count, !word.isEmpty, let r = lines[line - 1].firstRange(of: word) {
            column = lines[line - 1].unicodeScalars.distance(from: lines[line - 1].startIndex, to: r.lowerBound) + 1
        }
        return InputLocation(file: location.file, line: location.line + max(line, 1) - 1,
                             column: max(location.column, 1) + column - 1)
    }

    /// The YAML key that carries rules of `family`.
    public static func key(_ family: IPFamily) -> String { family == .ipv4 ? "extraRules" : "extraRules6" }
}
