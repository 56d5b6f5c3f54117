import Wire

/// `-m nfacct` (libxt_nfacct.c) and `-m limit` (libxt_limit.c): always true in kdp, which
/// neither counts into accounting objects nor limits rates; iptables-save gets their options
/// back as written (`MatchModule.save`).
extension MatchModule {
    static let nfacctOptions = ModuleSpec([OptionSpec("--nfacct-name")])
    static let limitOptions = ModuleSpec([OptionSpec("--limit"), OptionSpec("--limit-burst")])
}
