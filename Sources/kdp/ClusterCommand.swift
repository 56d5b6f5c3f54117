import ArgumentParser
import Cluster
import Wire

/// `kdp cluster`: the cluster after its controllers ran.
struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Show nodes (pod CIDRs), pods (IPs), services (cluster IPs, node ports) and endpoints, or draw them.")

    @OptionGroup var topology: TopologyOptions
    @Option(name: .shortAndLong, help: "text, json, yaml, or a picture: dot, svg (through Graphviz) or mermaid.")
    var output: Format = .text

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, yaml, dot, svg, mermaid
    }

    func run() throws {
        let cluster = try topology.cluster()
        switch output {
        case .json: Console.out(Render.json(ClusterReport(cluster)))
        case .yaml: Console.out(Render.yaml(ClusterReport(cluster)))
        case .text: Console.out(ClusterReport(cluster).text(cluster))
        case .dot: Console.out(ClusterPicture(cluster).dot)
        case .svg: Console.out(try Graphviz.svg(ClusterPicture(cluster).dot))
        case .mermaid: Console.out(ClusterPicture(cluster).mermaid)
        }
    }
}
