import Foundation
import Testing
@testable import Cluster
@testable import Dataplane
@testable import Netfilter
import Wire

/// The typed values a data-plane trace hands on: where a path was delivered, what decided it,
/// each step's subject and rewrite, the tunnel's outer header. The printed strings come from them.
@Suite struct TypedDataplaneTraceTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    @Test func theDNATStepCarriesItsRuleAndRewriteAndTheReplyItsUnNAT() throws {
        var p = try demo()
        let t = try trace("pod/default/client", "service/default/web:80", plane: &p)
        let path = try #require(t.paths.first)
        #expect(path.deliveredTo == .pod(namespace: "default", name: "web-2"))
        #expect(path.deliveredTo?.description == "pod/default/web-2")
        let dnat = try #require(path.steps.first { if case .dnat? = $0.rewrite { true } else { false } })
        #expect(dnat.rewrite == .dnat(Self.ip("10.244.2.3"), port: 8080))
        #expect(dnat.node == "worker-1" && dnat.kind == .netfilter && dnat.hook == .prerouting)
        guard case .netfilter(hook: .prerouting, .rule(let rule)) = dnat.subject else {
            Issue.record("DNAT step subject \(dnat.subject)")
            return
        }
        #expect(rule.table == .nat && rule.chain.hasPrefix("KUBE-SEP-") && rule.text == dnat.text)
        #expect(dnat.table == "nat" && dnat.chain == rule.chain && dnat.rule == rule.number)
        // On worker-2 flanneld's FLANNEL-FWD accepted it (kube-proxy's chains only return).
        #expect(path.decidedBy.description == "-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT")
        let reply = try #require(path.reply)
        #expect(reply.path.deliveredTo == .pod(namespace: "default", name: "client"))
        #expect(reply.path.steps.contains {
            $0.node == "worker-1" && $0.rewrite == .conntrackNAT(.source, reply: true, Self.ip("10.105.17.17"), port: 80)
        })
        // Wire hops have their own subjects and no netfilter columns.
        let link = try #require(path.steps.first { $0.subject == .link })
        #expect(link.table == nil && link.hook == nil && link.rewrite == nil)
        #expect(path.steps.last?.subject == .deliver)
    }

    @Test func anExternalClientGetsItsReplyDeliveredAsExternal() throws {
        var p = try demo()
        let t = try trace("external/203.0.113.7", "node/worker-1:30080", plane: &p)
        let reply = try #require(t.paths.first?.reply)
        #expect(reply.path.deliveredTo == .external(Self.ip("203.0.113.7")))
        #expect(reply.path.deliveredTo?.description == "external/203.0.113.7")
    }

    @Test func leavingTheClusterIsDecidedByTheNetwork() throws {
        var p = try demo()
        let t = try trace("pod/default/client", "8.8.8.8:53", plane: &p)
        let path = try #require(t.paths.first)
        #expect(path.verdict == .leftCluster)
        #expect(path.decidedBy == .network && path.decidedBy.description == "routing")
        #expect(path.deliveredTo == nil)
    }

    @Test func theTunnelStepCarriesItsOuterHeader() throws {
        let text = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                                .deletingLastPathComponent().appendingPathComponent("topologies/demo.yaml"), encoding: .utf8)
        var vx = try plane(text.replacingOccurrences(of: "cni: host-gw", with: "cni: vxlan"))
        let t = try trace("pod/default/client", "service/default/web:80", plane: &vx)
        let tunnel = try #require(t.paths[0].steps.first { $0.kind == .tunnel })
        #expect(tunnel.subject == .tunnel(VXLANHeader(source: Self.ip("172.18.0.3"), destination: Self.ip("172.18.0.4"), port: 8472, vni: 1)))
    }
}
