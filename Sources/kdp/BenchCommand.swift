import ArgumentParser
import Bench
import Cluster
import Foundation

/// `kdp bench`: rule lookup and scheduling speeds on one generated cluster, in one process so
/// the ratios hold on a noisy machine. Release builds only give meaningful figures. The
/// measuring is `Bench.ClusterBench`'s; this command parses the flags and prints.
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
        let reports = try serviceCounts.map {
            try ClusterBench.measure(services: $0, endpointsPerService: endpointsPerService, connections: connections, seed: seed)
        }
        if let plot {
            let names = reports[0].results.map(\.name).filter { !$0.hasPrefix("compile.") }
            let series = names.map { name in
                SVGPlot.Series(name: name, points: reports.compactMap { r in
                    r.results.first { $0.name == name }.map { (x: Double(r.workload.services), y: $0.nsPerOp) }
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

    func text(_ report: BenchReport) -> String {
        let w = report.workload
        var text = "kdp bench: \(w.services) services × \(w.endpointsPerService) endpoints, \(w.connections) connections, seed \(w.seed)"
        text += " (\(w.iptablesRules) iptables rules on one node)\n"
        text += Render.table(["NAME", "NS/OP", "OPS/S", "SECONDS"], report.results.map {
            [$0.name, String(format: "%.1f", $0.nsPerOp), String(format: "%.3g", $0.opsPerSecond), String(format: "%.4f", $0.seconds)]
        })
        return text
    }
}
