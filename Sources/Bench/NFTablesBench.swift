import Cluster
import Foundation
import KubeProxy
import NFTables
import Wire

/// `compile.nftables`: kube-proxy's nftables mode for the measured node, one full sync
/// (`NFTablesCompiler.compile`, then the transaction text knftables would hand `nft -f`), best
/// of three. Target: at most 0.2 s for 10,000 Services × 2 endpoints (issue 17).
public enum NFTablesBench {
    public static func compile(_ cluster: Cluster) -> BenchResult {
        let node = cluster.nodes[1]
        let (config, options, _) = NFTablesCompiler.config(for: node, in: cluster, family: .ipv4)
        var best = Double.infinity, bytes = 0
        for _ in 0..<3 {
            let start = ContinuousClock.now
            let text = NFTablesCompiler.compile(cluster, config: config, options: options).transactionText()
            best = min(best, (ContinuousClock.now - start).seconds)
            bytes += text.utf8.count
        }
        _ = bytes  // the text is made, not thrown away unseen
        return BenchResult(name: "compile.nftables", opsPerSecond: 1 / best, nsPerOp: best * 1e9, seconds: best)
    }

    /// `lookup.nftables`: the first packet of a new connection to a random Service VIP from a
    /// pod, through the measured node's kube-proxy table as nft would run it (prerouting's
    /// chains, where `service-ips` dispatches by verdict map and DNATs, then forward's and
    /// postrouting's), one seeded numgen draw per packet, no steps recorded. Per packet, so a
    /// sweep shows whether it stays flat as Services grow (issue 17: it must). The parse of the
    /// compiled text is timed apart: `parse.nftables.per_rule`, per rule and element, as the
    /// data plane pays it once per node in nftables mode.
    public static func lookup(_ cluster: Cluster, seed: UInt64) throws -> [BenchResult] {
        let node = cluster.nodes[1]
        let (config, options, _) = NFTablesCompiler.config(for: node, in: cluster, family: .ipv4)
        let text = NFTablesCompiler.compile(cluster, config: config, options: options).transactionText()
        let parseStart = ContinuousClock.now
        let parsed = try NFTRuleset.parse(text, file: "bench")
        let parseSeconds = (ContinuousClock.now - parseStart).seconds
        let parsedRules = parsed.chains.reduce(0) { $0 + $1.rules.count } + parsed.sets.reduce(0) { $0 + $1.elements.count }
        let parse = BenchResult(name: "parse.nftables.per_rule", opsPerSecond: Double(parsedRules) / parseSeconds,
                                nsPerOp: parseSeconds * 1e9 / Double(max(parsedRules, 1)), seconds: parseSeconds)
        let engine = NFTEngine(parsed)
        let local = Set(node.internalIPs)
        let client = cluster.pods.first { !$0.hostNetwork && $0.nodeName == node.name && !$0.ips.isEmpty }?.ips[0]
            ?? cluster.pods.first { !$0.ips.isEmpty }!.ips[0]
        let vips = cluster.services.filter { !$0.headless && $0.type != .externalName && !$0.clusterIPs.isEmpty }
            .flatMap { s in s.ports.map { (s.clusterIPs[0], $0.port, $0.protocol) } }
        var rng = SeededGenerator(seed: seed)
        let probes = (0..<20_000).map { i -> NFTPacket in
            let (ip, port, proto) = vips[Int(rng.next() % UInt64(vips.count))]
            return NFTPacket(source: client, destination: ip, proto: proto, sourcePort: UInt16(32768 + i % 28000), destinationPort: port)
        }
        var best = Double.infinity, delivered = 0
        for round in 0..<3 {
            var state = NFTDynamicState()
            var chooser = NFTChooser(seed: seed &+ UInt64(round))
            var steps: [NFTStep]? = nil
            delivered = 0
            let start = ContinuousClock.now
            for p in probes {
                var packet = p
                var verdict = NFTHookVerdict.accept
                for hook in [NFTHook.prerouting, .forward, .postrouting] where verdict == .accept {
                    verdict = engine.run(hook: hook, packet: &packet, ct: .new, local: local, state: &state, chooser: &chooser, steps: &steps).verdict
                }
                if verdict == .accept { delivered += 1 }
            }
            best = min(best, (ContinuousClock.now - start).seconds / Double(probes.count))
        }
        guard delivered > 0 else { throw InputError("lookup.nftables: no probe got through the node's nft table") }
        return [BenchResult(name: "lookup.nftables", opsPerSecond: 1 / best, nsPerOp: best * 1e9, seconds: best * Double(probes.count)),
                try mapLookup(engine, probes: probes), parse]
    }

    /// `lookup.nftables.map`: one lookup in the `service-ips` verdict map as the engine makes it
    /// for `ip daddr . meta l4proto . th dport vmap @service-ips` (key built from the packet,
    /// then the map's hash), per lookup, best of three over the same probes. Held against
    /// `baseline.hash_probe` (issue 17: at most 2× a bare hash probe per map lookup).
    static func mapLookup(_ engine: NFTEngine, probes: [NFTPacket]) throws -> BenchResult {
        guard let map = engine.set(named: "service-ips") else { throw InputError("lookup.nftables.map: the compiled table has no service-ips map") }
        let fields: [NFTField] = [.ipDaddr, .l4proto, .thDport]
        var best = Double.infinity, found = 0
        let rounds = 20
        for _ in 0..<3 {
            found = 0
            let start = ContinuousClock.now
            for _ in 0..<rounds {
                for p in probes where engine.element(in: map, fields: fields, packet: p) != nil { found += 1 }
            }
            best = min(best, (ContinuousClock.now - start).seconds / Double(probes.count * rounds))
        }
        guard found == probes.count * rounds else { throw InputError("lookup.nftables.map: \(probes.count * rounds - found) probes missed service-ips") }
        return BenchResult(name: "lookup.nftables.map", opsPerSecond: 1 / best, nsPerOp: best * 1e9, seconds: best * Double(probes.count * rounds))
    }
}
