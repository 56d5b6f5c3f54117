import Foundation
import Testing

@Suite struct TraceRulesCommandTests {
    static let rules = """
    *nat
    :PREROUTING ACCEPT [0:0]
    :INPUT ACCEPT [0:0]
    :OUTPUT ACCEPT [0:0]
    :POSTROUTING ACCEPT [0:0]
    :KUBE-SERVICES - [0:0]
    :KUBE-SVC-A - [0:0]
    :KUBE-SEP-1 - [0:0]
    :KUBE-SEP-2 - [0:0]
    -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
    -A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "default/a cluster IP" -m tcp --dport 80 -j KUBE-SVC-A
    -A KUBE-SVC-A -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-1
    -A KUBE-SVC-A -j KUBE-SEP-2
    -A KUBE-SEP-1 -p tcp -m tcp -j DNAT --to-destination 10.244.1.5:8080
    -A KUBE-SEP-2 -p tcp -m tcp -j DNAT --to-destination 10.244.2.5:8080
    COMMIT
    *filter
    :INPUT ACCEPT [0:0]
    :FORWARD ACCEPT [0:0]
    :OUTPUT ACCEPT [0:0]
    -A FORWARD -m set --match-set BLOCKED src -j DROP
    COMMIT

    """

    func withFiles<T>(_ files: [String: String], _ body: (URL) throws -> T) throws -> T {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-tr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, text) in files { try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return try body(dir)
    }

    @Test func allPathsSplitsOverTheStatisticRule() throws {
        try withFiles(["rules": Self.rules, "sets": "create BLOCKED hash:ip family inet hashsize 1024 maxelem 65536\n"]) { dir in
            let r = try kdp(["trace-rules", "--rules", dir.appendingPathComponent("rules").path, "--ipsets", dir.appendingPathComponent("sets").path,
                             "--local-ip", "172.18.0.3", "--src", "10.244.0.9", "--dst", "10.96.0.20", "--dport", "80", "--all-paths", "-o", "json"])
            #expect(r.status == 0)
            let paths = try #require(r.json["paths"] as? [[String: Any]])
            #expect(Set(paths.compactMap { $0["dnat"] as? String }) == ["10.244.1.5:8080", "10.244.2.5:8080"])
            #expect(paths.allSatisfy { abs(($0["probability"] as? Double ?? 0) - 0.5) < 1e-9 })
            #expect(paths.allSatisfy { $0["verdict"] as? String == "accepted" })
        }
    }

    @Test func ipsetMembersAreMatched() throws {
        try withFiles(["rules": Self.rules, "sets": "create BLOCKED hash:ip family inet hashsize 1024 maxelem 65536\nadd BLOCKED 10.244.0.9\n"]) { dir in
            let r = try kdp(["trace-rules", "--rules", dir.appendingPathComponent("rules").path, "--ipsets", dir.appendingPathComponent("sets").path,
                             "--local-ip", "172.18.0.3", "--src", "10.244.0.9", "--dst", "10.96.0.20", "--dport", "80"])
            #expect(r.status == 0)
            #expect(r.stdout.contains("drop"))
        }
    }

    @Test func aWordKdpDoesNotKnowIsAnErrorWithFileAndLineUnlessLenient() throws {
        let bad = Self.rules.replacingOccurrences(of: "-A KUBE-SVC-A -j KUBE-SEP-2", with: "-A KUBE-SVC-A -m frobnicate --wibble -j KUBE-SEP-2")
        try withFiles(["rules": bad]) { dir in
            let path = dir.appendingPathComponent("rules").path
            let args = ["trace-rules", "--rules", path, "--local-ip", "172.18.0.3", "--src", "10.244.0.9", "--dst", "10.96.0.20", "--dport", "80"]
            let strict = try kdp(args)
            #expect(strict.status == 2)
            #expect(strict.stderr.hasPrefix("kdp: \(path):13:18: "))
            #expect(strict.stderr.contains("frobnicate"))
            let lenient = try kdp(args + ["--lenient"])
            #expect(lenient.status == 0)
            #expect(lenient.stdout.contains("frobnicate"))
        }
    }

