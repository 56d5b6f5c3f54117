import Foundation
import Testing
import TestSupport

/// `kdp cluster -o dot|svg|mermaid`: the pictures of the demo, the HA topology and a generated
/// 50-pod cluster are valid for Graphviz and Mermaid and hold every node, pod, Service and
/// endpoint arrow.
@Suite struct ClusterPictureCommandTests {
    static let topologies = ["topologies/demo.yaml", "topologies/ha-cluster.yaml"]

    /// Graphviz must be there under CI (`make deps` installs it); elsewhere its checks skip.
    func graphvizAvailable() -> Bool {
        if installed("dot") { return true }
        #expect(!KernelCheck.isCI, "CI needs Graphviz's dot: scripts/install-deps.sh installs graphviz")
        print("skipping the Graphviz checks: dot is not installed")
        return false
    }

    func render(_ dot: String, format: String) throws -> (status: Int32, output: String) {
        let file = try temporaryFile(dot, name: "cluster.dot")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let out = file.deletingLastPathComponent().appendingPathComponent("cluster.\(format)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["dot", "-T\(format)", file.path, "-o", out.path]
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        // Graphviz writes '-' in text as an entity.
        let svg = ((try? String(contentsOf: out, encoding: .utf8)) ?? "").replacingOccurrences(of: "&#45;", with: "-")
        return (p.terminationStatus, svg)
    }

    /// Pod keys and Service keys of a topology, from kdp's own JSON.
    func objects(_ topology: String) throws -> (nodes: [String], pods: [String], services: [String]) {
        let json = try kdp("cluster", "--topology", topology, "-o", "json").json
        let nodes = (json["nodes"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        let pods = (json["pods"] as? [[String: Any]] ?? []).compactMap { p in
            (p["namespace"] as? String).flatMap { ns in (p["name"] as? String).map { ns + "/" + $0 } }
        }
        let services = (json["services"] as? [[String: Any]] ?? []).compactMap { s in
            (s["namespace"] as? String).flatMap { ns in (s["name"] as? String).map { ns + "/" + $0 } }
        }
        return (nodes, pods, services)
    }

    @Test(arguments: topologies)
    func dotDrawsEveryNodePodAndServiceAndGraphvizAcceptsIt(_ topology: String) throws {
        let r = try kdp("cluster", "--topology", topology, "-o", "dot")
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("digraph cluster {"))
        let (nodes, pods, services) = try objects(topology)
        #expect(!pods.isEmpty && !services.isEmpty)
        for n in nodes { #expect(r.stdout.contains("label=\"\(n) ("), "node \(n)") }
        for p in pods { #expect(r.stdout.contains("label=\"\(p)\\n"), "pod \(p)") }
        for s in services { #expect(r.stdout.contains("label=\"\(s)\\n"), "service \(s)") }
        #expect(r.stdout.contains("subgraph cluster_services"))
        #expect(r.stdout.contains("subgraph cluster_controlplane"))
        guard graphvizAvailable() else { return }
        let svg = try render(r.stdout, format: "svg")
        #expect(svg.status == 0)
        #expect(svg.output.contains("<svg"))
        // Graphviz drew a group per node (its title is the node's name and role).
        for n in nodes { #expect(svg.output.contains(">\(n) ("), "node \(n) in the SVG") }
    }

    @Test func theHAControlPlaneShowsTheAPIServersBehindKubernetesDefault() throws {
        let r = try kdp("cluster", "--topology", "topologies/ha-cluster.yaml", "-o", "dot")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        func id(of label: String) -> String? {
            lines.first { $0.contains("[label=\"\(label)\\n") }?.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init)
        }
        let kubernetes = try #require(id(of: "default/kubernetes"))
        let apiservers = (1...3).compactMap { id(of: "kube-system/kube-apiserver-master-\($0)") }
        #expect(apiservers.count == 3)
        for a in apiservers { #expect(lines.contains { $0.hasPrefix("  \(kubernetes) -> \(a) [") }, "kubernetes → \(a)") }
        // The ports are said once per Service, on its first arrow.
        #expect(lines.filter { $0.hasPrefix("  \(kubernetes) -> ") && $0.contains("xlabel=\"443→6443/TCP\"") }.count == 1)
        // etcd is drawn in each control-plane node, on the host's network.
        #expect(lines.filter { $0.contains("kube-system/etcd-master-") && $0.contains("hostNetwork") }.count == 3)
        // The not-ready pod's arrow is dashed and says so.
        #expect(lines.contains { $0.contains("(not ready)") && $0.contains("style=dashed") })
        // The overlay is named on the network.
        #expect(r.stdout.contains("VXLAN overlay (flannel.1)"))
    }

    @Test func fiftyPodsStayInColumnsOnePerNode() throws {
        let generated = try kdp("generate", "--nodes", "5", "--pods-per-node", "10", "--services", "15")
        let file = try temporaryFile(generated.stdout)
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let r = try kdp("cluster", "--topology", file.path, "-o", "dot")
        #expect(r.status == 0)
        let (_, pods, _) = try objects(file.path)
        #expect(pods.count >= 50)
        guard graphvizAvailable() else { return }
        // Laid out, the picture is wider than tall at most about three to one either way: the
        // nodes stand side by side, each a column of its pods.
        let svg = try render(r.stdout, format: "svg")
        #expect(svg.status == 0)
        let size = svg.output.firstMatch(of: /<svg width="(\d+)pt" height="(\d+)pt"/)
        let width = Double(size.map { String($0.1) } ?? "0") ?? 0, height = Double(size.map { String($0.2) } ?? "0") ?? 0
        #expect(width > 0 && height > 0)
        #expect(width / height < 3 && height / width < 3, "\(width) × \(height)")
    }

    @Test(arguments: topologies)
    func mermaidIsAFlowchartWhoseEdgesJoinDeclaredBoxes(_ topology: String) throws {
        let r = try kdp("cluster", "--topology", topology, "-o", "mermaid")
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("---\ntitle: \""))
        #expect(r.stdout.contains("\n---\nflowchart LR\n"))
        let lines = r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.filter { $0.hasPrefix("subgraph ") }.count == lines.filter { $0 == "end" }.count)
        // Every line is one of the flowchart statements Mermaid's grammar has, in the forms kdp
        // writes: front matter, the header, subgraph/end, a shaped box with a quoted label and a
        // class, an edge with an optional quoted label, a classDef.
        let label = #"(?:[^"]|#quot;)*"#
        let statements = [
            #"^---$"#, #"^title: "[^"]*"$"#, #"^flowchart LR$"#, #"^end$"#,
            #"^subgraph [a-z0-9]+\[""# + label + #""\]$"#,
            #"^[a-z]+[0-9]*h?(\[""# + label + #""\]|\(""# + label + #""\)|\[\[""# + label + #""\]\]|>""# + label + #""\]|\[\(""# + label + #""\)\]):::[a-z]+$"#,
            #"^[a-z]+[0-9]*h? (-->|-\.->|===)(\|""# + label + #""\|)? [a-z]+[0-9]*h?$"#,
            #"^classDef [a-z]+ [a-z\-]+:[#a-z0-9]+(,[a-z\-]+:[#a-z0-9 ]+)*$"#,
        ].map { try! Regex($0) }
        for l in lines { #expect(statements.contains { l.wholeMatch(of: $0) != nil }, "not a statement kdp writes: \(l)") }
        // Every box is declared once; every edge joins declared boxes.
        var declared = Set<String>()
        for l in lines {
            if let m = l.firstMatch(of: /^([a-z]+[0-9]+h?)[\[\(>]/) { #expect(declared.insert(String(m.1)).inserted, "\(m.1) declared twice") }
        }
        declared.insert("net")
        var edges = 0
        for l in lines {
            guard let m = l.firstMatch(of: /^([a-z]+[0-9]*h?) (-->|-\.->|===)(\|"[^"]*"\|)? ([a-z]+[0-9]*h?)$/) else { continue }
            edges += 1
            #expect(declared.contains(String(m.1)) && declared.contains(String(m.4)), "\(l)")
        }
        #expect(edges > 0)
        // Labels never hold a raw quote: Mermaid would end the label there.
        for l in lines where l.contains("[\"") || l.contains("(\"") {
            let inner = l.drop { $0 != "\"" }.dropFirst().prefix { $0 != "\"" }
            #expect(!inner.isEmpty)
        }
        let (_, pods, services) = try objects(topology)
        for p in pods { #expect(r.stdout.contains("\"\(p)<br/>"), "pod \(p)") }
        for s in services { #expect(r.stdout.contains("[[\"\(s)<br/>"), "service \(s)") }
    }

    @Test func svgGoesThroughGraphviz() throws {
        guard graphvizAvailable() else { return }
        let r = try kdp("cluster", "-o", "svg")
        #expect(r.status == 0)
        #expect(r.stdout.contains("<svg") && r.stdout.replacingOccurrences(of: "&#45;", with: "-").contains("default/web-0"))
    }
}
