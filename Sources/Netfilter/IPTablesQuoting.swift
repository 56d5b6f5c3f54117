/// Every way kdp quotes a word of an iptables rule, in one place. Three writers quote
/// differently, and kdp reproduces each byte for byte:
///
/// - iptables-save prints free text (comments, `--log-prefix`...) through
///   `xtables_save_string` (libxtables/xtables.c): `saved(_:)`.
/// - A program writing iptables-restore input needs quotes only where the tokenizer
///   (`add_param_to_argv`, iptables/xshared.c) would otherwise split or unescape:
///   `restoreSpelling(_:)`.
/// - kube-proxy double-quotes every comment it writes, whatever it holds, with no escaping
///   (pkg/proxy/iptables/proxier.go: `fmt.Sprintf(`"%s cluster IP"`, ...)`; ipvs/proxier.go
///   `getComment`): `kubeProxyComment(_:)`, and `kubeProxyArgument(_:)` reads such a word back
///   as iptables-restore does.
public enum IPTablesQuoting {
    /// `xtables_save_string`: bare when the text is only `[A-Za-z0-9_-]` (and not empty);
    /// otherwise in double quotes with `"`, `\` and `'` escaped by a backslash.
    /// - Complexity: O(n) in the text's length; allocates only when it quotes.
    public static func saved(_ text: String) -> String {
        if isPlain(text) { return text }
        var out = "\""
        for ch in text {
            if ch == "\"" || ch == "\\" || ch == "'" { out.append("\\") }
            out.append(ch)
        }
        out.append("\"")
        return out
    }

    /// Whether `xtables_save_string` prints the text bare: letters, digits, `_` and `-` only.
    public static func isPlain(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { b in
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 || b == 45
        }
    }

    /// The word as iptables-restore input spells it: as it is unless `add_param_to_argv` would
    /// split it (a space) or unescape it (a quote or a backslash); then as `saved(_:)` spells it.
    /// So kube-proxy's bare `ns/svc:p80` stays bare, and a comment with spaces is quoted.
    /// - Complexity: O(n) in the word's UTF-8 bytes; it scans bytes, not Characters, because it
    ///   runs on every word of every compiled rule and the four bytes it looks for are ASCII.
    public static func restoreSpelling(_ word: String) -> String {
        word.utf8.contains(where: { $0 == 0x20 || $0 == 0x22 || $0 == 0x27 || $0 == 0x5C }) ? saved(word) : word
    }

    /// A comment word as kube-proxy writes it: always in double quotes, nothing escaped
    /// (kube-proxy's comments hold no quote or backslash).
    public static func kubeProxyComment(_ text: String) -> String { "\"" + text + "\"" }

    /// The argument iptables-restore reads from a word kube-proxy wrote: the enclosing double
    /// quotes of `kubeProxyComment(_:)` removed, any other word as it is.
    public static func kubeProxyArgument(_ word: String) -> String {
        word.count >= 2 && word.hasPrefix("\"") && word.hasSuffix("\"") ? String(word.dropFirst().dropLast()) : word
    }
}
