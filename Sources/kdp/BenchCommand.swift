import ArgumentParser
import Bench
import Cluster
import Foundation
import Wire

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
    @Flag(help: "Measure kdp replay instead: a generated capture over a 1,000-Service cluster, beside tcpdump -r FILE -w /dev/null.")
    var replay = false
    @Flag(help: "Measure kdp verify instead: the embedded demo, topologies/ha-cluster.yaml, and generated clusters (--verify-nodes).")
    var verify = false
    @Option(help: "Node counts of the generated clusters kdp verify is measured on (30 pods per node, 10 Services per node, at most 1000).")
    var verifyNodes: String = "10,30,100"
    @Option(help: "Packets in the replay benchmark's capture.") var replayPackets: Int = 1_000_000
    @Option(help: "Flows in the replay benchmark's capture.") var replayFlows: Int = 1_000

    /// The Service counts to run: the sweep, or the one --services.
    var serviceCounts: [Int] {
        if let sweep { return sweep.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        return plot != nil ? [1000, 5000, 10_000, 30_000] : [services]
    }

    /// Bounds on the workload, stated in `--help`'s terms: a cluster that fits the generated
    /// Service range and pod CIDR, and a connection table that fits in memory (each connection
    /// costs about 200 bytes: its entry, index slot, timer record and packet; 10 million is about
    /// 2 GiB; 2^31 asked for 160 GiB).
    static let maximumServices = 900_000
    static let maximumEndpointsPerService = 1_000
    static let maximumConnections = 10_000_000

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
        for n in serviceCounts {
            try FlagValue.count(n, flag: sweep == nil ? "--services" : "--sweep", 1...Self.maximumServices, why: "the generated 10.96.0.0/12 Service range")
        }
        try FlagValue.count(endpointsPerService, flag: "--endpoints-per-service", 1...Self.maximumEndpointsPerService)
        try FlagValue.count(connections, flag: "--connections", 1...Self.maximumConnections, why: "about 200 bytes of memory each")
        for n in serviceCounts {
            try BenchCluster.spec(services: n, endpointsPerService: endpointsPerService, seed: seed).validate()
        }
        if let plot { try PlotFile.checkWritable(plot) }
    }

    func run() throws {
        if replay { return try runReplay() }
        if verify { return try runVerify() }
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
            try PlotFile.write(svg, to: plot)
        }
        let flatness = BenchRatio.sweep(reports)
        switch output {
        case .json:
            if reports.count == 1 { Console.out(Render.json(reports[0])) } else { Console.out(Render.json(BenchSweep(runs: reports, sweep: flatness))) }
        default:
            var out = reports.map(text).joined(separator: "\n\n")
            if !flatness.isEmpty {
                out += "\n\n" + Render.table(["SWEEP RATIO (NS/OP)", "VALUE", "TARGET", "MET"], flatness.map {
                    [$0.name, String(format: "%.2f", $0.value), $0.target, $0.met ? "yes" : "no"]
                })
            }
            Console.out(out + (plot.map { "\n\nplot written to \($0)" } ?? ""))
        }
    }

    /// `replay.*`: packets/s, the ratio to tcpdump's rate on the same file, new flows/s and
    /// peak memory against the file's size.
    func runReplay() throws {
        try FlagValue.count(replayPackets, flag: "--replay-packets", 1...50_000_000)
        try FlagValue.count(replayFlows, flag: "--replay-flows", 1...1_000_000)
        let f = try ReplayBench.measure(services: 1_000, flows: replayFlows, packets: replayPackets, seed: seed)
        if output == .json { return Console.out(Render.json(f)) }
        var lines = ["kdp bench --replay: \(f.packets) packets, \(f.flows) flows, \(f.services) Services (\(f.fileBytes / 1_000_000) MB capture)"]
        lines.append(Render.table(["NAME", "VALUE"], [
            ["replay.packets_per_s", String(format: "%.0f", f.packetsPerSecond)],
            ["tcpdump.packets_per_s", f.tcpdumpPacketsPerSecond.map { String(format: "%.0f", $0) } ?? "tcpdump not found"],
            ["replay.vs_tcpdump", f.vsTCPDump.map { String(format: "%.3f (target >= 0.5)", $0) } ?? "-"],
            ["replay.new_flows_per_s", String(format: "%.0f (target >= 100000)", f.newFlowsPerSecond)],
            ["replay.max_rss_bytes", "\(f.maxResidentBytes) (capture file \(f.fileBytes))"],
            ["replay.rss_halfway_bytes", "\(f.residentHalfwayBytes) (a capture of twice the packets, same flows, at its half)"],
            ["replay.rss_end_bytes", "\(f.residentEndBytes) (and at its end)"],
        ]))
        Console.out(lines.joined(separator: "\n"))
    }

    /// `verify.*`: seconds, classes and memory of `kdp verify` on the shipped clusters and on
    /// generated ones (30 pods and 10 Services per node, up to 1,000 Services), against the
    /// targets: the shipped ones well under a second, 100 nodes / 3,000 pods / 1,000 Services in
    /// at most 10 s.
    func runVerify() throws {
        let counts = try verifyNodes.split(separator: ",").map { part throws(InputError) -> Int in
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), (2...5_000).contains(n) else {
                throw InputError("--verify-nodes: \(Excerpt.quote(String(part))) is not a node count of 2-5000")
            }
            return n
        }
        var runs: [VerifyBench.Run] = []
        runs.append(try VerifyBench.measure(ClusterBuilder.build(TopologyLoader.load(paths: [])), name: "verify.demo"))
        if FileManager.default.fileExists(atPath: "topologies/ha-cluster.yaml") {
            runs.append(try VerifyBench.measure(ClusterBuilder.load(paths: ["topologies/ha-cluster.yaml"]), name: "verify.ha-cluster"))
        }
        for n in counts {
            let cluster = try VerifyBench.generated(nodes: n, podsPerNode: 30, services: min(10 * n, 1_000))
            runs.append(try VerifyBench.measure(cluster, name: "verify.generated.\(n)nodes"))
        }
        if output == .json { return Console.out(Render.json(["runs": runs])) }
        var lines = ["kdp bench --verify: every invariant; generated clusters have 30 pods and 10 Services (at most 1,000) per node, 3 endpoints each"]
        lines.append(Render.table(["NAME", "NODES", "PODS", "SERVICES", "CLASSES", "SECONDS", "US/CLASS", "LOAD S", "RSS MB", "HOLDS"], runs.map { r in
            var seconds = String(format: "%.3f", r.seconds)
            if r.name == "verify.demo" || r.name == "verify.ha-cluster" { seconds += " (target < 1)" }
            if r.nodes == 100 && r.pods == 3_000 && r.services >= 1_000 { seconds += " (target <= 10)" }
            return [r.name, "\(r.nodes)", "\(r.pods)", "\(r.services)", "\(r.classes)", seconds, String(format: "%.0f", r.microsecondsPerClass),
                    String(format: "%.2f", r.loadSeconds), "\(r.residentBytes / 1_000_000)", r.holds ? "yes" : "no"]
        }))
        Console.out(lines.joined(separator: "\n"))
    }

    func text(_ report: BenchReport) -> String {
        let w = report.workload
        var text = "kdp bench: \(w.services) services × \(w.endpointsPerService) endpoints, \(w.connections) connections, seed \(w.seed)"
        text += " (\(w.iptablesRules) iptables rules on one node)\n"
        text += Render.table(["NAME", "NS/OP", "OPS/S", "SECONDS"], report.results.map {
            [$0.name, String(format: "%.1f", $0.nsPerOp), String(format: "%.3g", $0.opsPerSecond), String(format: "%.4f", $0.seconds)]
        })
        if !report.ratios.isEmpty {
            text += "\n\n" + Render.table(["RATIO (NS/OP)", "VALUE", "TARGET", "MET"], report.ratios.map {
                [$0.name, String(format: "%.2f", $0.value), $0.target, $0.met ? "yes" : "no"]
            })
        }
        return text
    }
}

