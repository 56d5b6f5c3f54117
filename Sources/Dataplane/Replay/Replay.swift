import Captures
import Cluster
import Netfilter
import Wire

/// How to replay.
public struct ReplayOptions: Sendable {
    public var capturePoint: CapturePoint = .auto
    /// For packets from outside: the node the network hands them to.
    public var via: String?
    /// Seeds every random choice (statistic matches, the load balancer's node); each packet
    /// draws from its own stream, so a replay is the same every time.
    public var seed: UInt64 = 1
    /// Keep the paths of the first this many packets (`--packets N`).
    public var keepPaths = 0
    /// nf_conntrack_max on every node; nil keeps the kernel's default.
    public var conntrackMax: Int?
    /// Record every packet's steps (for per-hop captures); without it only the first
    /// `keepPaths` packets' paths have steps, which makes bulk replay several times faster.
    public var recordSteps = true
    /// Reuse an established flow's last result for its next packets (`ReplayFlowCache`); off,
    /// every packet walks every hook (the equivalence test compares the two).
    public var flowCache = true
    /// Replay only the flows whose entry node falls in shard `index` of `count` (`--shard K/N`).
    public var shard: (index: Int, count: Int)?

    public init() {}
}

/// Replays a capture's packets, in order, through the emulated cluster. Node state (conntrack,
/// `recent` lists, statistic counters, IPVS connections) carries over from packet to packet and
/// every timer runs on the capture's own timestamps.
public struct Replay: Sendable {
    public internal(set) var plane: Dataplane
    public let options: ReplayOptions
    public internal(set) var report = ReplaySummary()

    /// A flow kdp tracks, keyed by its original direction as the capture point sees it.
    struct TrackedFlow: Sendable {
        var key: FlowKey
        var entry: Dataplane.Entry
        /// The packet as sent, and the last path of the flow's packets.
        var original: Packet
        var path: DataplanePath
        var firstPacket: Int
        /// Another shard's flow (`--shard`): tracked so that its packets are told apart, never
        /// replayed here.
        var foreign = false
    }

    /// A client's socket (protocol, address, port) as a key of `clients`: a tuple with only a
    /// source, so that conntrack's flat table holds it.
    static func clientKey(_ proto: IPProtocol, _ address: IPAddress, _ port: UInt16) -> ConntrackTuple {
        ConntrackTuple(source: address, sourcePort: port, destination: .v4(.zero), destinationPort: 0, proto: proto)
    }

    /// Every tracked flow's 5-tuple as the capture point sees it, in both directions: the
    /// flow's index times two, plus one for the reply direction (one lookup per packet, in
    /// conntrack's flat seeded table rather than a SipHash dictionary).
    var keys = ConntrackTupleIndex()

    /// The flow whose original direction is `key`.
    func originalFlow(_ key: FlowKey) -> Int? {
        guard let v = keys[ConntrackTuple(key)], v & 1 == 0 else { return nil }
        return v >> 1
    }
    /// Each tracked flow's client socket, to its flow (`clientKey`).
    var clients = ConntrackTupleIndex()
    var tracked: [TrackedFlow] = []
    /// Per Service port (`ServiceIndex.slot`), its row in `report.services` plus one (0: none
    /// yet); and per row, the flows each endpoint received, named only in `finish()`.
    var serviceRows: [Int32] = []
    var endpointFlows: [[SocketAddress: Int]] = []
    var dropIndex: [String: Int] = [:]
    /// What the capture node sent on its interfaces in kdp's paths (`-i any` captures' outgoing
    /// packets are checked against it), with how many times.
    var egress: [FlowKey: Int] = [:]
    /// `-i any` sees a bridged packet on the bridge port and on the bridge: the last few
    /// packets' signatures, to replay each once.
    var recentSignatures: [UInt64: Int64] = [:]
    var noted = Set<String>()
    var cache = ReplayFlowCache()
    /// Each sending pod's `TraceSource`, by pod index, made on its first flow (`podSource`).
    var podSources: [TraceSource?] = []
    let services: ServiceIndex
    /// The last replayed packet's time: the clock the end-of-replay table counts are read at.
    var lastSeconds: Double?
    /// Packets per verdict, in `ReplaySummary.Totals.verdictNames` order (added into the report
    /// at the end: no string hashing per packet).
    var verdictCounts = [Int](repeating: 0, count: 6)

