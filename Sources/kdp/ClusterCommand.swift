import ArgumentParser
import Cluster
import Wire

/// `kdp cluster`: the cluster after its controllers ran.
struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Show nodes (pod CIDRs), pods (IPs), services (cluster IPs, node ports) and endpoints.")

    @OptionGroup var topology: TopologyOptions
    @Option(name: .shortAndLong, help: "text, json or yaml.") var output: OutputFormat = .text

    func run() throws {
        let cluster = try topology.cluster()
        let report = ClusterReport(cluster)
        switch output {
        case .json: Console.out(Render.json(report))
        case .yaml: Console.out(Render.yaml(report))
        case .text: Console.out(report.text(cluster))
        }
    }
}
