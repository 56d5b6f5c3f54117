extension Ruleset {
    /// Applies iptables-restore `text` on top of this ruleset, as `iptables-restore --noflush`
    /// applies a file to a running node: `*table` continues the table, `-A` appends, `-I`
    /// inserts, `-N` or a `:CHAIN` line makes a chain (and empties an existing user chain),
    /// `-D`/`-F`/`-X`/`-P` change what is there; every jump must reach a chain and every target
    /// suit its hooks when the table is committed. Each rule the text adds carries
    /// `RuleOrigin(.extraRule(file: origin.file, line: origin.firstLine + its line - 1))`.
    /// Errors name `file` and the line in `text` (from 1).
    ///
    /// Cost: the text is parsed once; the base's tables are copied once (copy-on-write) and its
    /// jumps checked again at each COMMIT (linear in the table's rules).
    public func applying(_ text: String, file: String, origin: (file: String, firstLine: Int)) throws(RulesetParseError) -> Ruleset {
        var text = text
        text.makeContiguousUTF8()
        let source = text
        let result = source.utf8.withContiguousStorageIfAvailable { bytes in
            Result { () throws(RulesetParseError) -> Ruleset in
                var parser = RestoreParser(bytes: bytes, text: source, file: file, lenient: false, noflush: true, base: self)
                parser.extraRulesAt = origin
                return try parser.parse()
            }
        }
        guard let result else { preconditionFailure("contiguous UTF-8 string without contiguous storage") }
        return try result.get()
    }
}
