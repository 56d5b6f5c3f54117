import FoundationEssentials
import NFTables
import Netfilter
import Wire

/// `kdp trace-rules --nft FILE`: one node's `nft list ruleset` (or `nft -f` text) and a
/// packet, walked hook by hook as that node's kernel would: every base chain of a hook in
/// priority order (`NFTEngine.run`), conntrack NAT as nf_nat applies it (nat chains only for a
/// connection's first packet; at each manip the first chain that sets up NAT ends the nat
/// chains; DNAT rewrites the packet before routing, masquerade takes the out interface's
/// address), routing to local delivery or forwarding. The packet, interfaces, routes and
/// options come from the same `TraceRulesRequest` the iptables walk takes.
///
/// With iptables rules beside it (`--rules` too), the walk is Netfilter's `Tracer` instead,
/// with the nft chains plugged in through `NFTChainsHook` (`NFTChains`, `TraceRulesRequest.nftText`).
public struct NFTTraceRulesRequest: Sendable {
    public var nftText: String
    public var nftFile: String
    /// The packet, the node's addresses, interfaces, routes and the trace options.
    public var request: TraceRulesRequest

    public init(nftText: String, nftFile: String, request: TraceRulesRequest) {
        self.nftText = nftText
        self.nftFile = nftFile
        self.request = request
    }

    /// Parses and traces; a ruleset kdp cannot read is an `NFTParseError` naming file:line:column.
    public func run() throws(NFTParseError) -> NFTTrace {
        let ruleset = try NFTRuleset.parse(nftText, file: nftFile, lenient: request.lenient)
        let engine = NFTEngine(ruleset)
        var notes = ruleset.notes
        var node = NFTNode(request: request)
        notes += node.notes
        let family = request.destination.family
        if request.source.family != family {
            notes.append("--src and --dst are of different families: nothing would match; the trace follows the destination's")
        }
        if engine.ruleset.chains.allSatisfy({ $0.base == nil }) { notes.append("\(nftFile): no base chains: nothing is hooked, every packet passes") }
        let start = Packet(source: request.source, destination: request.destination, proto: request.proto,
                           sourcePort: request.sourcePort, destinationPort: request.destinationPort,
                           inInterface: node.isLocal(request.source) ? nil : request.inInterface)
        let walker = NFTWalker(engine: engine, node: node, verbose: request.options.verbose)
        var paths: [NFTTracePath] = []
        if request.options.allPaths {
            for (p, probability) in NFTChooser.enumerate({ chooser in walker.walk(start, chooser: &chooser) }) {
                var p = p
                p.probability = probability
                paths.append(p)
            }
        } else {
            var chooser = NFTChooser(seed: request.options.seed)
            var p = walker.walk(start, chooser: &chooser)
            p.probability = chooser.probability
            paths.append(p)
        }
        node.notes = []
        return NFTTrace(packet: start, paths: paths, notes: notes)
    }
}

/// The node as the nft walk needs it: its local addresses (`fib … type local`, local
/// delivery), interfaces (masquerade's source) and routes (the out interface).
struct NFTNode: Sendable {
    var local: Set<IPAddress> = []
    var interfaces: [Interface]
    var routes: [Route]
    var notes: [String] = []

    init(request: TraceRulesRequest) {
        interfaces = request.interfaces
        if interfaces.isEmpty, !request.localAddresses.isEmpty {
            interfaces = [Interface(name: "eth0", addresses: request.localAddresses.map { ($0, $0.family == .ipv4 ? 24 : 64) })]
            notes.append("interfaces: every --local-ip on eth0 (assumed; --iface gives them)")
        }
        for i in interfaces { for a in i.addresses { local.insert(a.address) } }
        for a in request.localAddresses { local.insert(a) }
        local.insert(try! IPAddress(parsing: "127.0.0.1"))
        local.insert(.v6(.loopback))
        routes = request.routes
        assumeDefault = routes.isEmpty && !request.routesAreComplete
        if assumeDefault {
            notes.append("routes: a default route out of eth0 (assumed; --route gives them)")
        }
    }

    /// No routes given: a default route out of eth0 is assumed. Given, they are the table.
    var assumeDefault = false

    func isLocal(_ a: IPAddress) -> Bool { local.contains(a) || (a.v4.map { $0.isLoopback } ?? false) }

