import Foundation
import Testing
import Dataplane
import Netfilter
import TestSupport
import Wire

/// The kernel runs iptables-nft's tables and a native nft table at one hook by priority, as
/// `kdp trace-rules --rules --nft` says: in a namespace of its own, the node loads
/// `NFTMixedTraceRulesTests`' pair (iptables-nft-restore, nft -f) and a client in a second
/// namespace connects; conntrack's bindings and the rules' counters show who decided.
@Suite struct NFTMixedKernelCheckTests {
    @Test(.enabled(if: KernelCheck.labEnabled))
    func kernelOrdersIPTablesAndNFTChainsByPriorityAsKdpDoes() throws {
        let node = try NetworkNamespace("nmx-n"), client = try NetworkNamespace("nmx-c")
        defer { node.delete(); client.delete() }
        try Shell.sh("""
        ip -n \(client.name) link add eth0 type veth peer name eth0 netns \(node.name) &&
        ip -n \(client.name) addr add 192.168.1.9/24 dev eth0 && ip -n \(node.name) addr add 192.168.1.1/24 dev eth0 &&
        ip -n \(node.name) addr add 10.0.0.1/24 dev lo &&
        ip -n \(client.name) link set lo up && ip -n \(client.name) link set eth0 up &&
        ip -n \(node.name) link set lo up && ip -n \(node.name) link set eth0 up &&
        ip -n \(client.name) route add default via 192.168.1.1 && ip -n \(node.name) route add default via 192.168.1.9
        """)
        try Shell.sh("sysctl -qw net.ipv4.ip_forward=1", in: node.name)
        var r = try node.exec(["iptables-nft-restore"], input: NFTMixedTraceRulesTests.iptables)
        try #require(r.status == 0, "iptables-nft-restore: \(r.output)")
        r = try node.exec(["nft", "-f", "-"], input: NFTMixedTraceRulesTests.nft)
        try #require(r.status == 0, "nft -f: \(r.output)")
        for (vip, port) in [("10.96.0.1", 80), ("10.96.0.2", 80), ("10.96.0.3", 80), ("10.0.0.1", 2222)] {
            _ = try client.exec(["timeout", "-s", "KILL", "1", "bash", "-c", "echo > /dev/tcp/\(vip)/\(port)"])
        }
        let conntrack = try node.exec(["conntrack", "-L"]).output
        for vip in ["10.96.0.1", "10.96.0.2", "10.96.0.3"] {
            let line = try #require(conntrack.split(separator: "\n").first { $0.contains("dst=\(vip) ") }, "no connection to \(vip): \(conntrack)")
            // The reply tuple's source: the second `src=`, with its `sport=`.
            let fields = line.split(separator: " ")
            let srcs = fields.filter { $0.hasPrefix("src=") }, sports = fields.filter { $0.hasPrefix("sport=") }
            try #require(srcs.count == 2 && sports.count == 2)
            let kernel = "\(srcs[1].dropFirst(4)):\(sports[1].dropFirst(6))"
            let kdp = try NFTMixedTraceRulesTests().trace(vip, 80).paths[0].dnat?.description
            #expect(kdp == kernel, "\(vip): kernel bound \(kernel), kdp \(kdp ?? "nothing")")
        }
        // Port 2222: nft's chain at -200 counted the packet, iptables' filter ACCEPT never saw it.
        let listing = try node.exec(["nft", "list", "ruleset"]).output.split(separator: "\n")
        let iptAccept = try #require(listing.first { $0.contains("tcp dport 2222") && $0.contains("accept") })
        let nftDrop = try #require(listing.first { $0.contains("tcp dport 2222") && $0.contains("drop") })
        #expect(iptAccept.contains("packets 0 "), "\(iptAccept)")
        #expect(!nftDrop.contains("packets 0 "), "\(nftDrop)")
        #expect(try NFTMixedTraceRulesTests().trace("10.0.0.1", 2222).paths[0].verdict == .dropped)
    }
}
