import Wire

/// One rule: where it came from, the words it was written with (for printing back exactly), and
/// what they mean (for evaluation).
public struct Rule: Hashable, Sendable {
    /// The words after `-A CHAIN`, spelled as in the source.
    public var words: [RuleWord]
    /// `[packets:bytes]` before `-A`, as `iptables-save -c` writes.
    public var counters: Counters?
    /// Conditions on the IP header (`-s -d -p -i -o -f`), which the kernel checks before any
    /// match module (`ip_packet_match` in net/ipv4/netfilter/ip_tables.c), then the match
    /// modules in the order written.
    public var matches: [Match]
    /// What a matching packet gets; nil for a rule that only counts.
    public var target: Target?
    /// 1-based line in the source file, 0 when built in code.
    public var line: Int
    /// Set by `lenient` parsing: why this rule can never match.
    public var unsupported: String?
    /// Why the rule exists, when kdp's kube-proxy compiler wrote it; nil for rules parsed from
    /// text, whose only account of themselves is their comment.
    public var origin: RuleOrigin?

    public init(words: [RuleWord], counters: Counters? = nil, matches: [Match], target: Target?,
                line: Int = 0, unsupported: String? = nil, origin: RuleOrigin? = nil) {
        self.words = words
        self.counters = counters
        self.matches = matches
        self.target = target
        self.line = line
        self.unsupported = unsupported
        self.origin = origin
    }

    /// The rule as iptables-save would print it after `-A CHAIN `.
    public var text: String { words.map(\.printed).joined(separator: " ") }
}
