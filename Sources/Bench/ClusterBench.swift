import Cluster
import Foundation
import Dataplane
import IPVS
import KubeProxy
import Netfilter
import Wire

/// The measurements of `kdp bench` on one generated cluster, all in one process so their ratios
/// hold on a noisy machine. Release builds only give meaningful figures.
public enum ClusterBench {
    /// One workload: a generated cluster of `services` Services, measured in this process:
    /// compiling, iptables lookups (linear and compiled), parsing, whole-cluster traces in both
    /// proxy modes, then the IPVS hot paths (`IPVSBench`).
    public static func measure(services: Int, endpointsPerService: Int, connections: Int, seed: UInt64) throws -> BenchReport {
        let cluster = try BenchCluster.build(BenchCluster.spec(services: services, endpointsPerService: endpointsPerService, seed: seed))
        let config = BenchCluster.proxierConfig(cluster)

        var results: [BenchResult] = []
        let (compile, ruleCount) = compileIPTables(cluster, config: config)
        results.append(compile)
        results.append(NFTablesBench.compile(cluster))
        results += try NFTablesBench.lookup(cluster, seed: seed)
        let compiledRules = IPTablesCompiler.compile(cluster, config: config)
        results += try lookupIPTables(cluster, rules: compiledRules, seed: seed)
        results.append(try parseIPTables(compiledRules))
        results += try traceDataplane(cluster, seed: seed, endpointsPerService: endpointsPerService)
        for r in IPVSBench.run(services: services, endpoints: endpointsPerService, connections: connections, seed: seed) {
            results.append(BenchResult(name: r.name, opsPerSecond: r.opsPerSecond, nsPerOp: r.nsPerOp, seconds: r.seconds))
        }
        return BenchReport(
            workload: BenchWorkload(services: services, endpointsPerService: endpointsPerService, connections: connections,
                                    seed: seed, nodes: BenchCluster.nodes, iptablesRules: ruleCount),
            results: results)
    }

    /// `compile.iptables`: one node's full sync, best of three; and the rule count.
    static func compileIPTables(_ cluster: Cluster, config: ProxierConfig) -> (BenchResult, Int) {
        var ruleCount = 0
        var best = Double.infinity
        for _ in 0..<3 {
            let start = ContinuousClock.now
            let ruleset = IPTablesCompiler.compile(cluster, config: config)
            best = min(best, (ContinuousClock.now - start).seconds)
            ruleCount = ruleset.filter.rules.count + ruleset.nat.rules.count
        }
        return (BenchResult(name: "compile.iptables", opsPerSecond: 1 / best, nsPerOp: best * 1e9, seconds: best), ruleCount)
    }

