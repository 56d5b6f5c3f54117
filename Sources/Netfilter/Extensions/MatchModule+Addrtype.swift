import Wire

/// `-m addrtype` (libxt_addrtype.c, revision 1).
extension MatchModule {
    static let addrtypeOptions = ModuleSpec([
        OptionSpec("--src-type", invertible: true), OptionSpec("--dst-type", invertible: true),
        OptionSpec("--limit-iface-in", 0), OptionSpec("--limit-iface-out", 0),
    ])

    static func buildAddrtype(_ opts: RuleParser.Options, into out: inout [Match]) throws(RuleError) {
        let s = opts.last("--src-type"), d = opts.last("--dst-type")
        if s == nil && d == nil { throw RuleError(word: "addrtype", reason: "addrtype needs --src-type or --dst-type") }
        let limitIn = opts.has("--limit-iface-in"), limitOut = opts.has("--limit-iface-out")
        if limitIn && limitOut {
            throw RuleError(word: "--limit-iface-out", reason: "--limit-iface-in and --limit-iface-out cannot be combined")
        }
        out.append(.addrType(
            source: try s.map { (x) throws(RuleError) in try addressTypes(x.args[0]) }, sourceNegated: s?.negated ?? false,
            destination: try d.map { (x) throws(RuleError) in try addressTypes(x.args[0]) }, destinationNegated: d?.negated ?? false,
            limitInputInterface: limitIn, limitOutputInterface: limitOut))
    }

    static func addressTypes(_ s: String) throws(RuleError) -> AddressTypeSet {
        var set = AddressTypeSet()
        for name in s.split(separator: ",", omittingEmptySubsequences: false) {
            guard let e = AddressTypeSet.names.first(where: { $0.0 == name.uppercased() }) else {
                throw RuleError(word: String(name), reason: "unknown address type")
            }
            set.insert(e.1)
        }
        return set
    }

    /// addrtype_save_v1: `--src-type`, `--dst-type` (types in `rtn_names` order), then
    /// `--limit-iface-in` or `--limit-iface-out`.
    static func saveAddrtype(_ matches: ArraySlice<Match>, into out: inout [String]) {
        for case .addrType(let source, let sourceNegated, let destination, let destinationNegated,
                           let limitIn, let limitOut) in matches {
            func names(_ set: AddressTypeSet) -> String {
                AddressTypeSet.names.filter { set.contains($0.1) }.map(\.0).joined(separator: ",")
            }
            if let source { out.option("--src-type", sourceNegated, names(source)) }
            if let destination { out.option("--dst-type", destinationNegated, names(destination)) }
            if limitIn { out.append("--limit-iface-in") }
            if limitOut { out.append("--limit-iface-out") }
        }
    }
}
