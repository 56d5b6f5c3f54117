/// One option of a match module or target: name, argument count, whether `!` may precede it,
/// as an entry of the `xt_option_entry` tables of iptables' extensions/libxt_*.c and
/// libipt_*.c. Each extension's table lives beside its parser and printer in `Extensions/`.
struct OptionSpec: Sendable {
    let name: String
    let arity: Int
    let invertible: Bool
    init(_ name: String, _ arity: Int = 1, invertible: Bool = false) {
        self.name = name
        self.arity = arity
        self.invertible = invertible
    }
}

/// The options of one extension; aliases map to the canonical name (`--destination-port` →
/// `--dport`).
struct ModuleSpec: Sendable {
    let options: NameTable<OptionSpec>
    init(_ list: [OptionSpec], aliases: [String: String] = [:]) {
        var d: [String: OptionSpec] = [:]
        for o in list { d[o.name] = o }
        for (alias, canonical) in aliases { d[alias] = d[canonical] }
        options = NameTable(d)
    }
}

/// A few values by name, looked up by scanning: every word of every rule is looked up here,
/// and comparing lengths, then the few names of that length, costs less than hashing the word.
struct NameTable<Value: Sendable>: Sendable {
    // One array, so that copying a table (a ModuleSpec) is one retain.
    private let entries: [(name: String, length: Int, value: Value)]
    /// The longest name: longer ASCII words (`-j KUBE-SVC-…`) need no comparison.
    private let maxLength: Int

    init(_ d: [String: Value]) {
        entries = d.sorted { $0.key < $1.key }.map { ($0.key, $0.key.utf8.count, $0.value) }
        maxLength = entries.map(\.length).max() ?? 0
        assert(entries.allSatisfy { $0.name.utf8.allSatisfy { $0 < 0x80 } }, "the lookup assumes ASCII names")
    }

    subscript(_ name: String) -> Value? {
        let n = name.utf8.count
        if n <= maxLength {
            for i in entries.indices where entries[i].length == n && entries[i].name == name { return entries[i].value }
        }
        // Names are ASCII. Only a word with other bytes can still equal one (Strings compare
        // canonically, as Dictionary keys did: KELVIN SIGN is K), in at most 3 bytes a letter.
        if n <= 3 * maxLength && !Self.isASCII(name) {
            for i in entries.indices where entries[i].name == name { return entries[i].value }
        }
        return nil
    }

    /// The values whose name starts with `prefix` (getopt_long's abbreviations; only asked
    /// when no name is equal, so it may scan).
    func values(withPrefix prefix: String) -> [Value] {
        entries.filter { $0.name.hasPrefix(prefix) }.map(\.value)
    }

    private static func isASCII(_ s: String) -> Bool {
        // OR of all bytes, which vectorizes: most words looked up and not found are chain names.
        s.utf8.withContiguousStorageIfAvailable { b in b.reduce(0, |) < 0x80 } ?? s.utf8.allSatisfy { $0 < 0x80 }
    }
}
