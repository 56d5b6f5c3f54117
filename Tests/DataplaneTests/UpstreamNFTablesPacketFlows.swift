import Cluster
import Dataplane
import Foundation
import KubeProxy
import Netfilter
import Testing
import TestSupport
import Wire

/// Upstream's packet flows (TestSupport's `UpstreamNFTablesPacketFlows`) through kdp: each
/// group's transaction traced by `kdp trace-rules --nft`'s request (`NFTTraceRulesRequest`,
/// every numgen branch), judged as upstream's tracer (helpers_test.go `tracePacket`) judges.
extension UpstreamNFTablesPacketFlows {
    /// What upstream's tracer would say of kdp's paths: the outputs (DNAT target, DROP, REJECT)
    /// of all branches, once each in path order; an only-accepted branch adds nothing.
    static func outputs(_ trace: NFTTrace) -> [String] {
        var seen: [String] = []
        for p in trace.paths {
            let word: String? = switch p.verdict {
            case .dropped: "DROP"
            case .rejected: "REJECT"
            case .accepted: p.dnat?.description
            }
            if let word, !seen.contains(word) { seen.append(word) }
        }
        return seen
    }

    /// nil when kdp's trace says what upstream's tracer says of the flow, else what differs.
    static func mismatch(_ t: NFTTrace, _ flow: Flow) -> String? {
        let got = outputs(t)
        let want = flow.output.isEmpty ? [] : flow.output.components(separatedBy: ", ")
        // Upstream's tracer marks masquerade once any branch jumps to mark-for-masquerade.
        let masq = t.paths.contains { $0.masquerade }
        var wrong: [String] = []
        if Set(got) != Set(want) || got.count != want.count {
            wrong.append("output \"\(got.joined(separator: ", "))\", upstream \"\(flow.output)\"")
        }
        if masq != flow.masq { wrong.append("masquerade \(masq), upstream \(flow.masq)") }
        return wrong.isEmpty ? nil : "\(flow.name) (\(flow.source) → \(flow.destination):\(flow.port) \(flow.proto.name)): " + wrong.joined(separator: "; ")
    }

    static func trace(_ nft: String, _ flow: Flow) throws -> NFTTrace {
        let request = TraceRulesRequest(rulesText: "", rulesFile: "upstream.nft", localAddresses: try testNodeIPs.map { try IPAddress(parsing: $0) },
                                        source: try IPAddress(parsing: flow.source), destination: try IPAddress(parsing: flow.destination),
                                        destinationPort: flow.port, proto: flow.proto, options: TraceOptions(allPaths: true))
        return try NFTTraceRulesRequest(nftText: nft, nftFile: "upstream.nft", request: request).run()
    }
}


@Suite struct UpstreamNFTablesPacketFlowTests {
    typealias U = UpstreamNFTablesPacketFlows

    /// Counted in proxier_test.go (81810de6) by reading every `runPacketFlowTests(` call and what
    /// reaches it: TestNoEndpointsReject 1 call/6 flows, TestClusterIPGeneral 1/10,
    /// TestLoadBalancer 1/13, TestNodePorts 4 cases × 2 calls (3 flows + 1) = 8/16,
    /// TestExternalTrafficPolicyLocal 1/7, TestExternalTrafficPolicyCluster 1/7,
    /// TestInternalTrafficPolicy 4 cases × 2 calls (1 flow + "endpoints deleted") = 8/8,
    /// TestTerminatingEndpointsTrafficPolicyLocal and ...Cluster 4 cases × 2 calls (2 + 2) = 8/16
    /// each, TestInternalExternalMasquerade 4 cases × 1 call of 27 flows = 4/108.
    /// (TestOverallNFTablesRules at this commit compares the transaction only.)
    /// Total: 41 calls, 207 flows.
    @Test func everyUpstreamCallAndFlowIsTranscribed() {
        #expect(U.groups.count == 41)
        #expect(U.groups.reduce(0) { $0 + $1.flows.count } == 207)
        #expect(Set(U.groups.map(\.test)).count == U.groups.count, "each call named once")
        let perTest = Dictionary(grouping: U.groups) { String($0.test.prefix { $0 != "/" }) }.mapValues { gs in "\(gs.count)/\(gs.reduce(0) { $0 + $1.flows.count })" }
        #expect(perTest["TestNoEndpointsReject"] == "1/6")
        #expect(perTest["TestClusterIPGeneral"] == "1/10")
        #expect(perTest["TestLoadBalancer"] == "1/13")
        #expect(perTest["TestNodePorts"] == "8/16")
        #expect(perTest["TestExternalTrafficPolicyLocal"] == "1/7")
        #expect(perTest["TestExternalTrafficPolicyCluster"] == "1/7")
        #expect(perTest["TestInternalTrafficPolicy"] == "8/8")
        #expect(perTest["TestTerminatingEndpointsTrafficPolicyLocal"] == "8/16")
        #expect(perTest["TestTerminatingEndpointsTrafficPolicyCluster"] == "8/16")
        #expect(perTest["TestInternalExternalMasquerade"] == "4/108")
    }

    @Test(arguments: U.groups)
    func upstreamFlowsPassThroughKdp(_ group: U.Group) throws {
        let nft = try U.transaction(group)
        for flow in group.flows {
            let t = try U.trace(nft, flow)
            if let wrong = U.mismatch(t, flow) { Issue.record("\(group.test): \(wrong)") }
        }
    }

    /// The judgement is live: every flow of every group, with its output or its masquerade
    /// changed, is caught.
    @Test(arguments: U.groups)
    func aChangedExpectationIsCaught(_ group: U.Group) throws {
        let nft = try U.transaction(group)
        for flow in group.flows {
            let t = try U.trace(nft, flow)
            var output = flow, masq = flow
            output.output = flow.output == "DROP" ? "REJECT" : "DROP"
            masq.masq.toggle()
            #expect(U.mismatch(t, output) != nil, "\(group.test): \(flow.name)")
            #expect(U.mismatch(t, masq) != nil, "\(group.test): \(flow.name)")
        }
    }

    /// The IPv6 groups really are an `ip6` table, DNATing to bracketed endpoints.
    @Test func ipv6GroupsCompileAnIP6Table() throws {
        let group = try #require(U.groups.first { $0.test == "TestNodePorts/ipv6, basic" })
        let nft = try U.transaction(group)
        #expect(nft.hasPrefix("add table ip6 kube-proxy"))
        #expect(nft.contains("meta l4proto tcp dnat to [fd00:10:180::2:1]:80"))
    }
}