    /// The out interface for `destination`: the longest match among the interfaces' connected
    /// subnets and the routes (as `Host.route(to:)`); with routes given and none matching,
    /// nil (the kernel's fib lookup fails: unreachable, the packet is dropped), else eth0.
    func route(_ destination: IPAddress) -> String? {
        var best: (length: Int, device: String)?
        for i in interfaces where i.name != "lo" {
            for a in i.addresses where a.address.family == destination.family {
                let subnet = Prefix(containing: a.address, length: a.prefixLength)
                if subnet.contains(destination), best == nil || subnet.length > best!.length { best = (subnet.length, i.name) }
            }
        }
        for r in routes where r.destination.family == destination.family && r.destination.contains(destination) {
            if best == nil || r.destination.length > best!.length { best = (r.destination.length, r.device) }
        }
        return best?.device ?? (assumeDefault ? "eth0" : nil)
    }

    /// Masquerade's source: the route's `src`, else the out interface's first address of the family.
    func masqueradeSource(out: String, destination: IPAddress) -> IPAddress? {
        if let r = routes.first(where: { $0.device == out && $0.destination.contains(destination) }), let s = r.source { return s }
        return interfaces.first { $0.name == out }?.addresses.first { $0.address.family == destination.family }?.address
            ?? local.first { $0.family == destination.family && !$0.isLoopback }
    }
}

/// One path's walk through the hooks.
struct NFTWalker {
    let engine: NFTEngine
    let node: NFTNode
    let verbose: Bool

