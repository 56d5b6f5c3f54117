import Wire

/// `-j MARK` (libxt_MARK.c, revision 2) and `-j CONNMARK` (libxt_CONNMARK.c, revision 1).
extension TargetModule {
    static let markOptions = ModuleSpec([
        OptionSpec("--set-mark"), OptionSpec("--set-xmark"), OptionSpec("--or-mark"),
        OptionSpec("--and-mark"), OptionSpec("--xor-mark"),
    ])
    static let connmarkOptions = ModuleSpec([
        OptionSpec("--set-mark"), OptionSpec("--set-xmark"), OptionSpec("--save-mark", 0),
        OptionSpec("--restore-mark", 0), OptionSpec("--nfmask"), OptionSpec("--ctmask"), OptionSpec("--mask"),
        OptionSpec("--or-mark"), OptionSpec("--and-mark"), OptionSpec("--xor-mark"),
    ])

    /// mark_tg_parse: every form becomes (value, mask) for mark_tg's
    /// mark = (mark & ~mask) ^ value.
    static func buildMark(_ opts: RuleParser.Options) throws(RuleError) -> Target {
        guard opts.count == 1, let o = opts.first else { throw RuleError(word: "MARK", reason: "MARK needs exactly one action") }
        switch o.name {
        case "--set-xmark":
            let (v, m) = try RuleParser.valueMask(o.args[0]); return .mark(value: v, mask: m)
        case "--set-mark":
            let (v, m) = try RuleParser.valueMask(o.args[0]); return .mark(value: v, mask: v | m)
        case "--and-mark": return .mark(value: 0, mask: ~(try RuleParser.number(o.args[0])))
        case "--or-mark": let v = try RuleParser.number(o.args[0]); return .mark(value: v, mask: v)
        default: return .mark(value: try RuleParser.number(o.args[0]), mask: 0)
        }
    }

    /// connmark_tg_parse_v1, in the same (value, mask) form; `--save-mark` and
    /// `--restore-mark` with their masks.
    static func buildConnmark(_ opts: RuleParser.Options) throws(RuleError) -> Target {
        if opts.has("--save-mark") || opts.has("--restore-mark") {
            var nf = UInt32.max, ct = UInt32.max
            if let m = opts.last("--mask") { nf = try RuleParser.number(m.args[0]); ct = nf }
            if let m = opts.last("--nfmask") { nf = try RuleParser.number(m.args[0]) }
            if let m = opts.last("--ctmask") { ct = try RuleParser.number(m.args[0]) }
            return opts.has("--save-mark") ? .connmarkSave(nfmask: nf, ctmask: ct) : .connmarkRestore(nfmask: nf, ctmask: ct)
        }
        func arg(_ n: String) -> String? { opts.last(n)?.args[0] }
        if let a = arg("--set-xmark") { let (v, m) = try RuleParser.valueMask(a); return .connmarkSet(value: v, mask: m) }
        if let a = arg("--set-mark") { let (v, m) = try RuleParser.valueMask(a); return .connmarkSet(value: v, mask: v | m) }
        if let a = arg("--and-mark") { return .connmarkSet(value: 0, mask: ~(try RuleParser.number(a))) }
        if let a = arg("--or-mark") { let v = try RuleParser.number(a); return .connmarkSet(value: v, mask: v) }
        if let a = arg("--xor-mark") { return .connmarkSet(value: try RuleParser.number(a), mask: 0) }
        throw RuleError(word: "CONNMARK", reason: "CONNMARK needs an action")
    }

    /// mark_tg_save: every operation as `--set-xmark 0xVALUE/0xMASK`; connmark_tg_save:
    /// `--set-xmark`, or `--save-mark`/`--restore-mark` with both masks.
    static func saveMark(_ target: Target, into out: inout [String]) {
        switch target {
        case .mark(let value, let mask), .connmarkSet(let value, let mask):
            out += ["--set-xmark", SaveText.hex(value) + "/" + SaveText.hex(mask)]
        case .connmarkSave(let nfmask, let ctmask):
            out += ["--save-mark", "--nfmask", SaveText.hex(nfmask), "--ctmask", SaveText.hex(ctmask)]
        case .connmarkRestore(let nfmask, let ctmask):
            out += ["--restore-mark", "--nfmask", SaveText.hex(nfmask), "--ctmask", SaveText.hex(ctmask)]
        default: assertionFailure("not a mark target: \(target)")
        }
    }
}
