import Wire

/// Turns the words of a rule as written to `iptables-restore` into the words `iptables-save`
/// prints for it afterwards: the kernel keeps a parsed rule, and iptables prints it back in its
/// own order and spelling. So this is the rule parser followed by one printer (`RulePrinter`,
/// with each extension's own `save` in `Extensions/`): there is no second grammar. Checked
/// against the real iptables-save in a network namespace (KubeProxyTests).
public enum SaveNormalizer {
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// Normalizes one rule's words (unquoted: one word per argument). `family` decides REJECT's
    /// default and recent's default mask.
    public static func normalize(_ words: [String], family: IPFamily) throws -> [String] {
        var parser = RuleParser()
        parser.layout = SaveLayout()
        let parsed: (matches: [Match], target: Target?, jumpChain: String?)
        do { parsed = try parser.parse(words.map { RuleWord($0) }) } catch {
            throw Problem(description: "\(error.word): \(error.reason)")
        }
        return RulePrinter.saveWords(parsed.matches, parsed.target, layout: parser.layout!, family: family)
    }
}
