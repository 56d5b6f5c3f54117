import Foundation
import Testing
@testable import Cluster
@testable import Dataplane
import Netfilter
import Wire

/// `kdp trace` in nftables mode: each node's kube-proxy rules are the nftables compiler's table
/// (its transaction text parsed by `NFTRuleset.parse`), flannel's and the extra rules stay
/// iptables, and the node walk runs both through `NFTChainsHook`. For every Service kind of the
/// demo and ha-cluster topologies the packet reaches the same endpoints with the same verdicts
/// as in iptables mode, and the trace JSON has the same schema.
@Suite struct NFTablesModeTraceTests {
    static func cluster(_ topology: String) throws -> Cluster {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try ClusterBuilder.load(paths: topology == "demo" ? [] : [root.appendingPathComponent("topologies/\(topology).yaml").path])
    }

    static func nftables(_ c: Cluster) -> Cluster {
        c.withKubeProxy { $0.nftablesModeSource = InputLocation(file: "test") }
    }

    /// Each path as "verdict → where", sorted (all paths: every endpoint with its probability).
    static func outcomes(_ t: DataplaneTrace) -> [String] {
        t.paths.map { "\($0.verdict.rawValue) \($0.deliveredTo?.description ?? "-") \(String(format: "%.4f", $0.probability))" }.sorted()
    }

    /// The JSON's keys, recursively (arrays by their elements' union), values left out.
    static func schema(_ v: Any) -> Set<String> {
        var out = Set<String>()
        if let d = v as? [String: Any] {
            for (k, x) in d { out.insert(k); for s in schema(x) { out.insert(k + "." + s) } }
        } else if let a = v as? [Any] {
            for x in a { out.formUnion(schema(x)) }
        }
        return out
    }

    static func json(_ t: DataplaneTrace) throws -> Any {
        let e = JSONEncoder()
        return try JSONSerialization.jsonObject(with: try e.encode(t))
    }

    static let demoCases: [(String, String, String?)] = [
        ("pod/default/client", "service/default/web:80", nil),                   // ClusterIP
        ("pod/default/client", "service/kube-system/kube-dns:dns", nil),         // UDP ClusterIP
        ("node/worker-2", "service/default/web:80", nil),                        // node to ClusterIP (masquerade)
        ("pod/default/web-0", "service/default/web:80", nil),                    // hairpin
        ("external/203.0.113.7", "node/worker-2:30080", nil),                    // NodePort
        ("external/203.0.113.7", "service/default/web-lb:80", nil),              // LB, allowed source range, Local
        ("external/198.51.100.9", "service/default/web-lb:80", nil),             // LB, source outside the ranges
        ("external/203.0.113.7", "service/default/web-lb:80", "control-plane"),  // Local, no local endpoint
        ("external/198.51.100.9", "198.51.100.20:80", nil),                      // LB, Cluster policy
        ("external/203.0.113.7", "192.0.2.50:80", nil),                          // externalIPs
        ("pod/default/client", "service/default/web-sticky:80", nil),            // affinity
        ("pod/default/client", "service/default/web-canary:80", nil),            // no endpoints
    ]

    static let haCases: [(String, String, String?)] = [
        ("pod/shop/frontend-1", "service/kube-system/kube-dns:dns", nil),
        ("node/master-1", "service/shop/frontend:80", nil),
        ("external/203.0.113.7", "node/worker-3:30080", nil),
        ("pod/shop/frontend-3", "service/shop/api:9000", nil),                   // internalTrafficPolicy Local
        ("pod/shop/frontend-1", "service/monitoring/prometheus:9090", nil),
    ]

    @Test(arguments: ["demo", "ha-cluster"])
    func nftablesModeReachesTheSameEndpointsWithTheSameVerdictsAsIPTablesMode(topology: String) throws {
        let base = try Self.cluster(topology)
        var ipt = Dataplane(cluster: base)
        var nft = Dataplane(cluster: Self.nftables(base))
        for (from, to, via) in topology == "demo" ? Self.demoCases : Self.haCases {
            let a = try trace(from, to, plane: &ipt, allPaths: true, via: via)
            let b = try trace(from, to, plane: &nft, allPaths: true, via: via)
            #expect(Self.outcomes(a) == Self.outcomes(b), "\(topology): \(from) → \(to)")
            #expect(b.paths.contains { p in p.steps.contains { $0.table == "ip kube-proxy" } } || b.paths.allSatisfy { $0.verdict == .delivered },
                    "\(topology): \(from) → \(to): kube-proxy's nft table is walked")
            #expect(!b.paths.contains { p in p.steps.contains { $0.chain?.hasPrefix("KUBE-") == true } }, "\(topology): \(from) → \(to): no KUBE- iptables chains")
            let replies = zip(a.paths.sorted { $0.probability < $1.probability }, b.paths.sorted { $0.probability < $1.probability })
            for (x, y) in replies { #expect((x.reply?.reachedClient) == (y.reply?.reachedClient), "\(topology): \(from) → \(to): reply") }
        }
    }

    @Test func traceJSONHasTheSameSchemaInBothModes() throws {
        let base = try Self.cluster("demo")
        var ipt = Dataplane(cluster: base)
        var nft = Dataplane(cluster: Self.nftables(base))
        for (from, to, via) in Self.demoCases.prefix(5) {
            let a = try Self.schema(Self.json(try trace(from, to, plane: &ipt, via: via)))
            let b = try Self.schema(Self.json(try trace(from, to, plane: &nft, via: via)))
            #expect(a == b, "\(from) → \(to): \(a.symmetricDifference(b).sorted())")
        }
    }

    @Test func mapLookupStepsShowKeyAndElement() throws {
        var nft = Dataplane(cluster: Self.nftables(try Self.cluster("demo")))
        let t = try trace("pod/default/client", "service/default/web:80", plane: &nft)
        let lookup = try #require(t.paths[0].steps.first { $0.chain == "services" })
        #expect(lookup.action.hasPrefix("service-ips[10.105.17.17 . tcp . 80] → goto service-"))
        #expect(lookup.table == "ip kube-proxy")
    }
}
