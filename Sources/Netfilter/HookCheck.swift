/// The checks the kernel makes when a table is loaded (xt_check_target / xt_check_match in
/// net/netfilter/x_tables.c, with each extension's `.table` and `.hooks`): a target or match
/// used in a chain reachable from a hook it does not support makes the whole restore fail.
/// Reachability is computed as the kernel does (mark_source_chains): every chain a built-in
/// chain reaches through jumps and gotos inherits its hook.
enum HookCheck {
    /// Hooks a target may run in, and the table it is confined to (nil: any).
    static func allowed(_ target: Target) -> (hooks: Set<Hook>?, table: TableName?, name: String)? {
        switch target {
        case .dnat: ([.prerouting, .output], .nat, "DNAT")
        case .redirect: ([.prerouting, .output], .nat, "REDIRECT")
        case .snat: ([.postrouting, .input], .nat, "SNAT")
        case .masquerade: ([.postrouting], .nat, "MASQUERADE")
        case .reject: ([.input, .forward, .output], nil, "REJECT")
        case .notrack: (nil, .raw, "CT")
        case .ct: (nil, .raw, "CT")
        default: nil
        }
    }

    /// The hooks from which each chain of `table` can be reached.
    static func reachingHooks(_ table: Table) -> [String: Set<Hook>] {
        var hooks: [String: Set<Hook>] = [:]
        for hook in table.name.builtinChains {
            var stack = [hook.rawValue]
            var seen: Set<String> = []
            while let c = stack.popLast() {
                guard seen.insert(c).inserted, let chain = table.chain(c) else { continue }
                hooks[c, default: []].insert(hook)
                for r in chain.rules {
                    switch r.target {
                    case .jump(let n), .goto(let n): stack.append(n)
                    default: break
                    }
                }
            }
        }
        return hooks
    }

    /// The first rule the kernel would refuse: its line, the word, and why.
    static func firstProblem(in table: Table) -> (line: Int, word: String, reason: String)? {
        let reach = reachingHooks(table)
        for chain in table.chains {
            let hooks = reach[chain.name] ?? []
            for rule in chain.rules where rule.unsupported == nil {
                if let t = rule.target, let a = allowed(t) {
                    if let only = a.table, only != table.name {
                        return (rule.line, a.name, "\(a.name) is only valid in the \(only.rawValue) table")
                    }
                    if let ok = a.hooks, let bad = hooks.subtracting(ok).first {
                        return (rule.line, a.name, "\(a.name) cannot be used in a chain reached from \(bad.rawValue)")
                    }
                }
                for m in rule.matches {
                    switch m {
                    case .inInterface where hooks.contains(.output) || hooks.contains(.postrouting):
                        if chain.isBuiltin { return (rule.line, "-i", "-i cannot be used in \(chain.name)") }
                    case .outInterface where hooks.contains(.prerouting) || hooks.contains(.input):
                        if chain.isBuiltin { return (rule.line, "-o", "-o cannot be used in \(chain.name)") }
                    case .addrType(_, _, _, _, let limitIn, let limitOut):
                        // xt_addrtype.c addrtype_mt_checkentry_v1
                        if limitIn && (hooks.contains(.output) || hooks.contains(.postrouting)) {
                            return (rule.line, "--limit-iface-in", "--limit-iface-in cannot be used from OUTPUT or POSTROUTING")
                        }
                        if limitOut && (hooks.contains(.prerouting) || hooks.contains(.input)) {
                            return (rule.line, "--limit-iface-out", "--limit-iface-out cannot be used from PREROUTING or INPUT")
                        }
                    default:
                        break
                    }
                }
            }
        }
        return nil
    }
}
