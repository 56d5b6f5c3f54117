import Netfilter
import Wire

extension Replay {
    /// An established packet the flow cache answers, before anything else in `replay(_:)`
    /// looks at it: one probe of the flow index, the cache's check of each node's conntrack
    /// entry, and the counters. Nil sends the packet the long way (`inject` or `check`); the
    /// cache's second answer there is a refusal found in the entry's first words.
    ///
    /// Only where the long way would also end in the cache: no `-i any` interface (whose
    /// duplicates and outgoing packets need the capture node's bookkeeping), steps not
    /// recorded, the flow's last packet in this direction stored. A flow of another shard is
    /// never stored, so a hit is always this shard's.
    ///
    /// - Complexity: O(*h*) for the *h* nodes the flow crosses; no allocation, no string.
    @inline(__always)
    mutating func cachedOutcome(_ p: ReplayPacket) -> ReplayOutcome? {
        guard options.flowCache, p.interfaceIndex == nil, captureNode == nil, !steps(p),
              let v = keys[ConntrackTuple(p.flow)] else { return nil }
        let reply = v & 1 == 1
        guard let e = cache.lookup(flow: v >> 1, reply: reply, proto: p.packet.proto, tcpFlags: p.packet.tcpFlags, nodes: &plane.nodes,
                                   now: p.seconds) else { return nil }
        plane.setClock(seconds: p.seconds)
        lastSeconds = p.seconds
        if reply { report.summary.checked += 1 } else { report.summary.injected += 1 }
        return count(p, ReplayOutcome(cached: p.number, timestampNanoseconds: p.timestampNanoseconds, kind: reply ? .checked : .injected,
                                      verdict: e.verdict, delivered: e.delivered, routedHops: e.routedHops))
    }
}