    static func verdictSlot(_ v: PathVerdict) -> Int {
        switch v {
        case .delivered: 0
        case .dropped: 1
        case .rejected: 2
        case .noRoute: 3
        case .leftCluster: 4
        case .accepted: 5
        }
    }
    let captureNode: Int?
    let capturePod: Int?

    public init(plane: Dataplane, options: ReplayOptions) throws(InputError) {
        self.plane = plane
        self.options = options
        services = ServiceIndex(plane)
        switch options.capturePoint {
        case .pod(let ns, let name):
            capturePod = plane.cluster.pods.firstIndex { $0.namespace == ns && $0.name == name }
            captureNode = nil
        case .node(let name, _):
            captureNode = plane.nodeIndex[name]
            capturePod = nil
        default:
            captureNode = nil
            capturePod = nil
        }
        if let max = options.conntrackMax {
            for i in self.plane.nodes.indices { self.plane.nodes[i].host.conntrack.maxEntries = max }
        }
        if let via = options.via, plane.nodeIndex[via] == nil {
            throw InputError("--via node/\(via): no such node; nodes: \(plane.cluster.nodes.map(\.name).joined(separator: ", "))")
        }
    }

    /// Counts a record that was not replayed.
    public mutating func skipped(_ s: ReplaySkip) {
        // Records that are not replayed count once over all shards: in shard 0.
        if let shard = options.shard, shard.index != 0 { return }
        report.summary.packets += 1
        switch s.kind {
        case .undecodable: report.summary.undecodable += 1
        case .notIP: report.summary.notIP += 1
        }
        if s.kind == .undecodable, report.undecodable.count < ReplaySummary.mismatchExamplesLimit {
            report.undecodable.append(ReplaySummary.Skipped(packet: s.number, reason: s.reason))
        }
    }

    /// Replays one packet. Returns nil for a packet that is not replayed: a duplicate of one
    /// just seen (`-i any`), or one whose flow belongs to another shard.
    public mutating func replay(_ p: ReplayPacket) -> ReplayOutcome? {
        var p = p
        return replay(record: &p)
    }

    /// `replay(_:)` on the packet where the caller decoded it (`replayAll`'s loop): taken
    /// `inout`, read only, because lending it by value made a copy of its 270 bytes per record.
    mutating func replay(record p: inout ReplayPacket) -> ReplayOutcome? {
        if let o = cachedOutcome(p) { return o }
        if let sig = signature(p) {
            if let t = recentSignatures[sig], p.timestampNanoseconds - t < 5_000_000 {
                if options.shard.map({ $0.index == 0 }) ?? true {
                    report.summary.packets += 1
                    report.summary.duplicates += 1
                }
                return nil
            }
            if recentSignatures.count > 4096 { recentSignatures = recentSignatures.filter { p.timestampNanoseconds - $0.value < 5_000_000 } }
            recentSignatures[sig] = p.timestampNanoseconds
        }
        plane.setClock(seconds: p.seconds)
        lastSeconds = p.seconds
        let key = p.flow
        // On a node's `-i any` capture, what the node sent is the output of kdp's paths.
        if p.packetType == .outgoing, captureNode != nil { return count(p, checkEgress(p)) }
        if let v = keys[ConntrackTuple(key)] {
            let f = v >> 1
            if tracked[f].foreign { return nil }
            return count(p, v & 1 == 0 ? inject(p, flow: f) : check(p, flow: f))
        }
        // On a node, a reply arrives before the node undoes the flow's translation: the reply
        // direction there is the node's conntrack reply tuple.
        let tuple = p.packet.tuple  // computed first: see `Host.conntrack`
        if let n = captureNode, let (i, isReply) = plane.nodes[n].host.conntrack.lookup(tuple), isReply {
            let o = plane.nodes[n].host.conntrack[i].original
            if let f = originalFlow(FlowKey(source: o.source, sourcePort: o.sourcePort, destination: o.destination, destinationPort: o.destinationPort, proto: o.proto)) {
                return tracked[f].foreign ? nil : count(p, check(p, flow: f, arrivingAt: n))
            }
        }
        if let q = p.quoted, let f = originalFlow(q) { return tracked[f].foreign ? nil : count(p, checkError(p, flow: f)) }
        let replyShaped = key.proto == .udp || (key.proto == .tcp && p.packet.tcpFlags & (TCPFlag.syn | TCPFlag.ack) != TCPFlag.syn)
        if replyShaped, let f = clients[Self.clientKey(key.proto, key.destination, key.destinationPort)] {
            return tracked[f].foreign ? nil : count(p, unexpectedSource(p, flow: f))
        }
        guard let entry = placement(p) else { return nil }
        let foreign = options.shard.map { Self.shard(of: plane.nodes[entry.node].node.name, count: $0.count) != $0.index } ?? false
        let f = tracked.count
        tracked.append(TrackedFlow(key: key, entry: entry, original: p.packet, path: Self.emptyPath(p.packet), firstPacket: p.number,
                                   foreign: foreign))
        keys[ConntrackTuple(key)] = f << 1
        let reply = ConntrackTuple(Self.replyKey(key))
        if keys[reply] == nil { keys[reply] = f << 1 | 1 }
        if key.proto.hasPorts { clients[Self.clientKey(key.proto, key.source, key.sourcePort)] = f }
        return foreign ? nil : count(p, inject(p, flow: f))
    }

