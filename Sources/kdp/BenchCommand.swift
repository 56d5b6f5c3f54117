import ArgumentParser
import Cluster
import Dataplane
import Netfilter
import Foundation
import IPVS
import KubeProxy
import Wire

/// `kdp bench`: rule lookup and scheduling speeds on one generated cluster, in one process so
/// the ratios hold on a noisy machine. Release builds only give meaningful figures.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure kube-proxy compilation, iptables lookup and IPVS scheduling on a generated cluster.")

    @Option(help: "Services in the generated cluster.") var services: Int = 10_000
    @Option(help: "Endpoints per Service.") var endpointsPerService: Int = 2
    @Option(help: "Connections for the established-lookup measurement.") var connections: Int = 1_000_000
    @Option(help: "Seed for the generated cluster and traffic.") var seed: UInt64 = 1
    @Option(name: .shortAndLong, help: "text or json.") var output: OutputFormat = .text
    @Option(help: "Run once per Service count (comma-separated), e.g. 1000,5000,10000,30000.") var sweep: String?
    @Option(help: "Draw ns/op against the number of Services as SVG (sweeps 1000,5000,10000,30000 unless --sweep is given).")
    var plot: String?

    struct Result: Encodable {
        var name: String
        var ops_per_second: Double
        var ns_per_op: Double
        var seconds: Double
    }

    struct Workload: Encodable {
        var services: Int
        var endpoints_per_service: Int
        var connections: Int
        var seed: UInt64
        var nodes: Int
        var iptables_rules: Int
    }

    struct Report: Encodable {
        var workload: Workload
        var results: [Result]
    }

    /// The Service counts to run: the sweep, or the one --services.
    var serviceCounts: [Int] {
        if let sweep { return sweep.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        return plot != nil ? [1000, 5000, 10_000, 30_000] : [services]
    }

    func validate() throws {
        if let sweep {
            let parts = sweep.split(separator: ",", omittingEmptySubsequences: false)
            guard !parts.isEmpty, parts.allSatisfy({ Int($0.trimmingCharacters(in: .whitespaces)).map { $0 >= 1 } ?? false }) else {
                throw ValidationError("--sweep takes Service counts separated by commas, such as 1000,5000,10000")
            }
        }
        if let plot, !plot.hasSuffix(".svg") { throw ValidationError("--plot writes SVG: give a file name ending in .svg") }
        guard services >= 1, endpointsPerService >= 1, connections >= 1 else {
            throw ValidationError("--services, --endpoints-per-service and --connections must be at least 1")
        }
        if output == .yaml { throw ValidationError("bench prints text or json") }
    }

    func run() throws {
        let reports = try serviceCounts.map { try measure(services: $0) }
        if let plot {
            let names = reports[0].results.map(\.name).filter { !$0.hasPrefix("compile.") }
            let series = names.map { name in
                SVGPlot.Series(name: name, points: reports.compactMap { r in
                    r.results.first { $0.name == name }.map { (x: Double(r.workload.services), y: $0.ns_per_op) }
                })
            }
            let svg = SVGPlot.lineChart(
                title: "kdp bench: \(endpointsPerService) endpoints per Service, \(connections) connections",
                xLabel: "Services", yLabel: "ns per operation (log scale)", series: series)
            do { try svg.write(toFile: plot, atomically: true, encoding: .utf8) } catch {
                throw InputError("cannot write \(plot): \(error.localizedDescription)")
            }
        }
        switch output {
        case .json:
            if reports.count == 1 { Console.out(Render.json(reports[0])) } else { Console.out(Render.json(["runs": reports])) }
        default:
            Console.out(reports.map(text).joined(separator: "\n\n") + (plot.map { "\n\nplot written to \($0)" } ?? ""))
        }
    }

    func text(_ report: Report) -> String {
        let w = report.workload
        var text = "kdp bench: \(w.services) services × \(w.endpoints_per_service) endpoints, \(w.connections) connections, seed \(w.seed)"
        text += " (\(w.iptables_rules) iptables rules on one node)\n"
        text += Render.table(["NAME", "NS/OP", "OPS/S", "SECONDS"], report.results.map {
            [$0.name, String(format: "%.1f", $0.ns_per_op), String(format: "%.3g", $0.ops_per_second), String(format: "%.4f", $0.seconds)]
        })
        return text
    }

    /// One workload: a generated cluster of `services` Services, measured in this process.
    func measure(services: Int) throws -> Report {
        // Enough pods for every Service to have its endpoints, spread over 10 nodes.
        let nodes = 10
        let podsPerNode = max(1, (endpointsPerService * min(services, 5_000) + nodes - 1) / nodes)
        let spec = TopologyGenerator.Spec(nodes: nodes, podsPerNode: podsPerNode, services: services,
                                          endpointsPerService: endpointsPerService, seed: seed)
        try spec.validate()
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: TopologyGenerator.text(spec), file: "generated"))
        let config = ProxierConfig.forNode(cluster.nodes[1], in: cluster, family: .ipv4)

        var results: [Result] = []
        var ruleCount = 0
        // compile.iptables: one node's full sync, best of three.
        var best = Double.infinity
        for _ in 0..<3 {
            let start = ContinuousClock.now
            let ruleset = IPTablesCompiler.compile(cluster, config: config)
            best = min(best, (ContinuousClock.now - start).seconds)
            ruleCount = ruleset.filter.rules.count + ruleset.nat.rules.count
        }
        results.append(Result(name: "compile.iptables", ops_per_second: 1 / best, ns_per_op: best * 1e9, seconds: best))
        // iptables lookups: the first packet of a new connection to a random Service VIP, through
        // the node's rules (every hook), linear evaluation and the compiled fast path.
        let compiledRules = IPTablesCompiler.compile(cluster, config: config)
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
            let start = ContinuousClock.now
            for p in probes.prefix(count) { tried += tracer.trace(packet: p, host: host, options: options).paths[0].rulesTried }
            let seconds = (ContinuousClock.now - start).seconds
            results.append(Result(name: name, ops_per_second: Double(count) / seconds, ns_per_op: seconds * 1e9 / Double(count), seconds: seconds))
            if !compiled {
                results.append(Result(name: "lookup.iptables.linear.per_rule", ops_per_second: Double(tried) / seconds,
                                      ns_per_op: seconds * 1e9 / Double(max(tried, 1)), seconds: seconds))
            }
        }
        // Parsing the node's iptables-save text, per rule.
        let saveText = try compiledRules.saveText()
        let parseStart = ContinuousClock.now
        let parsed = try Ruleset.parse(text: saveText, file: "bench")
        let parseSeconds = (ContinuousClock.now - parseStart).seconds
        let parsedRules = parsed.tables.reduce(0) { $0 + $1.chains.reduce(0) { $0 + $1.rules.count } }
        results.append(Result(name: "parse.iptables.per_rule", ops_per_second: Double(parsedRules) / parseSeconds,
                              ns_per_op: parseSeconds * 1e9 / Double(max(parsedRules, 1)), seconds: parseSeconds))

        // The data plane: every node's rules loaded, then one packet and its reply, pod to Service,
        // each time a new connection (new source port) to a Service picked by the seed.
        var plane = Dataplane(cluster: cluster)
        let loadStart = ContinuousClock.now
        try plane.loadAllRules()
        let load = (ContinuousClock.now - loadStart).seconds
        results.append(Result(name: "dataplane.load", ops_per_second: 1 / load, ns_per_op: load * 1e9, seconds: load))
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
        results.append(Result(name: "trace.iptables", ops_per_second: Double(rounds) / traced, ns_per_op: traced * 1e9 / Double(rounds), seconds: traced))
        // The same packets through the same cluster with kube-proxy in IPVS mode (the rules,
        // ipsets and IPVS tables of every node loaded first, as above).
        var ipvsPlane = Dataplane(cluster: cluster.withKubeProxy { $0.mode = .ipvs })
        try ipvsPlane.loadAllRules()
        let ipvsStart = ContinuousClock.now
        for r in requests { _ = try ipvsPlane.trace(r) }
        let ipvsTraced = (ContinuousClock.now - ipvsStart).seconds
        results.append(Result(name: "trace.ipvs", ops_per_second: Double(rounds) / ipvsTraced, ns_per_op: ipvsTraced * 1e9 / Double(rounds), seconds: ipvsTraced))

        for r in IPVSBench.run(services: services, endpoints: endpointsPerService, connections: connections, seed: seed) {
            results.append(Result(name: r.name, ops_per_second: r.opsPerSecond, ns_per_op: r.nsPerOp, seconds: r.seconds))
        }
        return Report(
            workload: Workload(services: services, endpoints_per_service: endpointsPerService, connections: connections,
                               seed: seed, nodes: nodes, iptables_rules: ruleCount),
            results: results)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
