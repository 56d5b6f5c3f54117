import Foundation
import Testing

/// kube-proxy's nftables mode through the commands users run: the recorded captures replay
/// with no mismatch and the same flows and deliveries as in iptables mode, and `kdp verify`
/// proves the demo's invariants over nft rules as it does over iptables ones.
@Suite struct NFTablesModeCommandTests {
    static let captures = ["affinity.pcap", "dns-udp.pcap", "http-web.pcap", "node-any.pcap", "nodeport.pcap", "refused.pcap"]

    @Test(arguments: captures)
    func recordedCapturesReplayInNFTablesModeAsInIPTablesMode(_ capture: String) throws {
        func summary(_ mode: String) throws -> [String: Any] {
            let r = try kdp("replay", "captures/" + capture, "--proxy-mode", mode, "--quiet", "-o", "json")
            #expect(r.status == 0, "\(mode): \(r.stderr)")
            return r.json
        }
        let nft = try summary("nftables"), ipt = try summary("iptables")
        let totals = { (j: [String: Any]) in j["summary"] as? [String: Any] ?? [:] }
        #expect(totals(nft)["mismatches"] as? Int == 0)
        for key in ["packets", "flows", "injected", "checked", "mismatches"] {
            #expect(totals(nft)[key] as? Int == totals(ipt)[key] as? Int, "\(key)")
        }
        #expect((totals(nft)["verdicts"] as? [String: Int]) == (totals(ipt)["verdicts"] as? [String: Int]))
    }

    @Test func verifyHoldsOnTheDemoInNFTablesMode() throws {
        let r = try kdp("verify", "--proxy-mode", "nftables", "--quiet", "-o", "json")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.json["holds"] as? Bool == true)
        let results = r.json["invariants"] as? [[String: Any]] ?? []
        #expect(results.count == 7)
        #expect(results.allSatisfy { ($0["violation_count"] as? Int) == 0 })
        #expect(results.first { $0["name"] as? String == "service-endpoints" }.flatMap { $0["classes"] as? Int } ?? 0 > 0)
    }
    /// kubeadm's dump (tests' kubeadm-flannel-configmaps.yaml) with its kube-proxy ConfigMap
    /// saying `mode: nftables`, as a v1.33+ cluster's says it.
    static func nftablesDump() throws -> URL {
        let original = try String(contentsOf: repositoryRoot.appendingPathComponent(clusterFixtures + "kubeadm-flannel-configmaps.yaml"), encoding: .utf8)
        #expect(original.contains("mode: ipvs"))
        return try temporaryFile(original.replacingOccurrences(of: "mode: ipvs", with: "mode: nftables"), name: "dump.yaml")
    }

    /// A dump is taken as it is: its ConfigMap's nftables mode is followed, not read as
    /// iptables. `kdp cluster` says so, and `kdp compile` with no --proxy-mode writes the nft table.
    @Test func aDumpsKubeProxyConfigMapSayingNFTablesIsFollowed() throws {
        let dump = try Self.nftablesDump()
        defer { try? FileManager.default.removeItem(at: dump.deletingLastPathComponent()) }
        let text = try kdp("cluster", "--topology", dump.path)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("kube-proxy nftables)"), "\(text.stdout.prefix(300))")
        #expect(!text.stderr.contains("kubeProxy.mode iptables assumed"), "\(text.stderr)")
        let json = try kdp("cluster", "--topology", dump.path, "-o", "json")
        #expect((json.json["cluster"] as? [String: Any])?["proxyMode"] as? String == "nftables")
        let compiled = try kdp("compile", "--topology", dump.path, "--node", "node-1")
        #expect(compiled.status == 0, "\(compiled.stderr)")
        #expect(compiled.stdout.hasPrefix("add table ip kube-proxy"), "\(compiled.stdout.prefix(200))")
        #expect(compiled.stdout.contains("add rule ip kube-proxy mark-for-masquerade mark set mark or 0x00002000"))  // masqueradeBit 13, as proxier.go spells it (%#08x)
    }

    /// A topology file's `kubeProxy.mode: nftables`: `kdp cluster` shows the mode, and a trace
    /// walks the nft table (its steps name `ip kube-proxy` rules).
    @Test func aTopologyInNFTablesModeShowsAndTracesIt() throws {
        let demo = try String(contentsOf: repositoryRoot.appendingPathComponent("topologies/demo.yaml"), encoding: .utf8)
        let file = try temporaryFile(demo.replacingOccurrences(of: "    mode: iptables\n", with: "    mode: nftables\n"))
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let cluster = try kdp("cluster", "--topology", file.path)
        #expect(cluster.status == 0 && cluster.stdout.contains("kube-proxy nftables)"), "\(cluster.stderr)")
        let trace = try kdp("trace", "--topology", file.path, "--from", "pod/default/client", "--to", "service/default/web:80", "-o", "json")
        #expect(trace.status == 0, "\(trace.stderr)")
        #expect(trace.stdout.contains("ip kube-proxy"), "\(trace.stdout.prefix(300))")
    }

    /// materialize loads iptables rules into namespaces; in nftables mode it refuses, naming
    /// where the mode was said (exit 2), before building anything.
    @Test(.enabled(if: geteuid() == 0, "needs root: materialize checks it can build before reading the topology"))
    func materializeRefusesNFTablesModeNamingWhereItWasSaid() throws {
        let dump = try Self.nftablesDump()
        defer { try? FileManager.default.removeItem(at: dump.deletingLastPathComponent()) }
        let r = try kdp("materialize", "--topology", dump.path, "--prefix", "kdpnftref-")
        #expect(r.status == 2)
        #expect(r.stderr.contains("kube-proxy mode nftables") && r.stderr.contains("dump.yaml"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }
}