    /// Which shard a node's flows belong to: FNV-1a of its name, so that every shard of a run
    /// agrees without sharing anything.
    public static func shard(of node: String, count: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in node.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(h % UInt64(count))
    }

    /// The end of the replay: every node's conntrack table as the last packet left it.
    public mutating func finish() -> ReplaySummary {
        for (i, name) in (ReplaySummary.Totals.verdictNames + ["accepted"]).enumerated() where verdictCounts[i] > 0 {
            report.summary.verdicts[name, default: 0] += verdictCounts[i]
        }
        verdictCounts = [Int](repeating: 0, count: 6)
        for (row, counts) in endpointFlows.enumerated() {
            for (endpoint, flows) in counts { report.services[row].endpoints[endpoint.description, default: 0] += flows }
        }
        endpointFlows = endpointFlows.map { _ in [:] }
        // Entries past their timeout at the last packet are gone, as the kernel's gc reaps them.
        if let now = lastSeconds { for i in plane.nodes.indices { _ = plane.nodes[i].host.conntrack.expire(now: now) } }
        report.nodes = plane.nodes.map { n in
            ReplaySummary.NodeState(name: n.node.name, conntrackEntries: n.host.conntrack.liveCount,
                                    conntrackTableFull: n.host.conntrack.tableFullDrops, conntrackEarlyDrops: n.host.conntrack.earlyDrops)
        }
        report.normalize()
        return report
    }

    // MARK: bookkeeping

    /// A new flow: its Service port and endpoint, or why it did not arrive, and its translations.
    mutating func countFlow(_ path: DataplanePath, _ p: ReplayPacket) {
        report.summary.flows += 1
        if path.dnat != nil { report.nat.dnat += 1 }
        if path.masquerade { report.nat.masquerade += 1 } else if path.snat != nil { report.nat.snat += 1 }
        if let (s, sp) = servicePortIndex(p.flow) {
            let slot = services.slot(service: s, port: sp)
            if serviceRows.isEmpty { serviceRows = [Int32](repeating: 0, count: services.portCount) }
            var row = Int(serviceRows[slot]) - 1
            if row < 0 {
                let service = plane.cluster.services[s], port = service.ports[sp]
                report.services.append(ReplaySummary.ServiceFlows(service: "\(service.namespace)/\(service.name)", port: port.port,
                                                                  proto: port.protocol.name, flows: 0, endpoints: [:]))
                endpointFlows.append([:])
                row = report.services.count - 1
                serviceRows[slot] = Int32(row + 1)
            }
            report.services[row].flows += 1
            if path.verdict == .delivered, let e = path.dnat { endpointFlows[row][e, default: 0] += 1 }
        }
        guard path.verdict != .delivered else { return }
        let why = path.why ?? path.verdict.rawValue
        let key = path.verdict.rawValue + "\u{0}" + why
        if let i = dropIndex[key] {
            report.drops[i].count += 1
        } else {
            dropIndex[key] = report.drops.count
            report.drops.append(ReplaySummary.DropReason(verdict: path.verdict.rawValue, why: why, count: 1,
                                                         example: p.flow.description, examplePacket: p.number))
        }
    }

