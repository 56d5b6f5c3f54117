import Foundation
import Testing
import TestSupport

/// `kdp trace -o dot|mermaid`: the pictures show where the packet was translated and by which
/// rule, end a refused path in red with its why-line, draw the reply dashed, and give every
/// path its probability with `--all-paths`.
@Suite struct TracePictureCommandTests {
    static let toWeb = ["trace", "--from", "pod/default/client", "--to", "service/default/web:80"]

    func lines(_ args: [String]) throws -> [String] {
        let r = try kdp(args)
        #expect(r.status == 0, "\(args): \(r.stderr)")
        return r.stdout.split(separator: "\n").map(String.init)
    }

    @Test func theDNATHopCarriesTheRewriteAndTheEndpointChain() throws {
        let dot = try lines(Self.toWeb + ["-o", "dot"])
        let hop = try #require(dot.first { $0.contains("DNAT 10.105.17.17:80 → 10.244.") })
        #expect(hop.hasPrefix("  p1_1 [label=\"worker-1\\nDNAT 10.105.17.17:80 → 10.244."))
        #expect(hop.contains(":8080 (KUBE-SEP-"))
        // conntrack applying the same binding is not drawn twice.
        #expect(!dot.contains { $0.contains("NAT reapplied") })
        let mermaid = try lines(Self.toWeb + ["-o", "mermaid"])
        #expect(mermaid.contains { $0.hasPrefix("  Note over p1: DNAT 10.105.17.17:80 → 10.244.") && $0.contains("(KUBE-SEP-") })
    }

    @Test func masqueradeNamesTheAddressAndTheRule() throws {
        let dot = try lines(["trace", "--from", "external/198.18.0.9", "--to", "172.18.0.3:30080", "--via", "node/worker-1", "-o", "dot"])
        #expect(dot.contains { $0.contains("\\nmasquerade 198.18.0.9 → 10.244.1.1 (KUBE-POSTROUTING)") })
        #expect(dot.contains { $0.contains("DNAT 172.18.0.3:30080 → 10.244.1.3:8080 (KUBE-SEP-") })
    }

    @Test func aRejectedPathEndsInARedBoxWithItsWhy() throws {
        let args = ["trace", "--from", "pod/default/client", "--to", "service/default/web-canary:80"]
        let dot = try lines(args + ["-o", "dot"])
        #expect(dot.contains("  p1_end [label=\"rejected: default/web-canary (port http) has no endpoints\", fillcolor=\"#fde2e0\", color=\"#c0392b\"];"))
        #expect(dot.contains("  p1_1 -> p1_end [color=\"#c0392b\"];"))
        let mermaid = try lines(args + ["-o", "mermaid"])
        let band = try #require(mermaid.firstIndex(of: "  rect rgb(253, 226, 224)"))
        #expect(mermaid[band + 1] == "    Note over p1: rejected: default/web-canary (port http) has no endpoints")
        #expect(mermaid[band + 2] == "  end")
    }

    @Test func theReplyWalksBackDashedAndIsUnNATedWhereItWasTranslated() throws {
        let dot = try lines(Self.toWeb + ["-o", "dot"])
        let replyEdges = dot.filter { $0.contains("_r") && $0.contains(" -> ") || $0.contains("-> client [style=dashed") }
        #expect(!replyEdges.isEmpty)
        #expect(replyEdges.allSatisfy { $0.contains("style=dashed") })
        #expect(dot.contains { $0.contains("[label=\"worker-1\\nreply un-NATed by conntrack: source 10.244.") && $0.contains("→ 10.105.17.17:80\"") })
        #expect(dot.contains { $0.hasSuffix("-> client [style=dashed, color=\"#555555\", label=\"tcp 10.105.17.17:80 -> 10.244.1.2:48763\"];") })
        let mermaid = try lines(Self.toWeb + ["-o", "mermaid"])
        #expect(mermaid.last == "  p1-->>p0: tcp 10.105.17.17:80 -> 10.244.1.2:48763")
    }

    @Test func allPathsDrawsEveryEndpointWithItsProbability() throws {
        let dot = try lines(Self.toWeb + ["--all-paths", "-o", "dot"])
        for i in 1...3 { #expect(dot.contains { $0.hasPrefix("  client -> p\(i)_1 [label=\"path \(i) of 3, p = 0.3333\\n") }) }
        let endpoints = Set(dot.compactMap { $0.firstMatch(of: /DNAT 10\.105\.17\.17:80 → (10\.244\.\d+\.\d+):8080/).map { String($0.1) } })
        #expect(endpoints.count == 3)
        // Mermaid: one alt/else branch per path, each with its probability and its own DNAT.
        let mermaid = try lines(Self.toWeb + ["--all-paths", "-o", "mermaid"])
        #expect(mermaid.filter { $0.hasPrefix("  alt path 1 of 3, p = 0.3333") || $0.hasPrefix("  else path ") }.count == 3)
        #expect(Set(mermaid.compactMap { $0.firstMatch(of: /DNAT 10\.105\.17\.17:80 → (10\.244\.\d+\.\d+):8080/).map { String($0.1) } }).count == 3)
    }

    @Test func everyMermaidLineIsASequenceDiagramStatement() throws {
        let statements = [#"^sequenceDiagram$"#, #"^participant p[0-9]+ as [^\n]+$"#, #"^p[0-9]+(->>|-->>)p[0-9]+: [^;#]+$"#,
                          #"^Note over p[0-9]+: [^;#]+$"#, #"^rect rgb\(\d+, \d+, \d+\)$"#, #"^(alt|else) path \d+ of \d+, p = [0-9.]+$"#,
                          #"^end$"#].map { try! Regex($0) }
        for args in [Self.toWeb, Self.toWeb + ["--all-paths"], ["trace", "--from", "pod/default/client", "--to", "service/default/web-canary:80"],
                     Self.toWeb + ["--proxy-mode", "ipvs"]] {
            let lines = try self.lines(args + ["-o", "mermaid"]).map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(lines.filter { $0.hasPrefix("rect ") || $0.hasPrefix("alt ") }.count == lines.filter { $0 == "end" }.count)
            for l in lines { #expect(statements.contains { l.wholeMatch(of: $0) != nil }, "\(args): not a statement: \(l)") }
        }
    }

    @Test func graphvizAcceptsEveryTracePicture() throws {
        guard installed("dot") else {
            #expect(!KernelCheck.isCI, "CI needs Graphviz's dot: scripts/install-deps.sh installs graphviz")
            return
        }
        for args in [Self.toWeb, Self.toWeb + ["--all-paths"], ["trace", "--from", "pod/default/client", "--to", "service/default/web-canary:80"],
                     ["trace", "--from", "external/198.18.0.9", "--to", "172.18.0.3:30080", "--via", "node/worker-1"]] {
            let svg = try kdp(args + ["-o", "svg"])
            #expect(svg.status == 0 && svg.stdout.contains("<svg"), "\(args): \(svg.stderr)")
        }
    }
}