    /// iptables lookups: the first packet of a new connection to a random Service VIP, through
    /// the node's rules (every hook, with conntrack, NAT and routing), linear evaluation and the
    /// compiled fast path; and how many rules each evaluated per packet.
    static func lookupIPTables(_ cluster: Cluster, rules compiledRules: IPTablesRuleset, seed: UInt64) throws -> [BenchResult] {
        var results: [BenchResult] = []
        let nodeRules = try compiledRules.netfilterRuleset(source: "bench")
        let host = Host.simple(localAddresses: cluster.nodes[1].internalIPs)
        let vips = cluster.services.filter { !$0.headless && $0.type != .externalName }.flatMap { s in s.ports.map { (s.clusterIPs[0], $0.port, $0.protocol) } }
        var lookupRNG = SeededGenerator(seed: seed)
        let probes = (0..<20_000).map { i -> Packet in
            let (ip, port, proto) = vips[Int.random(in: 0..<vips.count, using: &lookupRNG)]
            return Packet(source: .v4(IPv4Address(10, 244, 9, UInt8(i % 250 + 2))), destination: ip, proto: proto,
                          sourcePort: UInt16(20000 + i % 40000), destinationPort: port, inInterface: "cni0")
        }
        let options = TraceOptions(recordSteps: false)
        for (name, compiled) in [("lookup.iptables.linear", false), ("lookup.iptables.compiled", true)] {
            let tracer = Tracer(ruleset: nodeRules, compiled: compiled)
            let count = compiled ? probes.count : probes.count / 10
            var tried = 0
            // The node's conntrack table carries from probe to probe, as on a real node and in
            // replay (each probe is a new connection); a trace that got a shared copy of the
            // host would copy the whole table to insert its entry.
            var carried = host
            // The clock stops while the tracer is alive: ARC may free a value right after its
            // last use, and the prepared ruleset's teardown (140 ms at 30,000 Services) landed
            // inside the timed loop, 7 µs on every compiled probe and 70 µs on every linear one.
            let seconds = withExtendedLifetime(tracer) {
                let start = ContinuousClock.now
                for p in probes.prefix(count) {
                    var t = tracer.trace(packet: p, host: consume carried, options: options)
                    tried += t.paths[0].rulesTried
                    carried = Host.take(&t.paths[0].host)
                }
                return (ContinuousClock.now - start).seconds
            }
            results.append(BenchResult(name: name, operations: count, seconds: seconds))
            if compiled {
                results.append(BenchResult(name: "lookup.iptables.compiled.rules_tried", opsPerSecond: 0,
                                           nsPerOp: Double(tried) / Double(count), seconds: seconds))
            } else {
                results.append(BenchResult(name: "lookup.iptables.linear.per_rule", opsPerSecond: Double(tried) / seconds,
                                           nsPerOp: seconds * 1e9 / Double(max(tried, 1)), seconds: seconds))
            }
        }
        return results
    }

    /// `parse.iptables.per_rule`: parsing the node's iptables-save text, per rule.
    static func parseIPTables(_ compiledRules: IPTablesRuleset) throws -> BenchResult {
        let saveText = try compiledRules.saveText()
        let parseStart = ContinuousClock.now
        let parsed = try Ruleset.parse(text: saveText, file: "bench")
        let parseSeconds = (ContinuousClock.now - parseStart).seconds
        let parsedRules = parsed.tables.reduce(0) { $0 + $1.chains.reduce(0) { $0 + $1.rules.count } }
        return BenchResult(name: "parse.iptables.per_rule", opsPerSecond: Double(parsedRules) / parseSeconds,
                           nsPerOp: parseSeconds * 1e9 / Double(max(parsedRules, 1)), seconds: parseSeconds)
    }

    /// The data plane: every node's rules loaded, then one packet and its reply, pod to Service,
    /// each time a new connection (new source port) to a Service picked by the seed; then the
    /// same packets with kube-proxy in IPVS mode (rules, ipsets and IPVS tables loaded first).
    static func traceDataplane(_ cluster: Cluster, seed: UInt64, endpointsPerService: Int = 2) throws -> [BenchResult] {
        var results: [BenchResult] = []
        var plane = Dataplane(cluster: cluster)
        let loadStart = ContinuousClock.now
        try plane.loadAllRules()
        let load = (ContinuousClock.now - loadStart).seconds
        results.append(BenchResult(name: "dataplane.load", opsPerSecond: 1 / load, nsPerOp: load * 1e9, seconds: load))
        let client = cluster.pods.first { !$0.hostNetwork }!
        let targets = cluster.services.filter { !$0.headless && $0.namespace != "default" && $0.type != .externalName }
        var rng = SeededGenerator(seed: seed)
        let rounds = 20
        var requests: [Dataplane.Request] = []
        for i in 0..<rounds {
            let svc = targets[Int.random(in: 0..<targets.count, using: &rng)]
            var r = Dataplane.Request(source: .pod(client), destination: TraceDestination(
                address: svc.clusterIPs[0], port: svc.ports[0].port, spec: "service/\(svc.key)", service: svc))
            r.sourcePort = UInt16(20000 + i)
            r.seed = seed &+ UInt64(i)
            requests.append(r)
        }
        let traceStart = ContinuousClock.now
        for r in requests { _ = try plane.trace(r) }
        let traced = (ContinuousClock.now - traceStart).seconds
        results.append(BenchResult(name: "trace.iptables", operations: rounds, seconds: traced))
        var ipvsPlane = Dataplane(cluster: cluster.withKubeProxy { $0.mode = .ipvs })
        try ipvsPlane.loadAllRules()
        let ipvsStart = ContinuousClock.now
        for r in requests { _ = try ipvsPlane.trace(r) }
        let ipvsTraced = (ContinuousClock.now - ipvsStart).seconds
        results.append(BenchResult(name: "trace.ipvs", operations: rounds, seconds: ipvsTraced))
        results += try loadSharedNodes(services: cluster.services.count, endpointsPerService: endpointsPerService, seed: seed)
        return results
    }

