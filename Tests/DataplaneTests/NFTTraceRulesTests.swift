import Dataplane
import Foundation
import Netfilter
import TestSupport
import Testing
import Wire

/// `kdp trace-rules --nft` on upstream's TestOverallNFTablesRules ruleset (kubernetes
/// 81810de6), as knftables writes it and as the real nft 1.0.6 lists it: the packet-flow
/// outcomes upstream's nft tracer gives (endpoints reached, masquerade, DROP / REJECT), through
/// the whole hook walk with the node's addresses as upstream's fake node has them.
@Suite struct NFTTraceRulesTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("NFTablesTests/Fixtures")

    static func text(_ name: String) -> String {
        (try? String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    static let nodeIPs = ["192.168.0.2", "192.168.1.2", "192.168.99.11"].map { try! IPAddress(parsing: $0) }

    func trace(_ file: String, _ src: String, _ dst: String, _ port: UInt16, proto: IPProtocol = .tcp, allPaths: Bool = true) throws -> NFTTrace {
        let request = TraceRulesRequest(rulesText: "", rulesFile: file, localAddresses: Self.nodeIPs, source: try IPAddress(parsing: src),
                                        destination: try IPAddress(parsing: dst), destinationPort: port, proto: proto,
                                        options: TraceOptions(allPaths: allPaths))
        return try NFTTraceRulesRequest(nftText: Self.text(file), nftFile: file, request: request).run()
    }

    /// Upstream's words for a trace: "ip:port, ip:port" for the endpoints, DROP, REJECT or ACCEPT.
    func outcome(_ t: NFTTrace) -> (String, Bool) {
        let outputs = t.paths.map { p -> String in
            switch p.verdict {
            case .dropped: "DROP"
            case .rejected: "REJECT"
            case .accepted: p.dnat?.description ?? "ACCEPT"
            }
        }
        let joined = Set(outputs).count == 1 ? outputs[0] : outputs.joined(separator: ", ")
        return (joined, t.paths.contains { $0.masquerade })
    }

    static let flows: [(String, String, IPProtocol, String, UInt16, String, Bool)] = [
        ("pod to svc1 cluster IP", "10.0.0.2", .tcp, "172.30.0.41", 80, "10.180.0.1:80", false),
        ("hairpin to svc1 cluster IP", "10.180.0.1", .tcp, "172.30.0.41", 80, "10.180.0.1:80", true),
        ("external to svc1 cluster IP", "203.0.113.2", .tcp, "172.30.0.41", 80, "10.180.0.1:80", true),
        ("node to svc1 cluster IP", "192.168.0.2", .tcp, "172.30.0.41", 80, "10.180.0.1:80", true),
        ("svc1 wrong port", "10.0.0.2", .tcp, "172.30.0.41", 443, "REJECT", false),
        ("svc1 UDP", "10.0.0.2", .udp, "172.30.0.41", 80, "REJECT", false),
        ("unallocated cluster IP", "10.0.0.2", .tcp, "172.30.0.50", 80, "DROP", false),
        ("external to svc2 LB IP, no local endpoints", "203.0.113.2", .tcp, "1.2.3.4", 80, "DROP", false),
        ("pod to svc2 LB IP", "10.0.0.2", .tcp, "1.2.3.4", 80, "10.180.0.2:80", false),
        ("external to svc2 NodePort, no local endpoints", "203.0.113.2", .tcp, "192.168.0.2", 3001, "DROP", false),
        ("node to svc2 NodePort", "192.168.0.2", .tcp, "192.168.0.2", 3001, "10.180.0.2:80", true),
        ("external to svc3 NodePort", "203.0.113.2", .tcp, "192.168.0.2", 3003, "10.180.0.3:80", true),
        ("svc4 cluster IP, two endpoints", "10.0.0.2", .tcp, "172.30.0.44", 80, "10.180.0.4:80, 10.180.0.5:80", false),
        ("external to svc4 external IP", "203.0.113.2", .tcp, "192.168.99.33", 80, "10.180.0.4:80, 10.180.0.5:80", true),
        ("allowed external to svc5 LB IP", "203.0.113.2", .tcp, "5.6.7.8", 80, "10.180.0.3:80", true),
        ("blocked external to svc5 LB IP", "203.0.113.130", .tcp, "5.6.7.8", 80, "DROP", false),
        ("svc5 NodePort bypasses source ranges", "203.0.113.130", .tcp, "192.168.0.2", 3002, "10.180.0.3:80", true),
        ("svc6 without endpoints", "10.0.0.2", .tcp, "172.30.0.46", 80, "REJECT", false),
    ]

    @Test(arguments: [UpstreamOverall.path, "upstream-overall.list-handles"])
    func upstreamPacketFlowsPassThroughTraceRulesNFT(file: String) throws {
        for (name, src, proto, dst, port, want, masq) in Self.flows {
            let t = try trace(file, src, dst, port, proto: proto)
            let (got, gotMasq) = outcome(t)
            #expect(got == want, "\(file): \(name)")
            #expect(gotMasq == masq, "\(file): \(name): masquerade")
        }
    }

    @Test func stepsNameRulesByHandleAndShowMapLookups() throws {
        let t = try trace("upstream-overall.list-handles", "10.0.0.2", "172.30.0.41", 80)
        let lookup = try #require(t.paths[0].steps.first { $0.chain == "services" })
        #expect(lookup.table == "ip kube-proxy" && lookup.rule == 61 && lookup.handle)
        #expect(lookup.action == "service-ips[172.30.0.41 . tcp . 80] → goto service-ULMVA6XW-ns1/svc1/tcp/p80")
        #expect(t.paths[0].deliveredTo == .out(interface: "eth0"))
        let json = t.json()
        #expect(json.contains("\"decided_by\" : \"policy\"") && json.contains("\"delivered_to\" : \"out eth0\""))
        #expect(t.text().contains("services handle 61: ip daddr . meta l4proto . th dport vmap @service-ips"))
    }

    @Test func dropsSayWhichRuleAndWhy() throws {
        let t = try trace(UpstreamOverall.path, "10.0.0.2", "172.30.0.50", 80)
        #expect(t.paths[0].decidedBy == "ip daddr { 172.30.0.0/16 } drop comment \"Drop traffic to unallocated ClusterIPs\"")
        #expect(t.paths[0].reason == "Drop traffic to unallocated ClusterIPs")
    }

    @Test func oneTraceFollowsTheSeededBranch() throws {
        let a = try trace(UpstreamOverall.path, "10.0.0.2", "172.30.0.44", 80, allPaths: false)
        #expect(a.paths.count == 1 && a.paths[0].probability == 0.5)
        #expect(["10.180.0.4:80", "10.180.0.5:80"].contains(a.paths[0].dnat?.description ?? ""))
    }

    /// kube-proxy v1.36's shape as a real node lists it: dnat through a numgen map, and the
    /// hairpin-connections set masquerading a pod that reached itself (`ct status dnat`).
    @Test func v136ShapeDNATMapAndHairpinMasquerade() throws {
        let request = TraceRulesRequest(rulesText: "", rulesFile: "v136", localAddresses: [try IPAddress(parsing: "192.168.0.231")],
                                        source: try IPAddress(parsing: "10.244.0.8"), destination: try IPAddress(parsing: "10.100.192.23"),
                                        destinationPort: 80, options: TraceOptions(allPaths: true))
        let t = try NFTTraceRulesRequest(nftText: Self.text("v136-shape.list-handles"), nftFile: "v136", request: request).run()
        #expect(t.paths.map { $0.dnat?.description } == ["10.244.0.10:9898", "10.244.0.8:9898"])
        #expect(t.paths.map(\.masquerade) == [false, true])
        #expect(t.paths.map(\.probability) == [0.5, 0.5])
        #expect(t.paths[1].steps.contains { $0.action == "map[1] → dnat to 10.244.0.8:9898" && $0.rule == 24 })
    }

    /// The kernel's own trace (`nft monitor trace`, recorded in a namespace) and kdp's verbose
    /// trace name the same rules and policies in the same order: a NodePort from outside, and
    /// the node's own packet to a ClusterIP (DNAT before filter-output's cluster-ips-check).
    @Test(arguments: [("monitor-trace-nodeport.txt", "192.168.0.100", "192.168.0.2", UInt16(3003), 15),
                      ("monitor-trace-clusterip-output.txt", "192.168.0.2", "172.30.0.41", UInt16(80), 14)])
    func rulesMatchWhatNftMonitorTracePrinted(file: String, src: String, dst: String, port: UInt16, count: Int) throws {
        let kernel = Self.text(file).split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("ip kube-proxy ") else { return nil }
            let rest = line.dropFirst("ip kube-proxy ".count)
            if let r = rest.range(of: " rule ") {
                let text = rest[r.upperBound...]
                return rest[..<r.lowerBound] + ": " + (text.range(of: " (verdict").map { text[..<$0.lowerBound] } ?? text)
            }
            if let r = rest.range(of: " policy ") { return rest[..<r.lowerBound] + ": policy " + rest[r.upperBound...].prefix { $0 != " " } }
            return nil
        }
        let request = TraceRulesRequest(rulesText: "", rulesFile: "overall", localAddresses: [try IPAddress(parsing: "192.168.0.2")],
                                        source: try IPAddress(parsing: src), destination: try IPAddress(parsing: dst),
                                        destinationPort: port, options: TraceOptions(verbose: true))
        let t = try NFTTraceRulesRequest(nftText: Self.text("upstream-overall.list-handles"), nftFile: "overall", request: request).run()
        let kdp = t.paths[0].steps.compactMap { s -> String? in
            guard s.table == "ip kube-proxy", let c = s.chain else { return nil }
            return c + ": " + (s.text ?? s.action)
        }
        #expect(kernel.count == count)
        #expect(kdp == kernel)
    }
}
