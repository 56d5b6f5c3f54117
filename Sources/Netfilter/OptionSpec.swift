/// The options each match module and target accepts: name, argument count, whether `!` may
/// precede it. Taken from the `xt_option_entry` tables of iptables' extensions/libxt_*.c and
/// libipt_*.c; aliases map to the canonical name (`--destination-port` → `--dport`).
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

    private static func isASCII(_ s: String) -> Bool {
        // OR of all bytes, which vectorizes: most words looked up and not found are chain names.
        s.utf8.withContiguousStorageIfAvailable { b in b.reduce(0, |) < 0x80 } ?? s.utf8.allSatisfy { $0 < 0x80 }
    }
}

enum Specs {
    static let portAliases = [
        "--source-port": "--sport", "--destination-port": "--dport",
    ]

    static let matches = NameTable<ModuleSpec>([
        "tcp": ModuleSpec([
            OptionSpec("--sport", invertible: true), OptionSpec("--dport", invertible: true),
            OptionSpec("--tcp-flags", 2, invertible: true), OptionSpec("--syn", 0, invertible: true),
            OptionSpec("--tcp-option", invertible: true),
        ], aliases: portAliases),
        "udp": ModuleSpec([OptionSpec("--sport", invertible: true), OptionSpec("--dport", invertible: true)],
                          aliases: portAliases),
        "sctp": ModuleSpec([OptionSpec("--sport", invertible: true), OptionSpec("--dport", invertible: true)],
                           aliases: portAliases),
        "icmp": ModuleSpec([OptionSpec("--icmp-type", invertible: true)]),
        "icmp6": ModuleSpec([OptionSpec("--icmpv6-type", invertible: true)]),
        "multiport": ModuleSpec([
            OptionSpec("--sports", invertible: true), OptionSpec("--dports", invertible: true),
            OptionSpec("--ports", invertible: true),
        ], aliases: ["--source-ports": "--sports", "--destination-ports": "--dports"]),
        "comment": ModuleSpec([OptionSpec("--comment")]),
        "statistic": ModuleSpec([
            OptionSpec("--mode"), OptionSpec("--probability", invertible: true),
            OptionSpec("--every", invertible: true), OptionSpec("--packet"),
        ]),
        "mark": ModuleSpec([OptionSpec("--mark", invertible: true)]),
        "connmark": ModuleSpec([OptionSpec("--mark", invertible: true)]),
        "conntrack": ModuleSpec([
            OptionSpec("--ctstate", invertible: true), OptionSpec("--ctproto", invertible: true),
            OptionSpec("--ctorigsrc", invertible: true), OptionSpec("--ctorigdst", invertible: true),
            OptionSpec("--ctreplsrc", invertible: true), OptionSpec("--ctrepldst", invertible: true),
            OptionSpec("--ctorigsrcport", invertible: true), OptionSpec("--ctorigdstport", invertible: true),
            OptionSpec("--ctreplsrcport", invertible: true), OptionSpec("--ctrepldstport", invertible: true),
            OptionSpec("--ctstatus", invertible: true), OptionSpec("--ctexpire", invertible: true),
            OptionSpec("--ctdir"),
        ]),
        "state": ModuleSpec([OptionSpec("--state", invertible: true)]),
        "addrtype": ModuleSpec([
            OptionSpec("--src-type", invertible: true), OptionSpec("--dst-type", invertible: true),
            OptionSpec("--limit-iface-in", 0), OptionSpec("--limit-iface-out", 0),
        ]),
        "recent": ModuleSpec([
            OptionSpec("--name"), OptionSpec("--set", 0, invertible: true),
            OptionSpec("--rcheck", 0, invertible: true), OptionSpec("--update", 0, invertible: true),
            OptionSpec("--remove", 0, invertible: true), OptionSpec("--seconds"), OptionSpec("--reap", 0),
            OptionSpec("--hitcount"), OptionSpec("--rttl", 0), OptionSpec("--rsource", 0),
            OptionSpec("--rdest", 0), OptionSpec("--mask"),
        ]),
        "set": ModuleSpec([
            OptionSpec("--match-set", 2, invertible: true), OptionSpec("--set", 2, invertible: true),
            OptionSpec("--return-nomatch", 0), OptionSpec("--update-counters", 0, invertible: true),
            OptionSpec("--update-subcounters", 0, invertible: true),
            OptionSpec("--packets-eq", invertible: true), OptionSpec("--packets-lt"), OptionSpec("--packets-gt"),
            OptionSpec("--bytes-eq", invertible: true), OptionSpec("--bytes-lt"), OptionSpec("--bytes-gt"),
        ]),
        "physdev": ModuleSpec([
            OptionSpec("--physdev-in", invertible: true), OptionSpec("--physdev-out", invertible: true),
            OptionSpec("--physdev-is-in", 0, invertible: true), OptionSpec("--physdev-is-out", 0, invertible: true),
            OptionSpec("--physdev-is-bridged", 0, invertible: true),
        ]),
        "nfacct": ModuleSpec([OptionSpec("--nfacct-name")]),
        "ipvs": ModuleSpec([
            OptionSpec("--ipvs", 0, invertible: true), OptionSpec("--vproto", invertible: true),
            OptionSpec("--vaddr", invertible: true), OptionSpec("--vport", invertible: true),
            OptionSpec("--vdir"), OptionSpec("--vmethod", invertible: true),
            OptionSpec("--vportctl", invertible: true),
        ]),
        "limit": ModuleSpec([OptionSpec("--limit"), OptionSpec("--limit-burst")]),
    ])

