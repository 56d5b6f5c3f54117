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

/// What became of one captured packet.
public struct ReplayOutcome: Sendable {
    public enum Kind: String, Sendable, Codable {
        /// Started or continued a flow in its original direction: sent in at its place.
        case injected
        /// Travelled a tracked flow's reply direction: compared with what kdp delivers.
        case checked
    }

    public var number: Int
    public var timestampNanoseconds: Int64
    public var kind: Kind
    /// The packet's path through the cluster (for a checked packet: the far end's reply, walked
    /// back); nil when there was nothing to walk (a packet another shard replays, a reply kdp
    /// has no request for).
    public var path: DataplanePath? { detail?.path }
    /// The verdict of `path`, also for packets the flow cache answered (whose path is not
    /// repeated: nil).
    public var verdict: PathVerdict?
    public var mismatch: ReplaySummary.Mismatch? { detail?.mismatch }
    /// The path and mismatch, boxed: most packets have neither, and an outcome is copied a few
    /// times per packet, so it stays a few words long.
    private let detail: Detail?

    final class Detail: Sendable {
        let path: DataplanePath?
        let mismatch: ReplaySummary.Mismatch?
        init(path: DataplanePath?, mismatch: ReplaySummary.Mismatch?) {
            self.path = path
            self.mismatch = mismatch
        }
    }
    /// The flow as delivered, after NAT (nil when not delivered): what `-w` writes.
    public var delivered: FlowKey?
    /// Routers the packet crossed before delivery (each lowers the TTL by one).
    public var routedHops: Int

    public init(number: Int, timestampNanoseconds: Int64, kind: Kind, path: DataplanePath?, verdict: PathVerdict? = nil,
                mismatch: ReplaySummary.Mismatch?, delivered: FlowKey?, routedHops: Int) {
        self.number = number
        self.timestampNanoseconds = timestampNanoseconds
        self.kind = kind
        self.detail = path == nil && mismatch == nil ? nil : Detail(path: path, mismatch: mismatch)
        self.verdict = verdict ?? path?.verdict
        self.delivered = delivered
        self.routedHops = routedHops
    }
}

/// Replays a capture's packets, in order, through the emulated cluster. Node state (conntrack,
/// `recent` lists, statistic counters, IPVS connections) carries over from packet to packet and
/// every timer runs on the capture's own timestamps.
public struct Replay: Sendable {
    public private(set) var plane: Dataplane
    public let options: ReplayOptions
    public private(set) var report = ReplaySummary()

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

    struct ClientEndpoint: Hashable, Sendable {
        var proto: IPProtocol
        var address: IPAddress
        var port: UInt16
    }

    /// Every tracked flow's 5-tuple as the capture point sees it, in both directions: the
    /// flow's index times two, plus one for the reply direction (one lookup per packet).
    var keys: [FlowKey: Int32] = [:]

