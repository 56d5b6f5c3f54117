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

    static func bit(_ h: Hook) -> UInt8 { 1 << UInt8(HookSlots.index(h)) }

    /// The hooks from which each chain of `table` can be reached, as bits by chain index.
    static func reachingHooks(_ table: Table) -> [UInt8] {
        var mask = [UInt8](repeating: 0, count: table.chains.count)
        var stack: [Int] = []
        for hook in table.name.builtinChains {
            guard let start = table.chainIndex(hook.rawValue) else { continue }
            let b = bit(hook)
            stack.append(start)
            while let ci = stack.popLast() {
                if mask[ci] & b != 0 { continue }
                mask[ci] |= b
                // Through a buffer pointer: only each rule's target is read, no Rule is copied.
                table.chains[ci].rules.withUnsafeBufferPointer { rules in
                    for k in rules.indices {
                        switch rules[k].target {
                        case .jump(let n), .goto(let n):
                            if let j = table.chainIndex(n), mask[j] & b == 0 { stack.append(j) }
                        default: break
                        }
                    }
                }
            }
        }
        return mask
    }

    /// The first rule the kernel would refuse: its line, the word, and why.
    static func firstProblem(in table: Table) -> (line: Int, word: String, reason: String)? {
        let reach = reachingHooks(table)
        for ci in table.chains.indices {
            let m = reach[ci]
            if m == 0 { continue }  // unreachable chains are not checked (hook mask 0)
            func has(_ h: Hook) -> Bool { m & bit(h) != 0 }
            let isBuiltin = table.chains[ci].isBuiltin
            let name = table.chains[ci].name
            let problem: (Int, String, String)? = table.chains[ci].rules.withUnsafeBufferPointer { rules in
                for k in rules.indices where rules[k].unsupported == nil {
                    let line = rules[k].line
                    if let t = rules[k].target, let a = allowed(t) {
                        if let only = a.table, only != table.name {
                            return (line, a.name, "\(a.name) is only valid in the \(only.rawValue) table")
                        }
                        if let ok = a.hooks, let bad = Hook.allCases.first(where: { has($0) && !ok.contains($0) }) {
                            return (line, a.name, "\(a.name) cannot be used in a chain reached from \(bad.rawValue)")
                        }
                    }
                    for m in rules[k].matches {
                        switch m {
                        case .inInterface where isBuiltin && (has(.output) || has(.postrouting)):
                            return (line, "-i", "-i cannot be used in \(name)")
                        case .outInterface where isBuiltin && (has(.prerouting) || has(.input)):
                            return (line, "-o", "-o cannot be used in \(name)")
                        case .addrType(_, _, _, _, let limitIn, let limitOut):
                            // xt_addrtype.c addrtype_mt_checkentry_v1
                            if limitIn && (has(.output) || has(.postrouting)) {
                                return (line, "--limit-iface-in", "--limit-iface-in cannot be used from OUTPUT or POSTROUTING")
                            }
                            if limitOut && (has(.prerouting) || has(.input)) {
                                return (line, "--limit-iface-out", "--limit-iface-out cannot be used from PREROUTING or INPUT")
                            }
                        default:
                            break
                        }
                    }
                }
                return nil
            }
            if let problem { return problem }
        }
        return nil
    }
}
