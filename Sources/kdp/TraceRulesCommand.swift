import ArgumentParser
import Cluster
import Dataplane
import Foundation
import Netfilter
import NFTables
import NodeSnapshot
import Verification
import Wire

/// `kdp trace-rules`: what one node's kernel does with a packet, from that node's
/// `iptables-save` (and `ipset save`, `ipvsadm -S -n`) dumps. The command reads the files and
/// flags; `Dataplane.TraceRulesRequest` does the rest.
struct TraceRulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace-rules",
        abstract: "Trace a packet through an iptables-save dump, hook by hook, as that node's kernel would.")

    @Option(help: "iptables-save (or iptables-restore) text of the node, or iptables -S / ip6tables -S output (one table or several concatenated; detected). With --snapshot, the snapshot's iptables.rules (ip6tables.rules for IPv6) unless given.") var rules: String?
    @Option(help: "`nft list ruleset` output (or `nft -f` text) of the node: the packet walks every base chain of each hook in priority order, with nft's sets, maps and NAT. With --rules, iptables' tables (raw -300, mangle -150, nat -100/100, filter 0, security 50) and these chains run together by priority.")
    var nft: String?
    @Option(help: "A directory written by `kdp snapshot`: the node's interfaces, addresses, routing table, sysctls and dumps come from it, instead of --local-ip, --iface and --route.")
    var snapshot: String?
    @Option(help: "The table of iptables -S input whose -P lines do not name one (filter and security have the same built-in chains).")
    var table: String?
    @Option(help: "The uid owning the socket a locally generated packet leaves from, for -m owner (default 0, root).") var uid: UInt32?
    @Option(help: "The gid owning that socket (default 0).") var gid: UInt32?
    @Option(name: .customLong("local-ip"), help: "An address of the node (repeatable; the first is eth0's primary).")
    var localIPs: [String] = []
    @Option(help: "Source address. The packet is locally generated when it is one of --local-ip.") var src: String
    @Option(help: "Source port.") var sport: UInt16 = 40000
    @Option(help: "Destination address.") var dst: String
    @Option(help: "Destination port.") var dport: UInt16 = 80
    @Option(name: .customLong("proto"), help: "tcp, udp, sctp or icmp.") var proto: String = "tcp"
    @Option(help: "The interface a packet from elsewhere arrives on.") var inIface: String = "eth0"
    @Option(help: "`ipset save` or `ipset list` output, for rules that match sets (detected).") var ipsets: String?
    @Option(help: "`ipvsadm -S -n` or `ipvsadm -Ln` (also --stats, --rate) output of an IPVS-mode node (detected): packets to its virtual services are scheduled in INPUT (or OUTPUT), as the kernel does.")
    var ipvs: String?
    @Flag(help: "Follow every probabilistic branch and give each path's probability.") var allPaths = false
    @Option(help: "Seed for statistic random and NAT ranges.") var seed: UInt64 = 1
    @Flag(help: "Treat rules kdp does not understand as never matching (and say so) instead of failing.") var lenient = false
    @Flag(help: "List every rule tried, not only those that matched.") var verbose = false
    @Flag(help: "Use the compiled (indexed) evaluation; the answer is the same.") var compiled = false
    @Option(name: .shortAndLong, help: "text or json.") var output: OutputFormat = .text
    @Option(name: .customLong("sysctl"), help: "NAME=VALUE (0 or 1; repeatable): net.ipv4.ip_forward, net.ipv6.conf.all.forwarding, net.ipv4.conf.all.route_localnet, net.bridge.bridge-nf-call-iptables, net.bridge.bridge-nf-call-ip6tables. Unset ones are assumed from the rules, and the trace says so.")
    var sysctlAssignments: [String] = []
    @Option(name: .customLong("iface"), help: "NAME=ADDR/LEN (repeatable): an interface address of the node; the first of a family on an interface is its primary (MASQUERADE's source). Default: every --local-ip on eth0.")
    var ifaceAddresses: [String] = []
    @Option(name: .customLong("route"), help: "DEST[,via=GW],dev=IFACE[,src=ADDR] (repeatable; DEST a CIDR or default): the node's routes. Default: a default route out eth0.")
    var routeSpecs: [String] = []

    func validate() throws {
        if snapshot != nil {
            guard localIPs.isEmpty, ifaceAddresses.isEmpty, routeSpecs.isEmpty else {
                throw ValidationError("--snapshot gives the node's interfaces and routes: drop --local-ip, --iface and --route")
            }
        } else if rules == nil && nft == nil {
            throw ValidationError("give the node's rules with --rules or --nft (or a kdp snapshot directory with --snapshot)")
        }
        if nft != nil && rules == nil {
            if snapshot != nil || ipvs != nil || ipsets != nil || compiled || table != nil {
                throw ValidationError("--nft takes the node's nft ruleset alone: drop --snapshot, --ipvs, --ipsets, --compiled and --table")
            }
        }
        guard snapshot != nil || !localIPs.isEmpty || !ifaceAddresses.isEmpty else { throw ValidationError("give the node's addresses with --local-ip or --iface (at least one)") }
        for a in sysctlAssignments { do { _ = try Sysctl.parseAssignment(a) } catch { throw ValidationError(error.message) } }
        for a in ifaceAddresses { do { _ = try TraceRulesRequest.parseInterface(a) } catch { throw ValidationError(error.message) } }
        var devices: Set<String> = localIPs.isEmpty ? ["lo"] : ["lo", "eth0"]
        for a in ifaceAddresses { if let i = try? TraceRulesRequest.parseInterface(a) { devices.insert(i.name) } }
        for a in routeSpecs {
            let route: Route
            do { route = try TraceRulesRequest.parseRoute(a) } catch { throw ValidationError(error.message) }
            guard devices.contains(route.device) else {
                throw ValidationError("--route \(route.destination): no interface \(route.device) (give it with --iface \(route.device)=ADDR/LEN; --local-ip addresses are on eth0)")
            }
        }
        guard ["tcp", "udp", "sctp", "icmp"].contains(proto) else { throw ValidationError("--proto must be tcp, udp, sctp or icmp") }
        if output == .yaml { throw ValidationError("trace-rules prints text or json") }
        if let table, TableName(rawValue: table) == nil {
            throw ValidationError("--table must be raw, mangle, nat, filter or security")
        }
        if uid == UInt32.max || gid == UInt32.max { throw ValidationError("--uid and --gid are at most 4294967294 (-1 is no user)") }
        for t in localIPs { _ = try FlagValue.address(t, flag: "--local-ip") }
        _ = try FlagValue.address(src, flag: "--src")
        _ = try FlagValue.address(dst, flag: "--dst")
        try FlagValue.interfaceName(inIface, flag: "--in-iface")
        try InputFile.checkStandardInputUsedOnce([rules, ipsets, ipvs, nft].compactMap { $0 })
    }

    func run() throws {
        if let nft, rules == nil {
            let trace = try nftTrace(try InputFile.read(nft))
            Console.out(output == .json ? trace.json() : trace.text())
            return
        }
        var node: (NodeSnapshot, String)?
        if let snapshot {
            do { node = (try NodeSnapshot.read(from: snapshot), snapshot) } catch { throw InputError(error.description) }
        }
        let family = (try FlagValue.address(dst, flag: "--dst")).family
        let rulesFile: InputFile
        if let rules { rulesFile = try InputFile.read(rules) } else if let (snap, dir) = node {
            let file: SnapshotFile = family == .ipv4 ? .iptables : .ip6tables
            let path = URL(fileURLWithPath: dir).appendingPathComponent(file.rawValue).path
            guard let text = family == .ipv4 ? snap.iptablesRules : snap.ip6tablesRules else {
                let why = snap.meta.missing.first { $0.hasPrefix(file.rawValue + ":") }
                throw InputError("\(path): missing\(why.map { " (meta.json: \($0))" } ?? ""); give the rules with --rules")
            }
            rulesFile = InputFile(name: path, text: text)
        } else {
            throw InputError("give the node's rules with --rules")
        }
        func snapshotFile(_ file: SnapshotFile, _ text: String?) -> InputFile? {
            guard let (_, dir) = node, let text else { return nil }
            return InputFile(name: URL(fileURLWithPath: dir).appendingPathComponent(file.rawValue).path, text: text)
        }
        let ipsetsFile = try ipsets.map { f throws(InputError) in try InputFile.read(f) } ?? snapshotFile(.ipsets, node?.0.ipsets)
        let ipvsFile = try ipvs.map { f throws(InputError) in try InputFile.read(f) } ?? snapshotFile(.ipvs, node?.0.ipvs)
        let trace = try trace(rules: rulesFile, ipsets: ipsetsFile, ipvs: ipvsFile, snapshot: node)
        Console.out(output == .json ? trace.json() : trace.text())
    }

    /// The trace from inputs already read: what `run` prints, and what the fuzz tests call.
    func trace(rules rulesFile: InputFile, ipsets ipsetsFile: InputFile?, ipvs ipvsFile: InputFile?, snapshot node: (NodeSnapshot, String)? = nil) throws(InputError) -> Trace {
        let locals = try localIPs.map { t throws(InputError) in try FlagValue.address(t, flag: "--local-ip") }
        var request = TraceRulesRequest(
            rulesText: rulesFile.text, rulesFile: rulesFile.name, ipsetsText: ipsetsFile?.text,
            localAddresses: locals, source: try FlagValue.address(src, flag: "--src"), sourcePort: sport,
            destination: try FlagValue.address(dst, flag: "--dst"), destinationPort: dport,
            proto: (try? IPProtocol(parsing: proto)) ?? .tcp, inInterface: inIface,
            options: TraceOptions(allPaths: allPaths, seed: seed, verbose: verbose), lenient: lenient, compiled: compiled)
        request.ipvsText = ipvsFile?.text
        let nftFile = try nft.map { f throws(InputError) in try InputFile.read(f) }
        request.nftText = nftFile?.text
        request.nftFile = nftFile?.name ?? "<nft>"
        for a in sysctlAssignments { let (name, on) = try Sysctl.parseAssignment(a); request.sysctls[name] = on }
        for a in ifaceAddresses {
            let i = try TraceRulesRequest.parseInterface(a)
            request.interfaces.append(Interface(name: i.name, addresses: [(i.address, i.prefixLength)]))
        }
        request.routes = try routeSpecs.map { r throws(InputError) in try TraceRulesRequest.parseRoute(r) }
        request.table = table.flatMap { TableName(rawValue: $0) }
        if uid != nil || gid != nil { request.socketOwner = SocketOwner(uid: uid ?? 0, gid: gid ?? 0) }
        var snapshotNotes: [String] = []
        if let (snap, dir) = node { snapshotNotes = try apply(snap, from: dir, to: &request) }
        do {
            var trace = try request.run(ipsetsFile: ipsetsFile?.name ?? "<ipsets>", ipvsFile: ipvsFile?.name ?? "<ipvs>")
            trace.notes += snapshotNotes
            return trace
        } catch {
            throw InputError(error, rules: rulesFile, ipsets: ipsetsFile, ipvs: ipvsFile)
        }
    }

    /// The nft walk (`--nft`): the same packet, addresses, routes and options, through
    /// `NFTTraceRulesRequest`.
    func nftTrace(_ file: InputFile) throws(InputError) -> NFTTrace {
        let locals = try localIPs.map { t throws(InputError) in try FlagValue.address(t, flag: "--local-ip") }
        var request = TraceRulesRequest(
            rulesText: "", rulesFile: file.name, localAddresses: locals, source: try FlagValue.address(src, flag: "--src"),
            sourcePort: sport, destination: try FlagValue.address(dst, flag: "--dst"), destinationPort: dport,
            proto: (try? IPProtocol(parsing: proto)) ?? .tcp, inInterface: inIface,
            options: TraceOptions(allPaths: allPaths, seed: seed, verbose: verbose), lenient: lenient)
        for a in ifaceAddresses {
            let i = try TraceRulesRequest.parseInterface(a)
            request.interfaces.append(Interface(name: i.name, addresses: [(i.address, i.prefixLength)]))
        }
        request.routes = try routeSpecs.map { r throws(InputError) in try TraceRulesRequest.parseRoute(r) }
        do {
            return try NFTTraceRulesRequest(nftText: file.text, nftFile: file.name, request: request).run()
        } catch {
            throw InputError(error.message, at: InputLocation(file: error.file, line: error.line, column: error.column))
        }
    }

    /// Takes the node from a snapshot (`TraceRulesRequest.use`), after checking that a packet
    /// from elsewhere arrives on one of its links. Returns the notes.
    func apply(_ snap: NodeSnapshot, from dir: String, to request: inout TraceRulesRequest) throws(InputError) -> [String] {
        let isLocal = snap.addresses.contains { $0.address == request.source }
            || (request.source.isLoopback && snap.links.contains { $0.name == "lo" })
        if !isLocal, !snap.links.contains(where: { $0.name == inIface }) {
            let names = snap.links.map(\.name).joined(separator: ", ")
            throw InputError("--in-iface \(inIface): \(URL(fileURLWithPath: dir).appendingPathComponent("links.json").path) has no such link (it has \(names.prefix(200)))")
        }
        return request.use(snap, directory: dir)
    }
}
