import Netfilter
import Wire

/// The two kinds of packet: injected where its flow enters, or checked against the reply
/// kdp delivers; and the mismatches a check finds.
extension Replay {

    mutating func inject(_ p: ReplayPacket, flow f: Int) -> ReplayOutcome {
        if options.flowCache, !steps(p),
           let e = cache.lookup(flow: f, reply: false, proto: p.packet.proto, tcpFlags: p.packet.tcpFlags, nodes: &plane.nodes, now: p.seconds) {
            report.summary.injected += 1
            return ReplayOutcome(cached: p.number, timestampNanoseconds: p.timestampNanoseconds, kind: .injected,
                                 verdict: e.verdict, delivered: e.delivered, routedHops: e.routedHops)
        }
        let entry = tracked[f].entry
        let tuple = p.packet.tuple, now = p.seconds  // computed first: see `Host.conntrack`
        let isNew = plane.nodes[entry.node].host.conntrack.lookup(tuple, now: now) == nil
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
    mutating func check(_ p: ReplayPacket, flow f: Int, arrivingAt node: Int? = nil) -> ReplayOutcome {
        report.summary.checked += 1
        if node == nil, options.flowCache, !steps(p),
           let e = cache.lookup(flow: f, reply: true, proto: p.packet.proto, tcpFlags: p.packet.tcpFlags, nodes: &plane.nodes, now: p.seconds) {
            return ReplayOutcome(cached: p.number, timestampNanoseconds: p.timestampNanoseconds, kind: .checked,
                                 verdict: e.verdict, delivered: e.delivered, routedHops: e.routedHops)
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
    mutating func checkError(_ p: ReplayPacket, flow f: Int) -> ReplayOutcome {
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
    mutating func unexpectedSource(_ p: ReplayPacket, flow f: Int) -> ReplayOutcome {
        report.summary.checked += 1
        let t = tracked[f]
        let expected = Self.replyKey(t.key)
        return mismatch(p, .unexpectedSource, expected: expected.description,
                        why: "\(t.key.sourceEndpoint) sent to \(t.key.destinationEndpoint), so its replies come from \(t.key.destinationEndpoint); this one comes from \(p.flow.sourceEndpoint): the node did not undo the translation", path: nil)
    }

    /// A packet the capture node sent (`-i any`, outgoing): one of kdp's paths must send it.
    mutating func checkEgress(_ p: ReplayPacket) -> ReplayOutcome {
        report.summary.checked += 1
        if let n = egress[p.flow], n > 0 {
            egress[p.flow] = n - 1
            return ReplayOutcome(number: p.number, timestampNanoseconds: p.timestampNanoseconds, kind: .checked, path: nil,
                                 mismatch: nil, delivered: nil, routedHops: 0)
        }
        let node = captureNode.map { plane.nodes[$0].node.name } ?? "?"
        return mismatch(p, .egressDiffers, expected: nil, why: "node \(node) sent \(p.flow), which no path kdp replayed sends out of it", path: nil)
    }

    mutating func mismatch(_ p: ReplayPacket, _ kind: ReplaySummary.Mismatch.Kind, expected: String?, why: String,
                                   path: DataplanePath?) -> ReplayOutcome {
        let m = ReplaySummary.Mismatch(packet: p.number, timestamp: p.seconds, kind: kind, captured: p.flow.description,
                                       expected: expected, why: why)
        report.summary.mismatches += 1
        if report.mismatches.count < ReplaySummary.mismatchExamplesLimit { report.mismatches.append(m) }
        return ReplayOutcome(number: p.number, timestampNanoseconds: p.timestampNanoseconds, kind: .checked, path: path,
                             mismatch: m, delivered: nil, routedHops: 0)
    }

    /// Takes the outcome `consuming`, so that handing it back moves it: borrowed, it was copied
    /// (a retain of its box) and the original destroyed, once per packet.
    mutating func count(_ p: borrowing ReplayPacket, _ o: consuming ReplayOutcome) -> ReplayOutcome {
        report.summary.packets += 1
        if p.badTransportChecksum { report.summary.badTransportChecksums += 1 }
        if let v = o.verdict { verdictCounts[Self.verdictSlot(v)] += 1 }
        return o
    }
}
