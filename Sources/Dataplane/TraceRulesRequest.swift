import Cluster
import IPVS
import NFTables
import Netfilter
import Wire

/// Everything `kdp trace-rules` needs, as one call, so the command line only parses flags and
/// prints. The semantics are the issue's: the packet is locally generated when its source is
/// one of `localAddresses` (or another local address: an `interfaces` address, loopback),
/// otherwise it arrives on `inInterface`; a local destination is delivered locally, any other
/// is routed by `routes` (none given: a default route out of `eth0`, noted as assumed). It lives in
/// Dataplane, where both Netfilter and IPVS are visible, because an IPVS-mode node's dump
/// (`ipvsadm -S -n`) is hooked into the netfilter walk as `IPVSDirector`.
public struct TraceRulesRequest: Sendable {
    public var rulesText: String
    public var rulesFile: String
    /// `ipset save` output, for rules that match sets.
    public var ipsetsText: String?
    public var localAddresses: [IPAddress]
    public var source: IPAddress
    public var sourcePort: UInt16
    public var destination: IPAddress
    public var destinationPort: UInt16
    public var proto: IPProtocol
    public var inInterface: String
    public var options: TraceOptions
    public var lenient: Bool
    /// Use the compiled fast path (same answers; verbose traces list fewer rules tried).
    public var compiled: Bool
    /// The node's `ipvsadm -S -n` output, for an IPVS-mode node: its IPVS (with kube-proxy's
    /// sysctls) is hooked in where the kernel hooks it, and its virtual addresses are local, as
    /// on a kube-proxy node where they sit on kube-ipvs0.
    public var ipvsText: String?
    /// `--sysctl NAME=VALUE`: values that override what the rules imply.
    public var sysctls: [Sysctl: Bool] = [:]
    /// `--iface NAME=ADDR/LEN`: the node's interfaces (the first address of a family primary).
    public var interfaces: [Interface] = []
    /// `--route DEST[,via=GW],dev=IFACE`: the node's routes; none given, a default route out of
    /// the first interface with an address of the family is assumed.
    public var routes: [Route] = []
    /// `routes` is the node's whole routing table (a `kdp snapshot`): when it has no route of a
    /// family, none is assumed.
    public var routesAreComplete = false
    /// The table of `iptables -S` input whose `-P` lines do not name one (`--table`).
    public var table: TableName?
    /// The owner of the socket a locally generated packet leaves from (`--uid`, `--gid`);
    /// nil: root, and the trace says it was assumed.
    public var socketOwner: SocketOwner?
    /// A real node's `nft list ruleset` beside its iptables rules (`--nft` with `--rules`): its
    /// base chains run with iptables' tables at each hook by priority (`NFTChains`).
    public var nftText: String?
    public var nftFile = "<nft>"

    public init(rulesText: String, rulesFile: String, ipsetsText: String? = nil, localAddresses: [IPAddress],
                source: IPAddress, sourcePort: UInt16 = 40000, destination: IPAddress, destinationPort: UInt16 = 80,
                proto: IPProtocol = .tcp, inInterface: String = "eth0", options: TraceOptions = TraceOptions(),
                lenient: Bool = false, compiled: Bool = false) {
        self.rulesText = rulesText
        self.rulesFile = rulesFile
        self.ipsetsText = ipsetsText
        self.localAddresses = localAddresses
        self.source = source
        self.sourcePort = sourcePort
        self.destination = destination
        self.destinationPort = destinationPort
        self.proto = proto
        self.inInterface = inInterface
        self.options = options
        self.lenient = lenient
        self.compiled = compiled
    }
}

/// Why `trace-rules` could not run: a ruleset, ipset or ipvsadm file it does not understand
/// (exit 2).
public enum TraceRulesError: Error, CustomStringConvertible, Sendable {
    case rules(RulesetParseError)
    case ipsets(file: String, IPSetParseError)
    case ipvs(file: String, IPVSAdmParseError)
    /// A rule names a set the ipsets did not give (strict mode).
    case missingSet(file: String, line: Int, set: String, ipsetsFile: String?)
    /// The nft ruleset beside the rules (`--nft`).
    case nft(NFTParseError)

    public var description: String {
        switch self {
        case .rules(let e): e.description
        case .ipsets(let file, let e): "\(file):\(e.line): \(e.reason): '\(e.word)'"
        case .ipvs(let file, let e): InputError("\(e.reason): \(e.text)", at: InputLocation(file: file, line: e.line)).description
        case .nft(let e): InputError(e.message, at: InputLocation(file: e.file, line: e.line, column: e.column)).description
        case .missingSet(let file, let line, let set, let ipsetsFile):
            "\(file):\(line): rule matches set '\(set)', which \(ipsetsFile.map { "is not in \($0)" } ?? "was not given"): "
                + "pass the node's `ipset save` (or `ipset list`) with --ipsets, or --lenient to take it as empty"
        }
    }
}

