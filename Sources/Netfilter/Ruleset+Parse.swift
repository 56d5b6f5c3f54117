extension Ruleset {
    /// Parses iptables-save or iptables-restore text.
    ///
    /// Accepted lines: `*table`, `:CHAIN POLICY [p:b]`, `[p:b] -A CHAIN ...`, `-I CHAIN [n] ...`,
    /// `-N`, `-X`, `-F`, `-P`, `-D CHAIN ...`, `COMMIT`, `#` comments and blank lines.
    ///
    /// Like iptables-restore (iptables/iptables-restore.c), a `*table` line starts the table
    /// empty, so a table named twice keeps only its last section; with `noflush` (as
    /// kube-proxy's `iptables-restore --noflush`) it continues instead. Either way a `:CHAIN`
    /// line for an existing user chain empties it; a built-in chain line only sets the policy.
    ///
    /// - Parameter lenient: a rule with a word kdp does not understand is kept, never matches,
    ///   and is listed in `problems`, instead of failing the parse. Structural errors (no table,
    ///   missing COMMIT, unknown chain) still throw.
    public static func parse(text: String, file: String = "<input>", lenient: Bool = false,
                             noflush: Bool = false) throws(RulesetParseError) -> Ruleset {
        var text = text
        text.makeContiguousUTF8()  // a no-op for native strings; bridged ones are copied once
        let source = text
        let result = source.utf8.withContiguousStorageIfAvailable { bytes in
            Result { () throws(RulesetParseError) -> Ruleset in
                var parser = RestoreParser(bytes: bytes, text: source, file: file, lenient: lenient, noflush: noflush)
                return try parser.parse()
            }
        }
        guard let result else { preconditionFailure("contiguous UTF-8 string without contiguous storage") }
        return try result.get()
    }

    /// `[packets:bytes]`, as iptables-save -c writes before a rule or after a chain's policy.
    static func parseCounters(_ s: Substring) -> Counters? {
        // `[digits:digits]`, read from the bytes; anything else (signs, non-ASCII) takes the
        // general path below, which decides as before.
        let fast: Counters?? = s.utf8.withContiguousStorageIfAvailable { b -> Counters? in
            guard b.count >= 5, b[0] == 91, b[b.count - 1] == 93 else { return nil }
            var values: (UInt64, UInt64) = (0, 0)
            var field = 0, digits = 0
            for i in 1..<(b.count - 1) {
                let c = b[i]
                if c == 58 {
                    guard field == 0, digits > 0 else { return nil }
                    field = 1; digits = 0; continue
                }
                guard c >= 48 && c <= 57, digits < 19 else { return nil }  // 19 digits cannot overflow
                digits += 1
                if field == 0 { values.0 = values.0 * 10 + UInt64(c - 48) } else { values.1 = values.1 * 10 + UInt64(c - 48) }
            }
            guard field == 1, digits > 0 else { return nil }
            return Counters(packets: values.0, bytes: values.1)
        }
        if let fast, let c = fast { return c }
        guard s.hasPrefix("["), s.hasSuffix("]") else { return nil }
        let inner = s.utf8.dropFirst().dropLast().split(separator: 58, omittingEmptySubsequences: false)
        guard inner.count == 2, let p = UInt64(Substring(inner[0])), let b = UInt64(Substring(inner[1])) else { return nil }
        return Counters(packets: p, bytes: b)
    }
}
