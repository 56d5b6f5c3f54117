import Foundation
import ArgumentParser
import Cluster
import KubeProxy
import Wire

/// `kdp compile`: the rules a node's kube-proxy programs.
struct CompileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compile",
        abstract: "Print the rules a node's kube-proxy writes (iptables mode, IPVS mode's virtual servers, ipsets and iptables, or nftables mode's table), exactly as upstream writes them.")

    /// iptables and IPVS: restore (the default) or save. nftables: transaction (the default,
    /// knftables' Fake.Dump(), what upstream's tests compare) or list (`nft list table`).
    enum Format: String, ExpressibleByArgument, CaseIterable { case restore, save, transaction, list }
    /// `--proxy-mode`: the data-plane modes plus nftables, which only compile follows so far.
    enum Mode: String, ExpressibleByArgument, CaseIterable { case iptables, ipvs, nftables }
    enum OutputKind: String, ExpressibleByArgument, CaseIterable { case all, ipvs, ipset, iptables }

    @OptionGroup var topology: TopologyOptions
    @Option(help: "The node whose kube-proxy to emulate.") var node: String
    @Option(help: "iptables, ipvs or nftables (default: the topology's kube-proxy mode).") var proxyMode: Mode?
    @Option(help: "IPVS scheduler: rr, wrr, lc, wlc, sh, dh, mh, sed, nq (default: the topology's, else rr).") var ipvsScheduler: String?
    @Option(help: "IPVS mode: all, ipvs (ipvsadm -S -n), ipset (ipset save) or iptables.") var outputKind: OutputKind = .all
    @Option(help: "ipv4 or ipv6 (ip6tables text for a dual-stack cluster's IPv6 proxier).") var family: String?
    @Option(help: "restore: the text kube-proxy hands to iptables-restore --noflush; save: what iptables-save then shows. nftables mode: transaction (knftables' Fake.Dump(), the default) or list (what nft list table then shows).")
    var format: Format?
    @Option(help: "canonical (as upstream's tests sort) or emission (kube-proxy's own order).")
    var order: IPTablesRuleset.Order = .emission
    @Option(help: "ClusterCIDR, NodeCIDR, BridgeInterface, InterfaceNamePrefix or None.") var detectLocalMode: LocalDetectorMode?
    @Flag(help: "Masquerade all traffic to ClusterIPs.") var masqueradeAll = false
    @Option(help: "The masquerade mark bit (default 14).") var masqueradeBit: Int?
    @Option(help: "Spell the mark as given (upstream's tests write 0x4000).") var masqueradeMark: String?
    @Option(help: "CIDRs whose local addresses accept NodePorts (comma-separated).") var nodeportAddresses: String?
    @Option(help: "true or false (--iptables-localhost-nodeports).") var localhostNodeports: Bool?
    @Flag(help: "The host's iptables supports --random-fully.") var randomFully = false
    @Flag(help: "The host has the nfacct counters kube-proxy uses.") var nfacct = false

    func validate() throws {
        if masqueradeBit != nil && masqueradeMark != nil { throw ValidationError("give --masquerade-bit or --masquerade-mark, not both") }
        if let b = masqueradeBit, !(0...31).contains(b) { throw ValidationError("--masquerade-bit must be 0-31") }
        try FamilyFlag.validate(family)
        if format == .save && order == .canonical { throw ValidationError("--order applies to --format restore; iptables-save has its own order") }
        if let format, proxyMode == .nftables, format == .restore || format == .save {
            throw ValidationError("--format \(format.rawValue) is for iptables and ipvs modes; nftables mode prints transaction or list")
        }
        if let format, let proxyMode, proxyMode != .nftables, format == .transaction || format == .list {
            throw ValidationError("--format \(format.rawValue) is for nftables mode; \(proxyMode.rawValue) mode prints restore or save")
        }
        try FlagValue.scheduler(ipvsScheduler)
        if let m = masqueradeMark { _ = try FlagValue.masqueradeMark(m) }
        if let text = nodeportAddresses { _ = try FlagValue.cidrs(text, flag: "--nodeport-addresses", onePerFamily: false) }
    }

    func run() throws {
        let cluster = try topology.cluster()
        let n = try cluster.requireNode(named: node)
        let fam = cluster.proxierFamily(family.flatMap(IPFamily.init(flag:)))
        guard cluster.settings.families.contains(fam) else {
            throw InputError("the cluster has no \(fam.rawValue) addresses (families: \(cluster.settings.families.map(\.rawValue).joined(separator: ", ")))")
        }
        var config = ProxierConfig.forNode(n, in: cluster, family: fam)
        if let m = detectLocalMode { config.detectLocalMode = m }
        if masqueradeAll { config.masqueradeAll = true }
        if let b = masqueradeBit { config.masqueradeBit = b }
        config.masqueradeMarkText = masqueradeMark
        if let text = nodeportAddresses { config.nodePortAddresses = try FlagValue.cidrs(text, flag: "--nodeport-addresses", onePerFamily: false) }
        if let l = localhostNodeports { config.localhostNodePortsFlag = l }
        config.randomFully = randomFully
        config.nfacct = nfacct
        let mode = proxyMode ?? (cluster.settings.kubeProxy.nftablesModeSource != nil ? .nftables : Mode(rawValue: cluster.settings.kubeProxy.mode.rawValue) ?? .iptables)
        if mode == .nftables {
            try runNFTables(cluster, node: n, family: fam, flags: config)
            return
        }
        if let format, format == .transaction || format == .list {
            throw InputError("--format \(format.rawValue) is for nftables mode; the cluster's kube-proxy runs in \(mode.rawValue) mode")
        }
        guard mode == .ipvs else {
            let ruleset = IPTablesCompiler.compile(cluster, config: config)
            switch format ?? .restore {
            case .save: Console.out(try ruleset.saveText(), terminator: "")
            default: Console.out(ruleset.restoreText(order: order), terminator: "")
            }
            return
        }
        let scheduler = ipvsScheduler ?? cluster.settings.kubeProxy.ipvsScheduler
        let ipvs = IPVSModeCompiler.compile(cluster, config: config, scheduler: scheduler)
        for e in ipvs.errors { Console.note("\(e)") }
        let iptables = format == .save ? try ipvs.iptablesSaveText() : ipvs.iptablesRestoreText()
        switch outputKind {
        case .ipvs: Console.out(ipvs.ipvsadmSaveText(), terminator: "")
        case .ipset: Console.out(ipvs.ipsetSaveText(), terminator: "")
        case .iptables: Console.out(iptables, terminator: "")
        case .all:
            Console.out("# ipvsadm -S -n\n" + ipvs.ipvsadmSaveText() + "# ipset save\n" + ipvs.ipsetSaveText()
                        + "# iptables\n" + iptables, terminator: "")
        }
    }

}