extension TraceRulesRequest {
    /// Parses (the IPVS dump first, then the rules and the ipsets), builds the host, traces.
    /// `ipsetsFile` and `ipvsFile` name the texts in errors.
    public func run(ipsetsFile: String = "<ipsets>", ipvsFile: String = "<ipvs>") throws(TraceRulesError) -> Trace {
        var ipvs: IPVSDirector?
        var ipvsNotes: [String] = []
        if let ipvsText {
            var table = IPVSTable()
            do { ipvsNotes = try IPVSAdm.parseDump(ipvsText, into: &table) } catch { throw .ipvs(file: ipvsFile, error) }
            table.sysctls = IPVSDirector.kubeProxySysctls
            ipvs = IPVSDirector(tables: [table])
        }
        let rs: Ruleset
        do { rs = try Ruleset.parseDump(text: rulesText, file: rulesFile, table: table, lenient: lenient) } catch { throw .rules(error) }
        var (host, assumptions) = assumedHost(rs)
        if let ipsetsText {
            do { host.ipsets = try IPSetStore.parse(ipsetText: ipsetsText) } catch { throw .ipsets(file: ipsetsFile, error) }
        }
        var notes: [String] = rs.notes + ipvsNotes.map { "\(ipvsFile): \($0)" }
        if let table, RulesFormat.detect(rulesText) == .save {
            notes.append("--table \(table.rawValue) not used: \(rulesFile) is iptables-save text, which names its tables")
        }
        // A rule naming a set that was not given: the kernel would not have loaded it.
        var missing: [String] = []
        for ref in rs.setReferences() where host.ipsets.sets[ref.name] == nil && !missing.contains(ref.name) {
            guard lenient else {
                throw .missingSet(file: rulesFile, line: ref.line, set: ref.name, ipsetsFile: ipsetsText == nil ? nil : ipsetsFile)
            }
            missing.append(ref.name)
            notes.append("\(rulesFile):\(ref.line): set \(ref.name) was not given (--ipsets): taken as empty (--lenient)")
        }
        if let ipvs {
            host.ipvs = ipvs
            var seen = Set<IPAddress>()
            let bound = ipvs.virtualAddresses.filter { !host.isLocal($0) && seen.insert($0).inserted }
            if !bound.isEmpty {
                host.interfaces.append(Interface(name: "kube-ipvs0", addresses: bound.map { ($0, $0.family == .ipv4 ? 32 : 128) }))
                notes.append("IPVS: \(bound.count) virtual address\(bound.count == 1 ? "" : "es") bound to kube-ipvs0 (local, as kube-proxy binds them)")
            }
        }
        // Locally generated: from a --local-ip, an --iface address or loopback (127.0.0.1 to a
        // NodePort is a process on the node).
        let local = localAddresses.contains(source) || host.isLocal(source)
        host.bridgeNFCallIPTables = sysctls[Sysctl.bridgeNFCall(destination.family)] ?? true
        let packet = Packet(source: source, destination: destination, proto: proto, sourcePort: sourcePort,
                            destinationPort: destinationPort, inInterface: local ? nil : inInterface)
        var options = options
        if let nftText {
            let nft: NFTRuleset
            do { nft = try NFTRuleset.parse(nftText, file: nftFile, lenient: lenient) } catch { throw .nft(error) }
            var local = Set(localAddresses)
            for i in host.interfaces { for a in i.addresses { local.insert(a.address) } }
            let chains = NFTChains(engine: NFTEngine(nft), local: local)
            notes += nft.notes + chains.notes
            host.nft = chains
        }
        if rs.usesOwnerMatch {
            let owner = socketOwner ?? SocketOwner()
            options.socketOwner = owner
            notes.append(local
                ? "-m owner: the packet leaves a socket of uid \(owner.uid) gid \(owner.gid)" + (socketOwner == nil ? " (root, assumed; --uid and --gid set them)" : " (--uid/--gid; one not given is 0)")
                : "-m owner: the packet is not locally generated, so it has no socket (owner matches hold only when all their options are inverted)")
        }
        var trace = Tracer(ruleset: rs, compiled: compiled).trace(packet: packet, host: host, options: options)
        trace.notes += notes + assumptions + rs.problems.map { "\(rulesFile): \($0)" }
        return trace
    }
}