    func walk(_ start: Packet, chooser: inout NFTChooser) -> NFTTracePath {
        var path = NFTTracePath(finalPacket: start)
        var packet = start
        var nft = Self.nftPacket(start)
        var state = NFTDynamicState()
        var dstDone = false, srcDone = false
        // The connection's state as rules see it: new; `ct status` gains dnat/snat when a
        // binding is set up (IPS_DST_NAT / IPS_SRC_NAT, nf_nat_setup_info).
        var ct = NFTConntrack.new
        let rs = engine.ruleset

        func record(_ steps: [NFTStep]) {
            for s in steps {
                // Accepting policies are listed in verbose traces only (nft monitor trace prints them all).
                if case .policy(false) = s.action, !verbose { continue }
                var p = packet
                p.mark = s.packet.mark
                p.source = s.packet.source; p.sourcePort = s.packet.sourcePort
                p.destination = s.packet.destination; p.destinationPort = s.packet.destinationPort
                let rule = rs.rule(s.chain, s.rule)
                // nft monitor trace names a rule by its handle; text without handles by position.
                let number = rule.map { $0.handle > 0 ? $0.handle : Int(s.rule) + 1 }
                path.steps.append(NFTTraceStepRecord(
                    hook: Self.hook(s.hook), table: rs.tableName(ofChain: s.chain), chain: rs.chainName(s.chain),
                    rule: number, handle: rule.map { $0.handle > 0 } ?? false, text: rs.ruleText(s.chain, s.rule), action: rs.describe(s), packet: p))
            }
        }
        func note(_ hook: NFTHook, _ table: String, _ action: String) {
            path.steps.append(NFTTraceStepRecord(hook: Self.hook(hook), table: table, chain: nil, rule: nil, handle: false, text: nil, action: action, packet: packet))
        }
        /// Runs a hook; false when the packet was dropped or rejected (the path is finished).
        func hook(_ h: NFTHook) -> Bool {
            let manipDone = (h == .prerouting || h == .output) ? dstDone : srcDone
            var steps: [NFTStep]? = []
            let out = engine.run(hook: h, packet: &nft, ct: ct, local: node.local, state: &state, chooser: &chooser,
                                 steps: &steps, excludeType: manipDone ? .nat : nil)
            packet.mark = nft.mark
            record(steps ?? [])
            if h == .prerouting || h == .output { dstDone = true } else if h == .postrouting || h == .input { srcDone = true }
            // The engine rewrote the packet for DNAT and SNAT as the nat hook does.
            packet.source = nft.source; packet.sourcePort = nft.sourcePort
            packet.destination = nft.destination; packet.destinationPort = nft.destinationPort
            switch out.nat {
            case .dnat?: ct.status |= 32
            case .snat?, .masquerade?: ct.status |= 16
            case nil: break
            }
            switch out.nat {
            case .dnat?:
                path.dnat = SocketAddress(packet.destination, port: packet.destinationPort)
            case .snat?:
                path.snat = SocketAddress(packet.source, port: packet.sourcePort)
            case .masquerade?:
                let out = packet.outInterface ?? "eth0"
                path.masquerade = true
                if let a = node.masqueradeSource(out: out, destination: packet.destination) {
                    packet.source = a
                    nft.source = a
                    path.snat = SocketAddress(a, port: packet.sourcePort)
                    note(h, "conntrack", "masquerade: source now \(a) (\(out)'s address)")
                } else {
                    note(h, "conntrack", "masquerade: \(out) has no address of the family; source unchanged")
                }
            case nil: break
            }
            guard out.verdict != .accept else { return true }
            path.verdict = out.verdict == .drop ? .dropped : .rejected
            if let d = out.decidedBy {
                if d.rule < 0 {
                    path.decidedBy = "policy"
                    path.reason = "\(rs.tableName(ofChain: d.chain)) \(rs.chainName(d.chain)): policy drop"
                } else {
                    path.decidedBy = rs.ruleText(d.chain, d.rule) ?? "?"
                    path.reason = rs.rule(d.chain, d.rule)?.comment
                }
            }
            path.finalPacket = packet
            return false
        }

        /// The routes given have none for the destination: the fib lookup fails and the
        /// packet is dropped (ip_error / ENETUNREACH) before any later hook.
        func noRoute(_ h: NFTHook) -> NFTTracePath {
            let why = "no route to \(packet.destination)"
            note(h, "routing", "drop: " + why)
            path.verdict = .dropped
            path.decidedBy = "routing"
            path.reason = why
            path.finalPacket = packet
            return path
        }

        note(packet.inInterface == nil ? .output : .prerouting, "conntrack", "ct new")
        if packet.inInterface == nil {
            // Locally generated: OUTPUT, rerouted after DNAT, POSTROUTING, then looped back in
            // when the destination is local.
            guard let out = node.isLocal(packet.destination) ? "lo" : node.route(packet.destination) else { return noRoute(.output) }
            packet.outInterface = out
            nft.outInterface = NFTInterfaceName.pack(out)
            guard hook(.output) else { return path }
            guard let rerouted = node.isLocal(packet.destination) ? "lo" : node.route(packet.destination) else { return noRoute(.output) }
            if rerouted != out { note(.output, "routing", "reroute out \(rerouted)") }
            packet.outInterface = rerouted
            nft.outInterface = NFTInterfaceName.pack(rerouted)
            guard hook(.postrouting) else { return path }
            if rerouted == "lo" {
                packet.inInterface = "lo"; packet.outInterface = nil
                nft.inInterface = NFTInterfaceName.pack("lo"); nft.outInterface = 0
                note(.prerouting, "routing", "loopback: in again on lo")
                guard hook(.prerouting), hook(.input) else { return path }
                path.deliveredTo = .local
                note(.input, "routing", "deliver locally")
            } else {
                path.deliveredTo = .out(interface: rerouted)
                note(.postrouting, "routing", "send out \(rerouted)")
            }
            path.finalPacket = packet
            return path
        }
        guard hook(.prerouting) else { return path }
        if node.isLocal(packet.destination) {
            note(.prerouting, "routing", "route: local delivery")
            guard hook(.input) else { return path }
            path.deliveredTo = .local
            note(.input, "routing", "deliver locally")
        } else {
            guard let out = node.route(packet.destination) else { return noRoute(.prerouting) }
            packet.outInterface = out
            nft.outInterface = NFTInterfaceName.pack(out)
            note(.prerouting, "routing", "route: forward out \(out)")
            guard hook(.forward), hook(.postrouting) else { return path }
            path.deliveredTo = .out(interface: out)
            note(.postrouting, "routing", "send out \(out)")
        }
        path.finalPacket = packet
        return path
    }

    static func nftPacket(_ p: Packet) -> NFTPacket {
        NFTPacket(source: p.source, destination: p.destination, proto: p.proto, sourcePort: p.sourcePort,
                  destinationPort: p.destinationPort, mark: p.mark,
                  inInterface: p.inInterface.map { NFTInterfaceName.pack($0) } ?? 0,
                  outInterface: p.outInterface.map { NFTInterfaceName.pack($0) } ?? 0)
    }

    static func hook(_ h: NFTHook) -> Hook? {
        switch h {
        case .prerouting: .prerouting
        case .input: .input
        case .forward: .forward
        case .output: .output
        case .postrouting: .postrouting
        case .ingress, .egress: nil
        }
    }
}

