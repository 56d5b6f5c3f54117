import ArgumentParser
import Cluster
import Dataplane
import Foundation
import Netfilter
import Wire

/// `kdp trace-rules`: what one node's kernel does with a packet, from that node's
/// `iptables-save` (and `ipset save`, `ipvsadm -S -n`) dumps. The command reads the files and
/// flags; `Dataplane.TraceRulesRequest` does the rest.
struct TraceRulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace-rules",
        abstract: "Trace a packet through an iptables-save dump, hook by hook, as that node's kernel would.")

    @Option(help: "iptables-save (or iptables-restore) text of the node.") var rules: String
    @Option(name: .customLong("local-ip"), help: "An address of the node (repeatable; the first is eth0's primary).")
    var localIPs: [String] = []
    @Option(help: "Source address. The packet is locally generated when it is one of --local-ip.") var src: String
    @Option(help: "Source port.") var sport: UInt16 = 40000
    @Option(help: "Destination address.") var dst: String
    @Option(help: "Destination port.") var dport: UInt16 = 80
    @Option(name: .customLong("proto"), help: "tcp, udp, sctp or icmp.") var proto: String = "tcp"
    @Option(help: "The interface a packet from elsewhere arrives on.") var inIface: String = "eth0"
    @Option(help: "`ipset save` output, for rules that match sets.") var ipsets: String?
    @Option(help: "`ipvsadm -S -n` output of an IPVS-mode node: packets to its virtual services are scheduled in INPUT (or OUTPUT), as the kernel does.")
    var ipvs: String?
    @Flag(help: "Follow every probabilistic branch and give each path's probability.") var allPaths = false
    @Option(help: "Seed for statistic random and NAT ranges.") var seed: UInt64 = 1
    @Flag(help: "Treat rules kdp does not understand as never matching (and say so) instead of failing.") var lenient = false
    @Flag(help: "List every rule tried, not only those that matched.") var verbose = false
    @Flag(help: "Use the compiled (indexed) evaluation; the answer is the same.") var compiled = false
    @Option(name: .shortAndLong, help: "text or json.") var output: OutputFormat = .text

    func validate() throws {
        guard !localIPs.isEmpty else { throw ValidationError("give the node's addresses with --local-ip (at least one)") }
        guard ["tcp", "udp", "sctp", "icmp"].contains(proto) else { throw ValidationError("--proto must be tcp, udp, sctp or icmp") }
        if output == .yaml { throw ValidationError("trace-rules prints text or json") }
        for t in localIPs { _ = try FlagValue.address(t, flag: "--local-ip") }
        _ = try FlagValue.address(src, flag: "--src")
        _ = try FlagValue.address(dst, flag: "--dst")
        try FlagValue.interfaceName(inIface, flag: "--in-iface")
        try InputFile.checkStandardInputUsedOnce([rules, ipsets, ipvs])
    }

    func run() throws {
        let rulesFile = try InputFile.read(rules)
        let ipsetsFile = try ipsets.map { f throws(InputError) in try InputFile.read(f) }
        let ipvsFile = try ipvs.map { f throws(InputError) in try InputFile.read(f) }
        let trace = try trace(rules: rulesFile, ipsets: ipsetsFile, ipvs: ipvsFile)
        Console.out(output == .json ? trace.json() : trace.text())
    }

    /// The trace from inputs already read: what `run` prints, and what the fuzz tests call.
    func trace(rules rulesFile: InputFile, ipsets ipsetsFile: InputFile?, ipvs ipvsFile: InputFile?) throws(InputError) -> Trace {
        let locals = try localIPs.map { t throws(InputError) in try FlagValue.address(t, flag: "--local-ip") }
        var request = TraceRulesRequest(
            rulesText: rulesFile.text, rulesFile: rulesFile.name, ipsetsText: ipsetsFile?.text,
            localAddresses: locals, source: try FlagValue.address(src, flag: "--src"), sourcePort: sport,
            destination: try FlagValue.address(dst, flag: "--dst"), destinationPort: dport,
            proto: (try? IPProtocol(parsing: proto)) ?? .tcp, inInterface: inIface,
            options: TraceOptions(allPaths: allPaths, seed: seed, verbose: verbose), lenient: lenient, compiled: compiled)
        request.ipvsText = ipvsFile?.text
        do { return try request.run(ipsetsFile: ipsetsFile?.name ?? "<ipsets>", ipvsFile: ipvsFile?.name ?? "<ipvs>") } catch {
            throw InputError(error, rules: rulesFile, ipsets: ipsetsFile, ipvs: ipvsFile)
        }
    }
}
