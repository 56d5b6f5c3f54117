import ArgumentParser
import Cluster

/// `kdp resolve`: what cluster DNS answers a pod.
struct ResolveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Resolve a name as a pod's resolver would against cluster DNS (CoreDNS).")

    @OptionGroup var topology: TopologyOptions
    @Argument(help: "A name: web, web.default, web.default.svc.cluster.local, _http._tcp.web..., 10-244-1-5.default.pod.cluster.local")
    var name: String
    @Option(name: [.customShort("n"), .long], help: "The asking pod's namespace.") var namespace: String = "default"
    @Option(name: .shortAndLong, help: "text or json.") var output: OutputFormat = .text

    func run() throws {
        let cluster = try topology.cluster()
        let answer = ClusterDNS(cluster: cluster).resolve(name, namespace: namespace)
        switch output {
        case .json: Console.out(Render.json(answer))
        case .yaml: Console.out(Render.yaml(answer))
        case .text:
            var lines = [";; \(name) from namespace \(namespace): \(answer.rcode)"]
            lines += answer.tried.map { ";; tried \($0)" }
            lines += answer.records.map { "\($0.name)\t\($0.ttl)\tIN\t\($0.type)\t\($0.data)" }
            if answer.rcode == "NOERROR" && answer.records.isEmpty { lines.append(";; no records (the name exists, e.g. a headless Service with no ready endpoints)") }
            Console.out(lines.joined(separator: "\n"))
        }
        if answer.rcode != "NOERROR" { throw ExitCode(1) }
    }
}