extension CompileCommand {
    /// nftables mode: the node's proxier as `NFTablesCompiler.config` makes it (nodePortAddresses
    /// defaulting to the node's primary IPs, said in a note), with the flags applied on top.
    func runNFTables(_ cluster: Cluster, node: Node, family: IPFamily, flags: ProxierConfig) throws {
        if let format, format == .restore || format == .save {
            throw InputError("--format \(format.rawValue) is for iptables and ipvs modes; nftables mode prints transaction or list")
        }
        let proxier = NFTablesCompiler.config(for: node, in: cluster, family: family)
        var config = proxier.0, notes = proxier.notes
        let options = proxier.1
        if nodeportAddresses != nil || !cluster.settings.kubeProxy.nodePortAddresses.isEmpty || cluster.settings.kubeProxy.nodePortAddressesPrimary {
            notes = []
            config.nodePortAddresses = flags.nodePortAddresses
        }
        config.detectLocalMode = flags.detectLocalMode
        config.masqueradeAll = flags.masqueradeAll
        config.masqueradeBit = flags.masqueradeBit
        config.masqueradeMarkText = flags.masqueradeMarkText
        for note in notes { Console.note(note) }
        let ruleset = NFTablesCompiler.compile(cluster, config: config, options: options)
        Console.out(format == .list ? ruleset.listText() : ruleset.transactionText(), terminator: "")
    }
}

extension LocalDetectorMode: ExpressibleByArgument {}
extension ProxyMode: ExpressibleByArgument {}
extension IPTablesRuleset.Order: ExpressibleByArgument {}
