import ArgumentParser
import Cluster
import Foundation
import IPVS
import KubeProxy

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

    func validate() throws {
        guard services >= 1, endpointsPerService >= 1, connections >= 1 else {
            throw ValidationError("--services, --endpoints-per-service and --connections must be at least 1")
        }
        if output == .yaml { throw ValidationError("bench prints text or json") }
    }

    func run() throws {
        // The cluster: enough pods for every Service to have its endpoints, spread over 10 nodes.
        let nodes = 10
        let podsPerNode = max(1, (endpointsPerService * min(services, 5_000) + nodes - 1) / nodes)
        let spec = TopologyGenerator.Spec(nodes: nodes, podsPerNode: podsPerNode, services: services,
                                          endpointsPerService: endpointsPerService, seed: seed)
        try spec.validate()
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: TopologyGenerator.text(spec), file: "generated"))
        let node = cluster.nodes[1]
        let config = ProxierConfig.forNode(node, in: cluster, family: .ipv4)

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

        for r in IPVSBench.run(services: services, endpoints: endpointsPerService, connections: connections, seed: seed) {
            results.append(Result(name: r.name, ops_per_second: r.opsPerSecond, ns_per_op: r.nsPerOp, seconds: r.seconds))
        }
        let report = Report(
            workload: Workload(services: services, endpoints_per_service: endpointsPerService, connections: connections,
                               seed: seed, nodes: nodes, iptables_rules: ruleCount),
            results: results)
        switch output {
        case .json: Console.out(Render.json(report))
        default:
            var text = "kdp bench: \(services) services × \(endpointsPerService) endpoints, \(connections) connections, seed \(seed)"
            text += " (\(ruleCount) iptables rules on \(node.name))\n"
            text += Render.table(["NAME", "NS/OP", "OPS/S", "SECONDS"], results.map {
                [$0.name, String(format: "%.1f", $0.ns_per_op), String(format: "%.3g", $0.ops_per_second), String(format: "%.4f", $0.seconds)]
            })
            Console.out(text)
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