/// One step of an nft trace, in the schema of `kdp trace-rules -o json`: the rule is named as
/// `nft monitor trace` names it (table `ip kube-proxy`, chain, `rule` the handle).
public struct NFTTraceStepRecord: Sendable, Encodable {
    public var hook: Hook?
    public var table: String
    public var chain: String?
    /// The rule's handle, or (text without handles) its 1-based position in the chain.
    public var rule: Int?
    /// Whether `rule` is a handle.
    public var handle: Bool
    public var text: String?
    public var action: String
    public var packet: Packet

    enum CodingKeys: String, CodingKey { case node, hook, table, chain, rule, text, action, packet }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeNil(forKey: .node)
        try c.encode(hook?.rawValue, forKey: .hook)
        try c.encode(table, forKey: .table)
        try c.encode(chain, forKey: .chain)
        try c.encode(rule, forKey: .rule)
        try c.encode(text, forKey: .text)
        try c.encode(action, forKey: .action)
        try c.encode(packet, forKey: .packet)
    }
}

public struct NFTTracePath: Sendable, Encodable {
    public var probability = 1.0
    public var verdict: Verdict = .accepted
    public var decidedBy = "policy"
    public var reason: String?
    public var dnat: SocketAddress?
    public var masquerade = false
    public var snat: SocketAddress?
    public var deliveredTo: Delivery?
    public var steps: [NFTTraceStepRecord] = []
    public var finalPacket: Packet

    init(finalPacket: Packet) { self.finalPacket = finalPacket }

    enum CodingKeys: String, CodingKey {
        case probability, verdict, decided_by, reason, dnat, masquerade, snat, delivered_to, steps
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(probability, forKey: .probability)
        try c.encode(verdict, forKey: .verdict)
        try c.encode(decidedBy, forKey: .decided_by)
        try c.encode(reason, forKey: .reason)
        try c.encode(dnat?.description, forKey: .dnat)
        try c.encode(masquerade, forKey: .masquerade)
        try c.encode(snat?.description, forKey: .snat)
        try c.encode(deliveredTo?.description, forKey: .delivered_to)
        try c.encode(steps, forKey: .steps)
    }
}

/// An nft trace: the packet, its paths, the notes; JSON and text as `Trace` writes them.
public struct NFTTrace: Sendable, Encodable {
    public var packet: Packet
    public var paths: [NFTTracePath]
    public var notes: [String]

    enum CodingKeys: String, CodingKey { case packet, paths, notes }

    public func json() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? e.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    static func format(_ p: Double) -> String {
        var s = String(p)
        if s.count > 12, let dot = s.firstIndex(of: ".") {
            s = String(s[..<(s.index(dot, offsetBy: 11, limitedBy: s.endIndex) ?? s.endIndex)])
        }
        return s
    }

    public func text() -> String {
        var out = packet.summary + (packet.inInterface.map { ", arriving on \($0)" } ?? ", generated locally") + "\n"
        for n in notes { out += "note: \(n)\n" }
        for (i, p) in paths.enumerated() {
            out += "\npath \(i + 1) of \(paths.count)"
            if paths.count > 1 || p.probability != 1 { out += ", probability \(Self.format(p.probability))" }
            out += ": \(p.verdict.rawValue.uppercased())"
            switch p.deliveredTo {
            case .local?: out += " (delivered locally)"
            case .out(let dev)?: out += " (sent out \(dev))"
            case nil: break
            }
            out += "\n"
            var last = packet
            for s in p.steps {
                var line = "  " + (s.hook?.rawValue ?? "").padded(12) + s.table.padded(16)
                if let c = s.chain { line += c + (s.rule.map { s.handle ? " handle \($0)" : " #\($0)" } ?? "") + ": " }
                if let t = s.text { line += t + "\n" + String(repeating: " ", count: 30) + "→ " }
                line += s.action
                if s.packet.summary != last.summary { line += "  [now \(s.packet.summary)]" }
                if s.packet.mark != last.mark { line += "  [mark 0x\(String(s.packet.mark, radix: 16))]" }
                out += line + "\n"
                last = s.packet
            }
            var summary: [String] = []
            if let d = p.dnat { summary.append("DNAT to \(d)") }
            if let s = p.snat { summary.append("SNAT to \(s)") }
            if p.masquerade { summary.append("masqueraded") }
            if !summary.isEmpty { out += "  translation: " + summary.joined(separator: "; ") + "\n" }
            out += "  decided by: \(p.decidedBy)\n"
            if p.verdict != .accepted, let r = p.reason { out += "  why: \(r)\n" }
        }
        return out
    }
}

private extension String {
    func padded(_ n: Int) -> String { count >= n ? self + " " : self + String(repeating: " ", count: n - count) }
}