/// `bench --plot PATH`: checked before the sweep (the folder exists and kdp may create files in
/// it; the path is not a folder), then written to a temporary file in that folder and renamed
/// over PATH, so a failed write never leaves half a plot.
enum PlotFile {
    static func folder(of path: String) -> String {
        let dir = (path as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }

    static func checkWritable(_ path: String) throws(InputError) {
        let dir = folder(of: path)
        guard InputFile.isFolder(dir) else { throw InputError("--plot: the folder \(Excerpt.quote(dir)) does not exist") }
        guard access(dir, W_OK | X_OK) == 0 else {
            throw InputError("--plot: cannot write in \(Excerpt.quote(dir)): \(InputFile.reason(errno: errno))")
        }
        if InputFile.isFolder(path) { throw InputError("--plot: \(Excerpt.quote(path)) is a folder; give a file name ending in .svg") }
    }

    static func write(_ text: String, to path: String) throws(InputError) {
        let temporary = (folder(of: path) as NSString).appendingPathComponent(".\((path as NSString).lastPathComponent).\(getpid()).tmp")
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else {
                let reason = InputFile.reason(errno: errno)
                unlink(temporary)
                throw InputError("--plot: cannot write \(Excerpt.quote(path)): \(reason)")
            }
        } catch let e as InputError {
            throw e
        } catch {
            unlink(temporary)
            throw InputError("--plot: cannot write \(Excerpt.quote(path)): \(InputFile.reason(errno: EACCES))")
        }
    }
}

/// `kdp bench --sweep … -o json`: every run, then the sweep's flatness ratios.
struct BenchSweep: Encodable {
    var runs: [BenchReport]
    var sweep: [BenchRatio]
}
