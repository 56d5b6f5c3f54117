import Foundation
import Testing
import TestSupport

/// `kdp verify` through the binary: exit status by outcome, the JSON scripts read, bad input.
@Suite struct VerifyCommandTests {
    @Test func healthyDemoExitsZeroWithEveryInvariantHolding() throws {
        let r = try kdp("verify")
        #expect(r.status == 0, "\(r.stderr)")
        for name in ["pod-to-pod", "node-to-pod", "hostnetwork-to-pod", "service-endpoints", "service-reply", "source-preserved", "routing"] {
            #expect(r.stdout.contains(name))
        }
        #expect(!r.stdout.contains("VIOLATED"))
    }

    @Test func violatedInvariantExitsOneWithACounterexampleInStableJSON() throws {
        let r = try kdp("verify", "--topology", "topologies/broken/kube-proxy-cluster-cidr-narrow.yaml", "-o", "json", "--max-examples", "1")
        #expect(r.status == 1)
        let json = r.json
        #expect(json["holds"] as? Bool == false)
        let invariants = try #require(json["invariants"] as? [[String: Any]])
        #expect(invariants.map { $0["name"] as? String } == ["pod-to-pod", "node-to-pod", "hostnetwork-to-pod", "service-endpoints",
                                                             "service-reply", "source-preserved", "routing"])
        for i in invariants {
            #expect(Set(i.keys).isSuperset(of: ["name", "holds", "classes", "violation_count", "violations", "notes"]))
        }
        let source = try #require(invariants.first { $0["name"] as? String == "source-preserved" })
        #expect(source["holds"] as? Bool == false)
        let violations = try #require(source["violations"] as? [[String: Any]])
        #expect(violations.count == 1)
        let v = violations[0]
        #expect(Set(v.keys) == ["class", "example", "why", "trace"])
        #expect((v["why"] as? String)?.contains("KUBE-MARK-MASQ") == true)
        // The trace is a `kdp trace` JSON object with its paths and steps.
        let trace = try #require(v["trace"] as? [String: Any])
        let paths = try #require(trace["paths"] as? [[String: Any]])
        #expect(paths.first?["steps"] as? [Any] != nil)
        #expect((v["example"] as? [String: Any])?["dst"] as? String == "10.96.0.20")
    }

    @Test func invariantFlagChecksOnlyThoseAsked() throws {
        let r = try kdp("verify", "--invariant", "routing", "--invariant", "pod-to-pod", "-o", "json")
        #expect(r.status == 0)
        let names = (r.json["invariants"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["pod-to-pod", "routing"])
    }

    @Test func explainListsEveryClass() throws {
        let r = try kdp("verify", "--invariant", "pod-to-pod", "--explain")
        #expect(r.status == 0)
        #expect(r.stdout.contains("pod-to-pod: 36 classes"))
        #expect(r.stdout.contains("icmp pod/kube-system/coredns-0 → 2 [pod/default/client, pod/default/web-0]"))
    }

    @Test func unknownInvariantIsBadInput() throws {
        let r = try kdp("verify", "--invariant", "pod-to-node")
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("kdp:"))
        #expect(r.stderr.contains("no such invariant"))
        #expect(r.stdout.isEmpty)
    }

    @Test func outOfRangeFlagsAreBadInput() throws {
        let examples = try kdp("verify", "--max-examples", "20000")
        #expect(examples.status == 2)
        #expect(examples.stderr.hasPrefix("kdp:") && examples.stderr.contains("--max-examples"))
        let nodes = try kdp("bench", "--verify", "--verify-nodes", "10,x")
        #expect(nodes.status == 2)
        #expect(nodes.stderr.hasPrefix("kdp:") && nodes.stderr.contains("--verify-nodes"), "\(nodes.stderr)")
        #expect(nodes.stdout.isEmpty)
    }

    @Test func malformedTopologyIsBadInputNamingTheFile() throws {
        let url = try temporaryFile("kind: Topology\nnodes:\n  - {name: a, ip: 300.1.1.1}\n")
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let r = try kdp("verify", "--topology", url.path)
        #expect(r.status == 2)
        #expect(r.stderr.contains("topology.yaml:3"))
    }

    @Test func extraRulesThatDoNotApplyAreBadInputAtTheirLine() throws {
        let url = try temporaryFile("""
        kind: Topology
        nodes:
          - name: a
            extraRules: |
              *nat
              -A POSTROUTING -j NO-SUCH-CHAIN
              COMMIT
        """)
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let r = try kdp("verify", "--topology", url.path)
        #expect(r.status == 2)
        #expect(r.stderr.contains("topology.yaml:6"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs script(1) for a terminal"))
    func aLongVerifyShowsProgressOnATerminalAndNoneWithQuiet() throws {
        // A generated cluster; the line shows from the start (KDP_PROGRESS_AFTER_MS=0).
        let generated = try kdp("generate", "--nodes", "6", "--pods-per-node", "15", "--services", "50", "--endpoints-per-service", "3")
        let url = try temporaryFile(generated.stdout)
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        func onTerminal(_ extra: String) throws -> String {
            try Shell.run(["script", "-qec", "KDP_PROGRESS_AFTER_MS=0 \(kdpBinary.path) verify --topology \(url.path) \(extra)", "/dev/null"]).output
        }
        let shown = try onTerminal("")
        #expect(shown.contains("kdp: verify: ") && shown.contains("classes traced") && shown.contains("classes/s"), "\(shown.suffix(300))")
        #expect(!(try onTerminal("--quiet")).contains("kdp: verify: "))
        // Not a terminal: no progress line either.
        #expect(!(try kdp("verify", "--topology", url.path)).stderr.contains("kdp: verify: "))
    }
}
