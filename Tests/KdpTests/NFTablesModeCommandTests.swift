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
}
