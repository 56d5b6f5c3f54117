import Foundation
import Testing

/// The CNI's rules, a topology's extra rules and inconsistent clusters, through the binary.
@Suite struct CNIRulesCommandTests {
    @Test func anInconsistentClusterLoadsWithOneWarningPerInconsistency() throws {
        let file = try temporaryFile("""
        kind: Topology
        nodes:
          - {name: a, podCIDR: 10.244.1.0/24}
          - {name: b, podCIDR: 10.244.1.0/24}
          - {name: c, podCIDR: 10.9.0.0/24}
        pods: [{name: x, node: c}, {name: y, node: a}]
        """)
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let r = try kdp("trace", "--topology", file.path, "--from", "pod/default/x", "--to", "pod/default/y:80")
        #expect(r.status == 0)
        #expect(r.stderr.contains("kdp: warning: \(file.path):4:5: node b podCIDR 10.244.1.0/24 overlaps node a's 10.244.1.0/24: both nodes claim those pod addresses and their routes conflict\n"))
        #expect(r.stderr.contains("kdp: warning: \(file.path):5:5: node c podCIDR 10.9.0.0/24 is outside the cluster CIDR 10.244.0.0/16"))
        #expect(r.stderr.components(separatedBy: "kdp: warning: ").count == 3)
        #expect(r.stdout.contains("verdict: delivered; to pod/default/y"))
    }

    @Test func badExtraRulesExitTwoAtTheirLineInTheTopology() throws {
        let file = try temporaryFile("""
        kind: Topology
        nodes:
          - name: a
            extraRules: |
              *nat
              -A POSTROUTING -s 10.244.0.0/16 -j MASQUERAD
              COMMIT
        pods: [{name: x, node: a}]
        """)
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let r = try kdp("trace", "--topology", file.path, "--from", "pod/default/x", "--to", "8.8.8.8:53")
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("kdp: \(file.path):6:42: node a extraRules: "))
        #expect(r.stderr.contains("'MASQUERAD'"))
    }

    @Test func replaySeesTheExtraRulesToo() throws {
        let file = try temporaryFile("kind: Topology\nnodes:\n  - name: a\n    extraRules: |\n      *nat\n      -A NOPE -j RETURN\n      COMMIT\n")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let r = try kdp("replay", "--topology", file.path, "captures/http-web.pcap")
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("kdp: \(file.path):6:10: node a extraRules: "))
    }

    @Test func aPodToAnOutsideAddressLeavesMasqueradedByFlannelInTheTrace() throws {
        let r = try kdp("trace", "--from", "pod/default/client", "--to", "8.8.8.8:53", "--proto", "udp", "-o", "json")
        #expect(r.status == 0)
        let path = try #require((r.json["paths"] as? [[String: Any]])?.first)
        #expect(path["verdict"] as? String == "left-cluster")
        #expect(path["masquerade"] as? Bool == true)
        let steps = try #require(path["steps"] as? [[String: Any]])
        #expect(steps.contains { $0["chain"] as? String == "FLANNEL-POSTRTG" && ($0["action"] as? String)?.hasPrefix("masquerade") == true })
    }
}
