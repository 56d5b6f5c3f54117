import ArgumentParser
import Cluster
import Wire

/// `kdp routes`: a node's (or pod's) routing table as `ip route` prints it.
struct RoutesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routes",
        abstract: "Show a node's or a pod's routing table, as `ip route` would.")

    @OptionGroup var topology: TopologyOptions
    @Option(help: "The node whose namespace to show.") var node: String?
    @Option(help: "A pod, as NS/NAME or NAME (namespace default).") var pod: String?
    @Option(name: .shortAndLong, help: "text or json.") var output: OutputFormat = .text

    struct RouteOut: Encodable {
        var family: String
        var destination: String
        var gateway: String?
        var dev: String
        var proto: String?
        var scope: String?
        var src: String?
        var onlink: Bool
        var text: String
    }

    struct InterfaceOut: Encodable {
        var name: String
        var kind: String
        var addresses: [String]
    }

    struct Report: Encodable {
        var node: String?
        var pod: String?
        var interfaces: [InterfaceOut]
        var routes: [RouteOut]
    }

    func validate() throws {
        if (node == nil) == (pod == nil) { throw ValidationError("give exactly one of --node NAME or --pod NS/NAME") }
        if let text = pod, NamespacedName(parsing: text) == nil {
            throw ValidationError("--pod takes NS/NAME or NAME, not \"\(Excerpt.quote(text))\"")
        }
    }

    func run() throws {
        let cluster = try topology.cluster()
        let interfaces: [NetworkInterface]
        let routes: [IPRoute]
        var report = Report(node: nil, pod: nil, interfaces: [], routes: [])
        if let name = node {
            let n = try cluster.requireNode(named: name)
            let net = NodeNetwork(node: n, in: cluster)
            (interfaces, routes) = (net.interfaces, net.routes)
            report.node = name
        } else {
            let text = pod!
            guard let ref = NamespacedName(parsing: text) else { throw InputError("--pod takes NS/NAME or NAME, not \"\(Excerpt.quote(text))\"") }
            let p = try cluster.requirePod(ref)
            if p.nodeName == nil, let why = p.pendingReason { throw InputError("--pod \(text): \(why): it has no network namespace") }
            guard let net = PodNetwork(pod: p, in: cluster) else {
                throw InputError("pod \(ref) uses the host network: see kdp routes --node \(p.nodeName ?? "?")")
            }
            (interfaces, routes) = (net.interfaces, net.routes)
            report.pod = ref.description
        }
        report.interfaces = interfaces.map { i in
            InterfaceOut(name: i.name, kind: i.kind.rawValue, addresses: i.addresses.map { "\($0.0)/\($0.1)" })
        }
        report.routes = routes.map { r in
            RouteOut(family: r.family.rawValue, destination: r.destination?.description ?? "default", gateway: r.gateway?.description,
                     dev: r.device, proto: r.proto, scope: r.scopeLink ? "link" : nil, src: r.source?.description,
                     onlink: r.onlink, text: r.description)
        }
        switch output {
        case .json: Console.out(Render.json(report))
        case .yaml: Console.out(Render.yaml(report))
        case .text:
            var lines: [String] = []
            let v4 = routes.filter { $0.family == .ipv4 }, v6 = routes.filter { $0.family == .ipv6 }
            if !v4.isEmpty { lines.append("$ ip route"); lines += v4.map(\.description) }
            if !v6.isEmpty { lines.append("$ ip -6 route"); lines += v6.map(\.description) }
            Console.out(lines.joined(separator: "\n"))
        }
    }
}
