import Wire

/// `-m physdev` (libxt_physdev.c).
extension MatchModule {
    static let physdevOptions = ModuleSpec([
        OptionSpec("--physdev-in", invertible: true), OptionSpec("--physdev-out", invertible: true),
        OptionSpec("--physdev-is-in", 0, invertible: true), OptionSpec("--physdev-is-out", 0, invertible: true),
        OptionSpec("--physdev-is-bridged", 0, invertible: true),
    ])

    static func buildPhysdev(_ opts: RuleParser.Options, into out: inout [Match]) {
        var p = PhysdevMatch()
        for o in opts {
            switch o.name {
            case "--physdev-in": p.physIn = InterfacePattern(o.args[0]); p.physInNegated = o.negated
            case "--physdev-out": p.physOut = InterfacePattern(o.args[0]); p.physOutNegated = o.negated
            case "--physdev-is-in": p.isIn = !o.negated
            case "--physdev-is-out": p.isOut = !o.negated
            case "--physdev-is-bridged": p.isBridged = !o.negated
            default: break
            }
        }
        out.append(.physdev(p))
    }

    /// physdev_save: `--physdev-is-in`, `--physdev-in`, `--physdev-is-out`, `--physdev-out`,
    /// `--physdev-is-bridged`.
    static func savePhysdev(_ matches: ArraySlice<Match>, into out: inout [String]) {
        for case .physdev(let p) in matches {
            if let isIn = p.isIn { out.option("--physdev-is-in", !isIn) }
            if let i = p.physIn { out.option("--physdev-in", p.physInNegated, i.description) }
            if let isOut = p.isOut { out.option("--physdev-is-out", !isOut) }
            if let o = p.physOut { out.option("--physdev-out", p.physOutNegated, o.description) }
            if let bridged = p.isBridged { out.option("--physdev-is-bridged", !bridged) }
        }
    }
}
