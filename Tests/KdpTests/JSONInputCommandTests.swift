import Foundation
import Testing
import Yams
@testable import Cluster

/// JSON topologies and dumps through the binary: the cluster `kdp cluster` shows is the one the
/// YAML text gives, and malformed JSON is one positioned `kdp:` line and exit status 2.
@Suite struct JSONInputCommandTests {
    /// The shipped topologies and the YAML dump fixtures, each rewritten as JSON.
    static let sources = ["topologies/demo.yaml", "topologies/ha-cluster.yaml"]
        + ["calico-ipam.yaml", "kind-ipv6.yaml", "kube-router-dualstack.yaml", "kubeadm-flannel-configmaps.yaml", "openshift-ovn.yaml"]
            .map { clusterFixtures + $0 }

    @Test(arguments: sources)
    func theJSONOfATopologyOrDumpShowsTheSameCluster(path: String) throws {
        let yaml = try String(contentsOf: repositoryRoot.appendingPathComponent(path), encoding: .utf8)
        var json = ""
        YAMLNodeJSON.write(try #require(try Yams.compose(yaml: yaml, .basic)), to: &json)
        let url = try temporaryFile(json, name: "topology.json")
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        for format in ["json", "text"] {
            let a = try kdp("cluster", "--topology", path, "-o", format)
            let b = try kdp("cluster", "--topology", url.path, "-o", format)
            #expect(a.status == 0 && b.status == 0, "\(b.stderr)")
            #expect(a.stdout == b.stdout, "\(path) -o \(format)")
            #expect(a.stdout.count > 200)
        }
    }

    @Test func aGeneratedTopologyAsJSONShowsTheSameCluster() throws {
        let yaml = try kdp("generate", "--nodes", "4", "--services", "30")
        let json = try kdp("generate", "--nodes", "4", "--services", "30", "-o", "json")
        #expect(json.status == 0 && json.stdout.hasPrefix("{\n  \"kind\": \"Topology\""))
        let y = try temporaryFile(yaml.stdout), j = try temporaryFile(json.stdout, name: "generated.json")
        defer { for u in [y, j] { try? FileManager.default.removeItem(at: u.deletingLastPathComponent()) } }
        let a = try kdp("cluster", "--topology", y.path, "-o", "json"), b = try kdp("cluster", "--topology", j.path, "-o", "json")
        #expect(a.status == 0 && a.stdout == b.stdout)
    }

    @Test(arguments: [
        ("{\n  \"kind\": \"List\",\n  \"items\": [\"unterminated]}", "3:13: invalid JSON: unterminated string"),
        ("{\"kind\": \"List\", \"items\": [],}", "1:30: invalid JSON: trailing comma before '}'"),
        ("{\"kind\": \"Li\\st\"}", "1:13: invalid JSON: bad escape \\s in a string"),
        ("{\"kind\": \"List\"\n \"items\": []}", "2:2: invalid JSON: expected ',' or '}' in an object"),
    ] as [(String, String)])
    func malformedJSONExitsTwoWithOneLineNamingLineAndColumn(text: String, expected: String) throws {
        let url = try temporaryFile(text, name: "dump.json")
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let r = try kdp("cluster", "--topology", url.path)
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("kdp: \(url.path):\(expected)"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
    }
}