    /// Nodes sharing their common rules: the same Services on `BenchCluster.sharingNodes`
    /// nodes; one node's rules loaded in a fresh data plane (`dataplane.load.1node`: the
    /// cluster-wide pieces and that node's own) against every node's (`.100nodes`), each with
    /// the live heap it adds (`dataplane.memory.*.bytes`, in the NS/OP column); and the same for
    /// the rulesets alone, without the tracers' prepared form (`dataplane.rules.*`).
    static func loadSharedNodes(services: Int, endpointsPerService: Int, seed: UInt64) throws -> [BenchResult] {
        let spec = BenchCluster.spec(services: services, endpointsPerService: endpointsPerService, seed: seed, nodes: BenchCluster.sharingNodes)
        let cluster = try BenchCluster.build(spec)
        let all = 0..<cluster.nodes.count
        var results: [BenchResult] = []
        func timed(_ name: String, _ body: () throws -> Void) rethrows {
            let heap = liveHeapBytes()
            let start = ContinuousClock.now
            try body()
            let seconds = (ContinuousClock.now - start).seconds
            results.append(BenchResult(name: name, opsPerSecond: 1 / seconds, nsPerOp: seconds * 1e9, seconds: seconds))
            let bytes = Double(max(0, liveHeapBytes() - heap))
            results.append(BenchResult(name: name.replacingOccurrences(of: ".load.", with: ".memory.")
                                           .replacingOccurrences(of: ".rules.", with: ".rules_memory.") + ".bytes",
                                       opsPerSecond: 0, nsPerOp: bytes, seconds: 0))
        }
        do {
            var one = Dataplane(cluster: cluster)
            try timed("dataplane.load.1node") { try one.loadRules(ofNodes: [1]) }
            var every = Dataplane(cluster: cluster)
            try timed("dataplane.load.\(cluster.nodes.count)nodes") { try every.loadRules(ofNodes: all) }
            withExtendedLifetime((one, every)) {}
        }
        do {
            let one = Dataplane(cluster: cluster)
            var kept: [Ruleset?] = []
            try timed("dataplane.rules.1node") { kept.append(try one.nodes[1].netfilterRuleset(for: .ipv4)) }
            let every = Dataplane(cluster: cluster)
            try timed("dataplane.rules.\(cluster.nodes.count)nodes") {
                for i in all { kept.append(try every.nodes[i].netfilterRuleset(for: .ipv4)) }
            }
            withExtendedLifetime((one, every, kept)) {}
        }
        return results
    }

    /// The resident memory (/proc/self/statm) once glibc has handed back what it can
    /// (`malloc_trim(0)`, found with `dlsym`: the Glibc module leaves malloc.h out), so that
    /// differences count what stays live.
    static func liveHeapBytes() -> Int {
        typealias Trim = @convention(c) (Int) -> Int32
        if let trim = dlsym(nil, "malloc_trim") { _ = unsafeBitCast(trim, to: Trim.self)(0) }
        return ReplayBench.residentBytes()
    }
}