    static let targets = NameTable<ModuleSpec>([
        "ACCEPT": ModuleSpec([]), "DROP": ModuleSpec([]), "RETURN": ModuleSpec([]),
        "REJECT": ModuleSpec([OptionSpec("--reject-with")]),
        "DNAT": ModuleSpec([OptionSpec("--to-destination"), OptionSpec("--random", 0), OptionSpec("--persistent", 0)]),
        "SNAT": ModuleSpec([
            OptionSpec("--to-source"), OptionSpec("--random", 0), OptionSpec("--random-fully", 0),
            OptionSpec("--persistent", 0),
        ]),
        "MASQUERADE": ModuleSpec([OptionSpec("--to-ports"), OptionSpec("--random", 0), OptionSpec("--random-fully", 0)]),
        "REDIRECT": ModuleSpec([OptionSpec("--to-ports"), OptionSpec("--random", 0)]),
        "MARK": ModuleSpec([
            OptionSpec("--set-mark"), OptionSpec("--set-xmark"), OptionSpec("--or-mark"),
            OptionSpec("--and-mark"), OptionSpec("--xor-mark"),
        ]),
        "CONNMARK": ModuleSpec([
            OptionSpec("--set-mark"), OptionSpec("--set-xmark"), OptionSpec("--save-mark", 0),
            OptionSpec("--restore-mark", 0), OptionSpec("--nfmask"), OptionSpec("--ctmask"), OptionSpec("--mask"),
            OptionSpec("--or-mark"), OptionSpec("--and-mark"), OptionSpec("--xor-mark"),
        ]),
        "LOG": ModuleSpec([
            OptionSpec("--log-level"), OptionSpec("--log-prefix"), OptionSpec("--log-tcp-sequence", 0),
            OptionSpec("--log-tcp-options", 0), OptionSpec("--log-ip-options", 0), OptionSpec("--log-uid", 0),
            OptionSpec("--log-macdecode", 0),
        ]),
        "TRACE": ModuleSpec([]),
        "NOTRACK": ModuleSpec([]),
        "CT": ModuleSpec([
            OptionSpec("--notrack", 0), OptionSpec("--zone"), OptionSpec("--zone-orig"), OptionSpec("--zone-reply"),
            OptionSpec("--helper"), OptionSpec("--ctevents"), OptionSpec("--expevents"), OptionSpec("--timeout"),
        ]),
    ])
}
