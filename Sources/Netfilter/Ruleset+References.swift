extension Ruleset {
    /// Every `-m set` a rule names, with the rule's line, in file order: for checking that
    /// the sets were given (the kernel refuses a rule naming a set it does not have).
    public func setReferences() -> [(name: String, line: Int)] {
        var out: [(name: String, line: Int)] = []
        for table in tables {
            for chain in table.chains {
                for rule in chain.rules {
                    for case .set(let name, _, _, _) in rule.matches { out.append((name, rule.line)) }
                }
            }
        }
        return out.sorted { $0.line < $1.line }
    }

    /// Whether any rule has `-m owner` (a trace then says whose socket it assumed).
    public var usesOwnerMatch: Bool {
        tables.contains { t in
            t.chains.contains { c in
                c.rules.contains { r in r.matches.contains { if case .owner = $0 { true } else { false } } }
            }
        }
    }
}
