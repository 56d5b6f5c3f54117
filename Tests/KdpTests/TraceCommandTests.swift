import Foundation
import Testing

/// Whether a tool is on PATH.
func installed(_ tool: String) -> Bool {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", "command -v \(tool) >/dev/null"]
    try? p.run()
    p.waitUntilExit()
    return p.terminationStatus == 0
}

@Suite struct TraceCommandTests {
    @Test func theDemoTraceTellsTheWholeStory() throws {
        let r = try kdp("trace", "--from", "pod/default/client", "--to", "service/default/web:80")
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("trace tcp 10.244.1.2:"))
        #expect(r.stdout.contains("pod default/client eth0 → veth → cni0 on node worker-1"))
        #expect(r.stdout.contains("KUBE-SERVICES"))
        #expect(r.stdout.contains("verdict: delivered; to pod/default/"))
        #expect(r.stdout.contains("the reply reaches the client from 10.105.17.17:80, as it expects"))
    }

    @Test func jsonFollowsTheTraceSchemaWithAReply() throws {
        let r = try kdp("trace", "--from", "pod/default/client", "--to", "service/default/web:80", "-o", "json")
        #expect(r.status == 0)
        let packet = try #require(r.json["packet"] as? [String: Any])
        for key in ["src", "sport", "dst", "dport", "proto", "mark", "in_iface", "out_iface"] { #expect(packet.keys.contains(key), "packet.\(key)") }
        let paths = try #require(r.json["paths"] as? [[String: Any]])
        #expect(paths.count == 1)
        let path = paths[0]
        for key in ["probability", "verdict", "dnat", "masquerade", "snat", "decided_by", "delivered_to", "steps", "reply"] {
            #expect(path.keys.contains(key), "path.\(key)")
        }
        #expect(path["verdict"] as? String == "delivered")
        #expect((path["dnat"] as? String)?.hasSuffix(":8080") == true)
        let step = try #require((path["steps"] as? [[String: Any]])?.first { $0["kind"] as? String == "netfilter" })
        for key in ["node", "hook", "table", "chain", "rule", "text", "action", "packet"] { #expect(step.keys.contains(key), "step.\(key)") }
        let reply = try #require(path["reply"] as? [String: Any])
        #expect(reply["verdict"] as? String == "delivered")
        #expect(reply["reached_client"] as? Bool == true)
    }

    @Test func allPathsGivesOnePathPerEndpoint() throws {
        let r = try kdp("trace", "--from", "pod/default/client", "--to", "service/default/web:http", "--all-paths", "-o", "json")
        let paths = try #require(r.json["paths"] as? [[String: Any]])
        #expect(paths.count == 3)
        #expect(paths.allSatisfy { abs(($0["probability"] as? Double ?? 0) - 1.0 / 3) < 1e-9 })
    }

    @Test func dotIsAcceptedByGraphviz() throws {
        let r = try kdp("trace", "--from", "pod/default/client", "--to", "service/default/web:80", "--all-paths", "-o", "dot")
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("digraph trace {"))
        guard installed("dot") else { print("skipping the Graphviz check: dot is not installed"); return }
        let svg = try kdp("trace", "--from", "pod/default/client", "--to", "service/default/web:80", "-o", "svg")
        #expect(svg.status == 0)
        #expect(svg.stdout.contains("<svg"))
    }

    @Test func mermaidIsASequenceDiagram() throws {
        let r = try kdp("trace", "--from", "pod/default/client", "--to", "service/default/web:80", "-o", "mermaid")
        #expect(r.stdout.hasPrefix("sequenceDiagram\n  participant p0 as pod/default/client\n"))
        #expect(r.stdout.contains("->>") && r.stdout.contains("-->>"))
        guard installed("mmdc") else { print("skipping the Mermaid check: mmdc (mermaid-cli) is not installed"); return }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-mmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try r.stdout.write(to: dir.appendingPathComponent("t.mmd"), atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "mmdc -i \(dir.path)/t.mmd -o \(dir.path)/t.svg"]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    @Test func badFormsExitTwoAndSayWhatExists() throws {
        let pod = try kdp("trace", "--from", "pod/default/ghost", "--to", "service/default/web:80")
        #expect(pod.status == 2)
        #expect(pod.stderr == "kdp: no pod default/ghost; pods in default: client, web-0, web-1, web-2\n")
        let port = try kdp("trace", "--from", "pod/default/client", "--to", "service/default/web:443")
        #expect(port.status == 2)
        #expect(port.stderr.contains("its ports: http (80/TCP)"))
        #expect(try kdp("trace", "--from", "pod/default/client", "--to", "service/kube-system/kube-dns").stderr.contains("has 3 ports; name one"))
        #expect(try kdp("trace", "--from", "pod/default/client").status == 2)
        #expect(try kdp("trace", "--from", "external/1.2.3.4", "--to", "10.96.0.10:53", "--via", "worker-1").status == 2)
    }

    @Test func repeatShowsAffinityInOneRun() throws {
        let r = try kdp("trace", "--from", "pod/default/client", "--to", "service/default/web-sticky:80", "--repeat-count", "3", "-o", "json")
        #expect(r.status == 0)
        let runs = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [[String: Any]] ?? []
        let endpoints = runs.compactMap { (($0["paths"] as? [[String: Any]])?.first?["delivered_to"]) as? String }
        #expect(endpoints.count == 3 && Set(endpoints).count == 1)
    }

    @Test func anIPVSModeClusterIsTracedThroughIPVSUnlessToldOtherwise() throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("topologies/demo.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "mode: iptables", with: "mode: ipvs")
        let file = try temporaryFile(text)
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        func tables(_ r: KdpResult) throws -> Set<String> {
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let path = try #require((json["paths"] as? [[String: Any]])?.first)
            return Set((path["steps"] as? [[String: Any]] ?? []).compactMap { $0["table"] as? String })
        }
        let ipvs = try kdp("trace", "--topology", file.path, "--from", "pod/default/client", "--to", "service/default/web:80", "-o", "json")
        #expect(ipvs.status == 0)
        #expect(try tables(ipvs).contains("ipvs"))
        let asIPTables = try kdp("trace", "--topology", file.path, "--from", "pod/default/client", "--to", "service/default/web:80",
                                 "--proxy-mode", "iptables", "-o", "json")
        #expect(asIPTables.status == 0)
        #expect(try !tables(asIPTables).contains("ipvs"))
        // The flag works the other way too, with a scheduler of the user's choice.
        let sh = try kdp("trace", "--from", "pod/default/client", "--to", "service/default/web:80", "--proxy-mode", "ipvs", "--ipvs-scheduler", "sh")
        #expect(sh.status == 0)
        #expect(sh.stdout.contains("scheduler: sh: hash of the source address → bucket "))
        let diagram = try kdp("trace", "--from", "pod/default/client", "--to", "service/default/web:80", "--proxy-mode", "ipvs", "-o", "mermaid")
        #expect(diagram.stdout.contains("Note over p1: IPVS masq 10.105.17.17:80 → 10.244.2.3:8080"))
        #expect(diagram.stdout.contains("Note over p1: IPVS reply: source 10.244.2.3:8080 → 10.105.17.17:80"))
        let bad = try kdp("trace", "--from", "pod/default/client", "--to", "service/default/web:80", "--proxy-mode", "ipvs", "--ipvs-scheduler", "fifo")
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--ipvs-scheduler: \"fifo\" is not a scheduler kdp emulates (rr, wrr, lc"))
    }
}