    @Test func missingFilesAndFlagsExitTwo() throws {
        #expect(try kdp(["trace-rules", "--rules", "/nonexistent", "--local-ip", "1.2.3.4", "--src", "1.2.3.4", "--dst", "1.2.3.5"]).status == 2)
        #expect(try kdp(["trace-rules", "--rules", "/nonexistent", "--src", "1.2.3.4", "--dst", "1.2.3.5"]).stderr.contains("--local-ip"))
        try withFiles(["rules": Self.rules]) { dir in
            let r = try kdp(["trace-rules", "--rules", dir.appendingPathComponent("rules").path, "--local-ip", "1.2.3.4", "--src", "1.2.3.999", "--dst", "1.2.3.5"])
            #expect(r.status == 2)
            #expect(r.stderr.contains("--src"))
        }
    }

    @Test func compiledRulesTraceTheSameAsTheDataPlaneSees() throws {
        let save = try kdp("compile", "--node", "worker-1", "--format", "save")
        try withFiles(["rules": save.stdout]) { dir in
            let r = try kdp(["trace-rules", "--rules", dir.appendingPathComponent("rules").path, "--local-ip", "172.18.0.3",
                             "--local-ip", "10.244.1.1", "--src", "10.244.1.2", "--in-iface", "cni0", "--dst", "10.96.0.1", "--dport", "443", "-o", "json"])
            #expect(r.status == 0)
            #expect((r.json["paths"] as? [[String: Any]])?.first?["dnat"] as? String == "172.18.0.2:6443")
        }
    }

    /// One IPVS-mode node's three dumps, as `kdp compile` writes them for the demo's worker-1.
    func ipvsDumps() throws -> [String: String] {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("topologies/demo.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "mode: iptables", with: "mode: ipvs")
        let topology = try temporaryFile(text)
        defer { try? FileManager.default.removeItem(at: topology.deletingLastPathComponent()) }
        var out: [String: String] = [:]
        for (name, kind) in [("rules", "iptables"), ("sets", "ipset"), ("ipvs", "ipvs")] {
            let r = try kdp("compile", "--topology", topology.path, "--node", "worker-1", "--proxy-mode", "ipvs",
                            "--output-kind", kind, "--format", "save")
            #expect(r.status == 0)
            out[name] = r.stdout
        }
        return out
    }

    @Test func anIPVSNodesThreeDumpsAreTracedThroughTheVirtualServer() throws {
        try withFiles(try ipvsDumps()) { dir in
            let r = try kdp("trace-rules", "--rules", dir.appendingPathComponent("rules").path, "--ipsets", dir.appendingPathComponent("sets").path,
                            "--ipvs", dir.appendingPathComponent("ipvs").path, "--local-ip", "172.18.0.3",
                            "--src", "10.244.1.2", "--in-iface", "cni0", "--dst", "10.105.17.17", "--dport", "80", "-o", "json")
            #expect(r.status == 0, "\(r.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let path = try #require((json["paths"] as? [[String: Any]])?.first)
            #expect(path["verdict"] as? String == "accepted")
            #expect(path["dnat"] as? String == "10.244.2.3:8080")
            let steps = path["steps"] as? [[String: Any]] ?? []
            #expect(steps.contains { $0["table"] as? String == "ipvs" && $0["hook"] as? String == "INPUT"
                && ($0["action"] as? String)?.hasPrefix("scheduler: rr:") == true })
            #expect((json["notes"] as? [String] ?? []).contains { $0.contains("bound to kube-ipvs0") })
            // Without --ipvs the VIP is not local and nothing schedules it: forwarded untouched.
            let plain = try kdp("trace-rules", "--rules", dir.appendingPathComponent("rules").path, "--ipsets", dir.appendingPathComponent("sets").path,
                                "--local-ip", "172.18.0.3", "--src", "10.244.1.2", "--in-iface", "cni0", "--dst", "10.105.17.17", "--dport", "80")
            #expect(plain.status == 0)
            #expect(!plain.stdout.contains("ipvs"))
        }
    }

    @Test func aBadIPVSAdmDumpNamesTheFileAndLine() throws {
        try withFiles(["rules": Self.rules, "ipvs": "-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r nonsense -m -w 1\n"]) { dir in
            let r = try kdp("trace-rules", "--rules", dir.appendingPathComponent("rules").path, "--ipvs", dir.appendingPathComponent("ipvs").path,
                            "--local-ip", "172.18.0.3", "--src", "10.244.1.2", "--dst", "10.96.0.1", "--dport", "443")
            #expect(r.status == 2)
            #expect(r.stderr.contains(dir.appendingPathComponent("ipvs").path + ":2"))
        }
    }
}
