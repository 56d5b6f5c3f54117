import Foundation
import Testing
import TestSupport

/// Every upstream nftables packet flow (TestSupport's `UpstreamNFTablesPacketFlows`: the 41
/// `runPacketFlowTests` calls of proxier_test.go at 81810de6) through the built
/// `kdp trace-rules --nft FILE` binary, as a user pasting the compiled ruleset would run it:
/// each group's transaction written to a file, each flow traced with every numgen branch and
/// judged from the JSON as upstream's tracer judges (each branch's DNAT target, or DROP /
/// REJECT; masquerade if any branch masquerades).
@Suite struct UpstreamNFTablesFlowCommandTests {
    typealias U = UpstreamNFTablesPacketFlows

    @Test(arguments: U.groups)
    func upstreamFlowsPassThroughTheTraceRulesCommand(_ group: U.Group) throws {
        let file = try temporaryFile(try U.transaction(group), name: "kube-proxy.nft")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        for flow in group.flows {
            let r = try kdp(["trace-rules", "--nft", file.path] + U.testNodeIPs.flatMap { ["--local-ip", $0] }
                            + ["--src", flow.source, "--dst", flow.destination, "--dport", String(flow.port),
                               "--proto", flow.proto.name, "--all-paths", "-o", "json"])
            #expect(r.status == 0, "\(group.test): \(flow.name): \(r.stderr)")
            let paths = r.json["paths"] as? [[String: Any]] ?? []
            #expect(!paths.isEmpty, "\(group.test): \(flow.name): no paths in \(r.stdout.prefix(200))")
            var outputs: [String] = []
            for p in paths {
                let word: String? = switch p["verdict"] as? String {
                case "dropped": "DROP"
                case "rejected": "REJECT"
                default: p["dnat"] as? String
                }
                if let word, !outputs.contains(word) { outputs.append(word) }
            }
            let want = flow.output.isEmpty ? [] : flow.output.components(separatedBy: ", ")
            #expect(Set(outputs) == Set(want) && outputs.count == want.count,
                    "\(group.test): \(flow.name): kdp \(outputs), upstream \(want)")
            #expect(paths.contains { $0["masquerade"] as? Bool == true } == flow.masq, "\(group.test): \(flow.name): masquerade")
        }
    }

    /// The text output names the firewall chain that dropped a client outside the source ranges.
    @Test func aBlockedClientsTextTraceNamesTheFirewallChain() throws {
        let group = try #require(U.groups.first { $0.test == "TestLoadBalancer" })
        let file = try temporaryFile(try U.transaction(group), name: "kube-proxy.nft")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let blocked = try kdp(["trace-rules", "--nft", file.path, "--local-ip", "192.168.0.2", "--src", "203.0.113.130", "--dst", "1.2.3.4", "--dport", "80"])
        #expect(blocked.status == 0 && blocked.stdout.contains("DROPPED") && blocked.stdout.contains("firewall-"), "\(blocked.stdout)")
    }
}
