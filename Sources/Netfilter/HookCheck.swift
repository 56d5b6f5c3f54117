/// The checks the kernel makes when a table is loaded (xt_check_target / xt_check_match in
/// net/netfilter/x_tables.c, with each extension's `.table` and `.hooks`): a target or match
/// used in a chain reachable from a hook it does not support makes the whole restore fail.
/// Reachability is computed as the kernel does (mark_source_chains): every chain a built-in
/// chain reaches through jumps and gotos inherits its hook.
enum HookCheck {
    /// Hooks a target may run in (as `bit`s), and the table it is confined to (nil: any).
    static func allowed(_ target: Target?) -> (hooks: UInt8?, table: TableName?, name: String)? {
        switch target {
        case .dnat?: (bit(.prerouting) | bit(.output), .nat, "DNAT")
        case .redirect?: (bit(.prerouting) | bit(.output), .nat, "REDIRECT")
        case .snat?: (bit(.postrouting) | bit(.input), .nat, "SNAT")
        case .masquerade?: (bit(.postrouting), .nat, "MASQUERADE")
        case .reject?: (bit(.input) | bit(.forward) | bit(.output), nil, "REJECT")
        case .notrack?: (nil, .raw, "CT")
        case .ct?: (nil, .raw, "CT")
        default: nil
        }
    }

    /// Whether some hook could refuse the rule: its target is confined (`allowed`), or it has
    /// `-i`, `-o` or addrtype's `--limit-iface-*`. A chain without such rules needs no check.
    static func mayBeRefused(target: Target?, matches: [Match]) -> Bool {
        if allowed(target) != nil { return true }
        return matches.withUnsafeBufferPointer { ms in
            ms.indices.contains { i in
                switch ms[i] {
                case .inInterface, .outInterface: true
                case .addrType(_, _, _, _, let limitIn, let limitOut): limitIn || limitOut
                case .owner: true
                default: false
                }
            }
        }
    }

    /// Bits in Hook.allCases order, so the lowest set bit is the first hook in that order.
    static func bit(_ h: Hook) -> UInt8 { 1 << UInt8(HookSlots.index(h)) }

    /// The hooks from which each chain of `table` can be reached, as bits by chain index.
    ///
    /// - Parameter jumps: every jump and goto of the table's rules as (chain, target chain)
    ///   indexes, when the caller has them (the parser resolves them anyway); nil: found here.
    static func reachingHooks(_ table: Table, jumps: [(from: Int, to: Int)]? = nil) -> [UInt8] {
        let count = table.chains.count
        // Each chain's jump and goto targets by index (CSR), each name hashed once: the walks
        // below follow integers, however many hooks reach a chain.
        var edgeStart = [Int](repeating: 0, count: count + 1)
        var edges: [Int] = []
        if let jumps {
            for j in jumps { edgeStart[j.from + 1] += 1 }
            for c in 0..<count { edgeStart[c + 1] += edgeStart[c] }
            var fill = edgeStart
            edges = [Int](repeating: 0, count: jumps.count)
            for j in jumps { edges[fill[j.from]] = j.to; fill[j.from] += 1 }
        } else {
            var lastName = "", lastIndex: Int? = nil  // KUBE-MARK-MASQ and the like repeat
            for ci in 0..<count {
                edgeStart[ci] = edges.count
                table.chains[ci].rules.withUnsafeBufferPointer { rules in
                    for k in rules.indices {
                        switch rules[k].target {
                        case .jump(let n)?, .goto(let n)?:
                            if n != lastName { lastName = n; lastIndex = table.chainIndex(n) }
                            if let j = lastIndex { edges.append(j) }
                        default: break
                        }
                    }
                }
            }
            edgeStart[count] = edges.count
        }
        var mask = [UInt8](repeating: 0, count: count)
        var stack: [Int] = []
        for hook in table.name.builtinChains {
            guard let start = table.chainIndex(hook.rawValue) else { continue }
            let b = bit(hook)
            stack.append(start)
            while let ci = stack.popLast() {
                if mask[ci] & b != 0 { continue }
                mask[ci] |= b
                for e in edgeStart[ci]..<edgeStart[ci + 1] where mask[edges[e]] & b == 0 { stack.append(edges[e]) }
            }
        }
        return mask
    }

    /// The first rule the kernel would refuse: its line, the word, and why.
    ///
    /// - Parameter candidates: by chain index, whether the chain has a rule that `mayBeRefused`
    ///   (false: it has none), when the caller knows; nil: every chain is read.
    static func firstProblem(in table: Table, jumps: [(from: Int, to: Int)]? = nil,
                             candidates: [Bool]? = nil) -> (line: Int, word: String, reason: String)? {
        let reach = reachingHooks(table, jumps: jumps)
        for ci in table.chains.indices {
            let m = reach[ci]
            if m == 0 { continue }  // unreachable chains are not checked (hook mask 0)
            if let candidates, !candidates[ci] { continue }
            func has(_ h: Hook) -> Bool { m & bit(h) != 0 }
            let isBuiltin = table.chains[ci].isBuiltin
            let name = table.chains[ci].name
            let outOrPost = has(.output) || has(.postrouting), preOrIn = has(.prerouting) || has(.input)
            // Through buffer pointers: rules and matches are read in place, never copied.
            let problem: (Int, String, String)? = table.chains[ci].rules.withUnsafeBufferPointer { rules in
                for k in rules.indices where rules[k].unsupported == nil {
                    let line = rules[k].line
                    if let a = allowed(rules[k].target) {
                        if let only = a.table, only != table.name {
                            return (line, a.name, "\(a.name) is only valid in the \(only.rawValue) table")
                        }
                        if let ok = a.hooks, m & ~ok != 0 {
                            let bad = Hook.allCases.first { has($0) && ok & bit($0) == 0 }!
                            return (line, a.name, "\(a.name) cannot be used in a chain reached from \(bad.rawValue)")
                        }
                    }
                    let found: (Int, String, String)? = rules[k].matches.withUnsafeBufferPointer { matches in
                        for i in matches.indices {
                            switch matches[i] {
                            case .inInterface where isBuiltin && outOrPost:
                                return (line, "-i", "-i cannot be used in \(name)")
                            case .outInterface where isBuiltin && preOrIn:
                                return (line, "-o", "-o cannot be used in \(name)")
                            case .addrType(_, _, _, _, let limitIn, let limitOut):
                                // xt_addrtype.c addrtype_mt_checkentry_v1
                                if limitIn && outOrPost {
                                    return (line, "--limit-iface-in", "--limit-iface-in cannot be used from OUTPUT or POSTROUTING")
                                }
                                if limitOut && preOrIn {
                                    return (line, "--limit-iface-out", "--limit-iface-out cannot be used from PREROUTING or INPUT")
                                }
                            case .owner:
                                // xt_owner's .hooks: LOCAL_OUT and POST_ROUTING only.
                                if let bad = Hook.allCases.first(where: { has($0) && $0 != .output && $0 != .postrouting }) {
                                    return (line, "owner", "-m owner cannot be used in a chain reached from \(bad.rawValue)")
                                }
                            default:
                                break
                            }
                        }
                        return nil
                    }
                    if let found { return found }
                }
                return nil
            }
            if let problem { return problem }
        }
        return nil
    }
}