    /// The 5-tuple a flow's replies carry at the same capture point: addresses and ports
    /// swapped; for ICMP queries the reply type (conntrack's nf_ct_invert_tuple).
    static func replyKey(_ key: FlowKey) -> FlowKey {
        guard key.proto == .icmp || key.proto == .icmpv6 else { return key.reversed }
        let t = ConntrackTuple(source: key.source, sourcePort: key.sourcePort, destination: key.destination,
                               destinationPort: key.destinationPort, proto: key.proto).inverted
        return FlowKey(source: t.source, sourcePort: t.sourcePort, destination: t.destination, destinationPort: t.destinationPort, proto: t.proto)
    }

    /// Records what the capture node sends in `path`, for its outgoing packets to be checked.
    mutating func noteEgress(_ path: DataplanePath) {
        guard let n = captureNode, case .node(_, nil) = options.capturePoint else { return }
        let name = plane.nodes[n].node.name
        for step in path.steps {
            for c in step.crossings where c.owner == .node(name) && c.direction == .sent && !c.encapsulated {
                egress[step.packet.flow, default: 0] += 1
            }
        }
    }

    mutating func note(_ text: String) {
        if noted.insert(text).inserted { report.notes.append(text) }
    }

    func seed(_ p: ReplayPacket) -> UInt64 { options.seed &+ UInt64(p.number) &* 0x9E37_79B9_7F4A_7C15 }

    /// A `-i any` packet's identity apart from the interface: the same bytes seen on a bridge
    /// port and on the bridge within a few milliseconds are one packet.
    func signature(_ p: ReplayPacket) -> UInt64? {
        guard p.interfaceIndex != nil else { return nil }
        var h = Hasher()
        h.combine(p.flow)
        h.combine(p.packet.tcpFlags)
        h.combine(p.bytes?.count ?? 0)
        if let b = p.bytes, b.count >= 8 { h.combine(b[4]); h.combine(b[5]) }  // the IPv4 ID
        if let b = p.bytes, b.count >= 28 { h.combine(b[24]); h.combine(b[25]); h.combine(b[26]); h.combine(b[27]) }  // TCP seq
        return UInt64(bitPattern: Int64(h.finalize()))
    }

    /// Whether a reply delivered to `target` reached the flow's sender.
    static func reaches(_ target: DeliveryTarget?, _ source: TraceSource, _ cluster: Cluster) -> Bool {
        switch (target, source) {
        case (.pod(let ns, let name)?, .pod(let p)): return p.namespace == ns && p.name == name
        case (.node(let n)?, .node(let node)): return n == node.name
        case (.pod(let ns, let name)?, .node(let node)):
            return cluster.pods.contains { $0.namespace == ns && $0.name == name && $0.hostNetwork && $0.nodeName == node.name }
        case (.node(let n)?, .pod(let p)): return p.hostNetwork && p.nodeName == n
        case (.external(let ip)?, .external(let client)): return ip == client
        default: return false
        }
    }

    /// Nodes that forwarded the packet (each a router: TTL minus one); a node's own packet
    /// leaves it with the TTL it was sent with.
    static func routedHops(_ path: DataplanePath, entry: Dataplane.Entry) -> Int {
        if case .node(_, nil) = entry.location { return max(0, path.nodeTransmissions - 1) }
        return path.nodeTransmissions
    }

    /// Whether this packet's walk records its steps.
    func steps(_ p: ReplayPacket) -> Bool {
        options.recordSteps || p.number <= options.keepPaths || captureNode != nil
    }

    static func emptyPath(_ packet: Packet) -> DataplanePath {
        DataplanePath(probability: 1, verdict: .dropped, why: nil, decidedBy: .kdp, dnat: nil, masquerade: false, snat: nil,
                      deliveredTo: nil, steps: [], finalPacket: packet)
    }
}

extension Packet {
    /// The packet's 5-tuple.
    var flow: FlowKey {
        let t = tuple
        return FlowKey(source: t.source, sourcePort: t.sourcePort, destination: t.destination, destinationPort: t.destinationPort, proto: t.proto)
    }
}