    /// The flow whose original direction is `key`.
    func originalFlow(_ key: FlowKey) -> Int? {
        guard let v = keys[key], v & 1 == 0 else { return nil }
        return Int(v >> 1)
    }
    var clients: [ClientEndpoint: Int] = [:]
    var tracked: [TrackedFlow] = []
    var serviceIndex: [String: Int] = [:]
    var dropIndex: [String: Int] = [:]
    /// What the capture node sent on its interfaces in kdp's paths (`-i any` captures' outgoing
    /// packets are checked against it), with how many times.
    var egress: [FlowKey: Int] = [:]
    /// `-i any` sees a bridged packet on the bridge port and on the bridge: the last few
    /// packets' signatures, to replay each once.
    var recentSignatures: [UInt64: Int64] = [:]
    var noted = Set<String>()
    var cache = ReplayFlowCache()
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
        if let v = keys[key] {
            let f = Int(v >> 1)
            if tracked[f].foreign { return nil }
            return count(p, v & 1 == 0 ? inject(p, flow: f) : check(p, flow: f))
        }
        // On a node, a reply arrives before the node undoes the flow's translation: the reply
        // direction there is the node's conntrack reply tuple.
        if let n = captureNode, let (i, isReply) = plane.nodes[n].host.conntrack.lookup(p.packet.tuple), isReply {
            let o = plane.nodes[n].host.conntrack[i].original
            if let f = originalFlow(FlowKey(source: o.source, sourcePort: o.sourcePort, destination: o.destination, destinationPort: o.destinationPort, proto: o.proto)) {
                return tracked[f].foreign ? nil : count(p, check(p, flow: f, arrivingAt: n))
            }
        }
        if let q = p.quoted, let f = originalFlow(q) { return tracked[f].foreign ? nil : count(p, checkError(p, flow: f)) }
        let replyShaped = key.proto == .udp || (key.proto == .tcp && p.packet.tcpFlags & (TCPFlag.syn | TCPFlag.ack) != TCPFlag.syn)
        if replyShaped, let f = clients[ClientEndpoint(proto: key.proto, address: key.destination, port: key.destinationPort)] {
            return tracked[f].foreign ? nil : count(p, unexpectedSource(p, flow: f))
        }
        guard let entry = placement(p) else { return nil }
        let foreign = options.shard.map { Self.shard(of: plane.nodes[entry.node].node.name, count: $0.count) != $0.index } ?? false
        let f = tracked.count
        tracked.append(TrackedFlow(key: key, entry: entry, original: p.packet, path: Self.emptyPath(p.packet), firstPacket: p.number,
                                   foreign: foreign))
        keys[key] = Int32(f) << 1
        let reply = Self.replyKey(key)
        if keys[reply] == nil { keys[reply] = Int32(f) << 1 | 1 }
        if key.proto.hasPorts { clients[ClientEndpoint(proto: key.proto, address: key.source, port: key.sourcePort)] = f }
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
        // Entries past their timeout at the last packet are gone, as the kernel's gc reaps them.
        if let now = lastSeconds { for i in plane.nodes.indices { _ = plane.nodes[i].host.conntrack.expire(now: now) } }
        report.nodes = plane.nodes.map { n in
            ReplaySummary.NodeState(name: n.node.name, conntrackEntries: n.host.conntrack.liveCount,
                                    conntrackTableFull: n.host.conntrack.tableFullDrops, conntrackEarlyDrops: n.host.conntrack.earlyDrops)
        }
        report.normalize()
        return report
    }

    // MARK: the two kinds of packet

    private mutating func inject(_ p: ReplayPacket, flow f: Int) -> ReplayOutcome {
        if options.flowCache, !steps(p),
           let e = cache.lookup(flow: f, reply: false, packet: p.packet, nodes: &plane.nodes, now: p.seconds) {
            report.summary.injected += 1
            return ReplayOutcome(number: p.number, timestampNanoseconds: p.timestampNanoseconds, kind: .injected, path: nil,
                                 verdict: e.verdict, mismatch: nil, delivered: e.delivered, routedHops: e.routedHops)
        }
        let entry = tracked[f].entry
        let isNew = plane.nodes[entry.node].host.conntrack.lookup(p.packet.tuple, now: p.seconds) == nil
        var packet = p.packet
        packet.inInterface = nil
        let path = plane.inject(packet, from: entry, seed: seed(p), recordSteps: steps(p))
        tracked[f].path = path
        noteEgress(path)
        if isNew { countFlow(path, p) }
        report.summary.injected += 1
        let delivered = path.verdict == .delivered ? path.finalPacket.flow : nil
        let hops = Self.routedHops(path, entry: entry)
        if options.flowCache {
            cache.store(flow: f, reply: false, packet: p.packet, path: path, delivered: delivered, routedHops: hops, nodes: plane.nodes)
        }
        return ReplayOutcome(number: p.number, timestampNanoseconds: p.timestampNanoseconds, kind: .injected, path: path,
                             mismatch: nil, delivered: delivered, routedHops: hops)
    }

    /// A reply-direction packet: the far end's answer walked back and compared with the
    /// capture, where it was delivered to the client or, with `arrivingAt`, where it arrived
    /// at that node (a node's capture sees the reply before the node undoes the translation).
    private mutating func check(_ p: ReplayPacket, flow f: Int, arrivingAt node: Int? = nil) -> ReplayOutcome {
        report.summary.checked += 1
        if node == nil, options.flowCache, !steps(p),
           let e = cache.lookup(flow: f, reply: true, packet: p.packet, nodes: &plane.nodes, now: p.seconds) {
            return ReplayOutcome(number: p.number, timestampNanoseconds: p.timestampNanoseconds, kind: .checked, path: nil,
                                 verdict: e.verdict, mismatch: nil, delivered: e.delivered, routedHops: e.routedHops)
        }
        let t = tracked[f]
        guard t.path.verdict == .delivered, let far = plane.answeringEntry(t.path) else {
            let why = t.path.verdict == .delivered ? "kdp cannot tell who answers for \(t.path.deliveredTo?.description ?? "?")"
                : "the capture shows a reply, but kdp's path for the request ended \(t.path.verdict.rawValue): \(t.path.why ?? "")"
            return mismatch(p, .replyToUndelivered, expected: nil, why: why, path: nil)
        }
        // The far end answers the packet it received, as the conntrack reply tuple says.
        let got = t.path.finalPacket
        var reply = p.packet
        reply.source = got.destination
        reply.destination = got.source
        if got.proto.hasPorts {
            reply.sourcePort = got.destinationPort
            reply.destinationPort = got.sourcePort
        }
        reply.inInterface = nil
        let path = plane.inject(reply, from: far, seed: seed(p), client: (t.original, t.entry.source), recordSteps: steps(p))
        noteEgress(path)
        if let node {
            let name = plane.nodes[node].node.name
            let seen = path.steps.filter { $0.crossings.contains { $0.owner == .node(name) && $0.direction == .received && !$0.encapsulated } }
                .map(\.packet.flow)
            if seen.contains(p.flow) {
                return ReplayOutcome(number: p.number, timestampNanoseconds: p.timestampNanoseconds, kind: .checked, path: path,
                                     mismatch: nil, delivered: nil, routedHops: 0)
            }
            return mismatch(p, .replyDiffers, expected: seen.first?.description,
                            why: seen.first.map { "kdp's reply arrives at node \(name) as \($0)" } ?? "kdp's reply does not reach node \(name)", path: path)
        }
        let arrived = path.verdict == .delivered && Self.reaches(path.deliveredTo, t.entry.source, plane.cluster)
        let delivered = arrived ? path.finalPacket.flow : nil
        if let delivered, delivered == p.flow {
            let hops = Self.routedHops(path, entry: far)
            if options.flowCache {
                cache.store(flow: f, reply: true, packet: p.packet, path: path, delivered: delivered, routedHops: hops, nodes: plane.nodes)
            }
            return ReplayOutcome(number: p.number, timestampNanoseconds: p.timestampNanoseconds, kind: .checked, path: path,
                                 mismatch: nil, delivered: delivered, routedHops: hops)
        }
        let why = delivered.map { "kdp delivers the reply to the client as \($0)" }
            ?? "kdp's reply ends \(path.verdict.rawValue)" + (path.why.map { ": \($0)" } ?? (path.deliveredTo.map { " at \($0)" } ?? ""))
        return mismatch(p, .replyDiffers, expected: delivered.map(\.description), why: why, path: path)
    }

    /// An ICMP error quoting a tracked flow's packet: RELATED to it. kdp expects one only where
    /// its path for the flow was rejected (kube-proxy's REJECT sends port unreachable).
    private mutating func checkError(_ p: ReplayPacket, flow f: Int) -> ReplayOutcome {
        report.summary.checked += 1
        let t = tracked[f]
        if t.path.verdict == .rejected {
            return ReplayOutcome(number: p.number, timestampNanoseconds: p.timestampNanoseconds, kind: .checked, path: nil,
                                 mismatch: nil, delivered: p.flow, routedHops: 0)
        }
        return mismatch(p, .unexpectedError, expected: nil,
                        why: "ICMP type \(p.packet.icmpType) code \(p.packet.icmpCode) for \(t.key), which kdp's path \(t.path.verdict.rawValue)"
                            + (t.path.deliveredTo.map { " to \($0)" } ?? ""), path: nil)
    }

    /// A reply-shaped packet to a tracked client from the wrong source: the real node did not
    /// undo the flow's DNAT (or answered from elsewhere).
    private mutating func unexpectedSource(_ p: ReplayPacket, flow f: Int) -> ReplayOutcome {
        report.summary.checked += 1
        let t = tracked[f]
        let expected = Self.replyKey(t.key)
        return mismatch(p, .unexpectedSource, expected: expected.description,
                        why: "\(t.key.sourceEndpoint) sent to \(t.key.destinationEndpoint), so its replies come from \(t.key.destinationEndpoint); this one comes from \(p.flow.sourceEndpoint): the node did not undo the translation", path: nil)
    }

    /// A packet the capture node sent (`-i any`, outgoing): one of kdp's paths must send it.
    private mutating func checkEgress(_ p: ReplayPacket) -> ReplayOutcome {
        report.summary.checked += 1
        if let n = egress[p.flow], n > 0 {
            egress[p.flow] = n - 1
            return ReplayOutcome(number: p.number, timestampNanoseconds: p.timestampNanoseconds, kind: .checked, path: nil,
                                 mismatch: nil, delivered: nil, routedHops: 0)
        }
        let node = captureNode.map { plane.nodes[$0].node.name } ?? "?"
        return mismatch(p, .egressDiffers, expected: nil, why: "node \(node) sent \(p.flow), which no path kdp replayed sends out of it", path: nil)
    }

    private mutating func mismatch(_ p: ReplayPacket, _ kind: ReplaySummary.Mismatch.Kind, expected: String?, why: String,
                                   path: DataplanePath?) -> ReplayOutcome {
        let m = ReplaySummary.Mismatch(packet: p.number, timestamp: p.seconds, kind: kind, captured: p.flow.description,
                                       expected: expected, why: why)
        report.summary.mismatches += 1
        if report.mismatches.count < ReplaySummary.mismatchExamplesLimit { report.mismatches.append(m) }
        return ReplayOutcome(number: p.number, timestampNanoseconds: p.timestampNanoseconds, kind: .checked, path: path,
                             mismatch: m, delivered: nil, routedHops: 0)
    }

    private mutating func count(_ p: ReplayPacket, _ o: ReplayOutcome) -> ReplayOutcome {
        report.summary.packets += 1
        if p.badTransportChecksum { report.summary.badTransportChecksums += 1 }
        if let v = o.verdict { verdictCounts[Self.verdictSlot(v)] += 1 }
        return o
    }

    // MARK: placement

    /// Where a packet that starts a flow enters, by the capture point and its source address.
    mutating func placement(_ p: ReplayPacket) -> Dataplane.Entry? {
        let src = p.flow.source
        if let pod = capturePod, plane.cluster.pods[pod].ips.contains(src) { return podEntry(pod) }
        if let n = captureNode {
            if plane.nodes[n].node.internalIPs.contains(src) || plane.nodes[n].host.isLocal(src) { return nodeEntry(n) }
            if let pod = plane.podByIP[src], plane.cluster.pods[pod].nodeName == plane.nodes[n].node.name { return podEntry(pod) }
            guard case .node(_, let device) = options.capturePoint else { return nil }
            let dev = device ?? "eth0"
            if device == nil { note("-i any on node \(plane.nodes[n].node.name): packets from other hosts are taken as arriving on eth0") }
            let name = plane.nodes[n].node.name
            return Dataplane.Entry(location: .node(n, inInterface: dev),
                                   steps: [DataplaneStep(.link, node: name, action: "from \(src), arrives on \(dev) of node \(name)",
                                                         packet: p.packet, crossings: [InterfaceCrossing(.node(name), dev, .received)])],
                                   node: n, source: .external(src))
        }
        if options.capturePoint != .external {
            if let pod = plane.podByIP[src] { return podEntry(pod) }
            if let n = plane.nodeByIP[src] { return nodeEntry(n) }
            if let pod = plane.cluster.pods.firstIndex(where: { $0.hostNetwork && $0.ips.contains(src) }),
               let n = plane.cluster.pods[pod].nodeName.flatMap({ plane.nodeIndex[$0] }) { return nodeEntry(n) }
        }
        return externalEntry(p)
    }

    private func podEntry(_ pod: Int) -> Dataplane.Entry? {
        let p = plane.cluster.pods[pod]
        guard let n = p.nodeName.flatMap({ plane.nodeIndex[$0] }) else { return nil }
        return Dataplane.Entry(location: .pod(pod), steps: [], node: n, source: .pod(p))
    }

    private func nodeEntry(_ n: Int) -> Dataplane.Entry {
        let name = plane.nodes[n].node.name
        return Dataplane.Entry(location: .node(n, inInterface: nil),
                               steps: [DataplaneStep(.link, node: name, action: "sent by node \(name)", packet: Packet(source: .v4(.zero), destination: .v4(.zero)))],
                               node: n, source: .node(plane.nodes[n].node))
    }

    /// From outside: `--via`, else the node that owns the destination (a node IP, a NodePort),
    /// else for a load balancer's VIP the node the cloud picks (seeded per flow), else the
    /// first node, said in the notes.
    private mutating func externalEntry(_ p: ReplayPacket) -> Dataplane.Entry {
        let dst = p.flow.destination
        let n: Int
        if let via = options.via, let v = plane.nodeIndex[via] {
            n = v
        } else if let owner = plane.nodeByIP[dst] {
            n = owner
        } else if plane.cluster.services.contains(where: { $0.loadBalancerIPs.contains(dst) }) {
            var rng = SeededGenerator(seed: seed(p))
            n = Int.random(in: 0..<plane.nodes.count, using: &rng)
        } else {
            n = 0
            note("packets from outside to \(dst) enter at node \(plane.nodes[0].node.name), the first node: no --via, and no node owns the address")
        }
        let name = plane.nodes[n].node.name
        return Dataplane.Entry(location: .node(n, inInterface: "eth0"),
                               steps: [DataplaneStep(.link, node: name, action: "from \(p.flow.source) outside the cluster, arrives on eth0 of node \(name)",
                                                     packet: p.packet, crossings: [InterfaceCrossing(.node(name), "eth0", .received)])],
                               node: n, source: .external(p.flow.source))
    }

    // MARK: bookkeeping

    /// A new flow: its Service port and endpoint, or why it did not arrive, and its translations.
    private mutating func countFlow(_ path: DataplanePath, _ p: ReplayPacket) {
        report.summary.flows += 1
        if path.dnat != nil { report.nat.dnat += 1 }
        if path.masquerade { report.nat.masquerade += 1 } else if path.snat != nil { report.nat.snat += 1 }
        if let (service, sp) = servicePort(p.flow) {
            let key = "\(service.namespace)/\(service.name)/\(sp.port)/\(sp.protocol)"
            let i = serviceIndex[key] ?? {
                report.services.append(ReplaySummary.ServiceFlows(service: "\(service.namespace)/\(service.name)", port: sp.port,
                                                                  proto: sp.protocol.name, flows: 0, endpoints: [:]))
                serviceIndex[key] = report.services.count - 1
                return report.services.count - 1
            }()
            report.services[i].flows += 1
            if path.verdict == .delivered, let e = path.dnat { report.services[i].endpoints[e, default: 0] += 1 }
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

    /// The Service port a flow is sent to: a ClusterIP, external IP or load-balancer VIP and
    /// its port, or a node address and a NodePort.
    func servicePort(_ flow: FlowKey) -> (Service, ServicePort)? {
        let dst = flow.destination
        let hit = services.byAddress[SocketKey(address: dst, port: flow.destinationPort, proto: flow.proto)]
            ?? (services.nodeAddresses.contains(dst) ? services.byNodePort[SocketKey(address: .v4(.zero), port: flow.destinationPort, proto: flow.proto)] : nil)
        guard let (s, p) = hit else { return nil }
        return (plane.cluster.services[s], plane.cluster.services[s].ports[p])
    }

    struct SocketKey: Hashable, Sendable {
        var address: IPAddress
        var port: UInt16
        var proto: IPProtocol
    }

    /// The cluster's Service ports by address and port (ClusterIPs, external IPs, VIPs) and by
    /// NodePort, built once: a new flow finds its Service in O(1).
    struct ServiceIndex: Sendable {
        var byAddress: [SocketKey: (Int, Int)] = [:]
        var byNodePort: [SocketKey: (Int, Int)] = [:]
        var nodeAddresses = Set<IPAddress>()

        init(_ plane: Dataplane) {
            for (si, s) in plane.cluster.services.enumerated() {
                for (pi, p) in s.ports.enumerated() {
                    for ip in s.clusterIPs + s.externalIPs + s.loadBalancerIPs {
                        let k = SocketKey(address: ip, port: p.port, proto: p.protocol)
                        if byAddress[k] == nil { byAddress[k] = (si, pi) }
                    }
                    if let np = p.nodePort {
                        let k = SocketKey(address: .v4(.zero), port: np, proto: p.protocol)
                        if byNodePort[k] == nil { byNodePort[k] = (si, pi) }
                    }
                }
            }
            for n in plane.nodes {
                for i in n.network.interfaces { for a in i.addresses { nodeAddresses.insert(a.0) } }
                for ip in n.node.internalIPs { nodeAddresses.insert(ip) }
            }
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
    private mutating func noteEgress(_ path: DataplanePath) {
        guard let n = captureNode, case .node(_, nil) = options.capturePoint else { return }
        let name = plane.nodes[n].node.name
        for step in path.steps {
            for c in step.crossings where c.owner == .node(name) && c.direction == .sent && !c.encapsulated {
                egress[step.packet.flow, default: 0] += 1
            }
        }
    }

    private mutating func note(_ text: String) {
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
