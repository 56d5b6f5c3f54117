import Cluster
import Foundation
import Materialize
import Netlink
import TestSupport
import Testing
import Wire

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

private func loadTopology(_ relative: String) throws -> Cluster {
    try ClusterBuilder.load(paths: [repositoryRoot.appendingPathComponent(relative).path])
}

/// The namespaces `ip netns list` shows (its own words, not kdp's reading of /run/netns).
private func ipNetnsList() throws -> [String] {
    try Shell.sh("ip netns list").split(separator: "\n").map { String($0.split(separator: " ").first ?? "") }
}

/// A fresh prefix per test, so that runs never meet each other or a user's cluster.
private func uniquePrefix() -> String { "kdp-mt\(UInt32.random(in: 0...UInt32.max))-" }

/// `kdp materialize` against the running kernel: demo (host-gw) and ha-cluster (VXLAN) built
/// in namespaces with a random prefix, checked with `ip` (never kdp's own reading), pinged
/// across nodes, and deleted; every test deletes its prefix's namespaces however it ends.
/// Skipped with a message when not root; under CI=true they must run.
@Suite(.serialized) struct MaterializeTests {
    /// Builds `cluster` under a fresh prefix, runs `body`, and always removes the namespaces.
    func withMaterialized(_ cluster: Cluster, _ body: (MaterializeNames, MaterializeReport) throws -> Void) throws {
        guard !KernelCheck.unavailable() else { return }
        let names = MaterializeNames(prefix: uniquePrefix())
        defer {
            _ = try? Materializer.delete(prefix: names.prefix)
            // Belt and braces: nothing of this prefix may outlive the test.
            for n in (try? ipNetnsList()) ?? [] where n.hasPrefix(names.prefix) { _ = try? Shell.run(["ip", "netns", "del", n]) }
        }
        let report = try Materializer.build(cluster, prefix: names.prefix)
        try body(names, report)
        let deleted = try Materializer.delete(prefix: names.prefix)
        #expect(deleted.deleted.count == report.namespaces.count)
        #expect(try ipNetnsList().filter { $0.hasPrefix(names.prefix) }.isEmpty, "--delete leaves nothing behind")
    }

    /// `ip -j addr` of a namespace: interface name → "address/length" set (link-local IPv6 left out).
    func addresses(_ ns: String) throws -> [String: Set<String>] {
        let json = try Shell.sh("ip -n \(ns) -j addr show")
        let links = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [[String: Any]]
        var out: [String: Set<String>] = [:]
        for l in links {
            let name = l["ifname"] as! String
            for a in (l["addr_info"] as? [[String: Any]]) ?? [] where (a["scope"] as? String) != "link" || (a["family"] as? String) == "inet" {
                out[name, default: []].insert("\(a["local"]!)/\(a["prefixlen"]!)")
            }
        }
        return out
    }

    /// `ip -j route` (main table, IPv4) of a namespace as "dst via gw dev" strings.
    func routes(_ ns: String) throws -> Set<String> {
        let json = try Shell.sh("ip -n \(ns) -j -4 route show table main")
        let routes = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [[String: Any]]
        return Set(routes.map { r in
            "\(r["dst"]!) via \(r["gateway"] as? String ?? "-") dev \(r["dev"]!)" + (((r["flags"] as? [String]) ?? []).contains("onlink") ? " onlink" : "")
        })
    }

    /// What kdp computed, in the same shape.
    func expected(_ routes: [IPRoute]) -> Set<String> {
        Set(routes.filter { $0.family == .ipv4 }.map { r in
            let dst = r.destination.map { $0.length == 32 ? $0.network.description : $0.description } ?? "default"
            return "\(dst) via \(r.gateway?.description ?? "-") dev \(r.device)" + (r.onlink ? " onlink" : "")
        })
    }

    func expectMatchesKdp(_ cluster: Cluster, _ names: MaterializeNames) throws {
        for node in cluster.nodes {
            let ns = names.node(node.name)
            let net = NodeNetwork(node: node, in: cluster)
            let seen = try addresses(ns)
            for i in net.interfaces where i.kind != .loopback {
                #expect(seen[i.name] == Set(i.addresses.map { "\($0.0)/\($0.1)" }), "node \(node.name) \(i.name)")
            }
            #expect(try routes(ns) == expected(net.routes), "node \(node.name) routes")
        }
        for pod in cluster.pods {
            guard let net = PodNetwork(pod: pod, in: cluster) else { continue }
            let ns = names.pod(namespace: pod.namespace, name: pod.name)
            #expect(try addresses(ns)["eth0"] == Set(net.interfaces[1].addresses.map { "\($0.0)/\($0.1)" }), "pod \(pod.key)")
            #expect(try routes(ns) == expected(net.routes), "pod \(pod.key) routes")
        }
    }

    func ping(from: String, to ip: IPAddress) throws -> Bool {
        try Shell.run(["ip", "netns", "exec", from, "ping", "-c", "1", "-W", "1", "\(ip)"]).status == 0
    }

    @Test func demoIsBuiltWithKdpsAddressesRoutesSysctlsAndRulesAndPodsReachEachOtherAcrossNodes() throws {
        let cluster = try loadTopology("topologies/demo.yaml")
        try withMaterialized(cluster) { names, report in
            let podCount = cluster.pods.filter { !$0.hostNetwork }.count
            #expect(report.namespaces.count == 1 + cluster.nodes.count + podCount)
            #expect(Set(try ipNetnsList().filter { $0.hasPrefix(names.prefix) }) == Set(report.namespaces.map(\.name)))
            try expectMatchesKdp(cluster, names)
            // A second build with the same prefix is refused, and the first is left as it is.
            #expect(throws: MaterializeError.self) { try Materializer.build(cluster, prefix: names.prefix) }
            #expect(Set(try ipNetnsList().filter { $0.hasPrefix(names.prefix) }) == Set(report.namespaces.map(\.name)))
            let worker1 = names.node("worker-1")
            #expect(try Shell.sh("ip netns exec \(worker1) sysctl -n net.ipv4.ip_forward").hasPrefix("1"))
            // The pod's bridge port hairpins, as kubelet and the bridge plugin set it.
            let clientVeth = MaterializeNames.podVeth(namespace: "default", name: "client")
            #expect(try Shell.sh("ip -n \(worker1) -d link show \(clientVeth)").contains("hairpin on"))
            // The node's rules are kdp's, loaded into the node's own netfilter.
            let nat = try Shell.sh("ip netns exec \(worker1) iptables-save -t nat")
            #expect(nat.contains("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"))
            #expect(nat.contains("10.96.0.10/32"))
            // client (worker-1) to web-1 (worker-2): host-gw through the fabric, in the real kernel.
            let web1 = try #require(cluster.pods.first { $0.name == "web-1" }?.ips.first)
            #expect(try ping(from: names.pod(namespace: "default", name: "client"), to: web1))
            // Nothing of the host: the fabric holds only its bridge and ports.
            let fabricLinks = try Shell.sh("ip -n \(names.fabric) -o link show")
            #expect(fabricLinks.split(separator: "\n").count == 2 + cluster.nodes.count)
        }
    }

    @Test func haClusterIsBuiltWithFlannelVXLANAndPodsReachEachOtherThroughIt() throws {
        let cluster = try loadTopology("topologies/ha-cluster.yaml")
        #expect(cluster.settings.cni == .vxlan)
        try withMaterialized(cluster) { names, _ in
            try expectMatchesKdp(cluster, names)
            let w1 = names.node("worker-1")
            let fdb = try Shell.sh("bridge -n \(w1) fdb show dev flannel.1")
            #expect(fdb.contains("dst 192.168.10.22 self permanent"))
            #expect(try Shell.sh("ip -n \(w1) -d link show flannel.1").contains("vxlan id 1 local 192.168.10.21 dev eth0"))
            let a = try #require(cluster.pods.first { $0.nodeName == "worker-1" && !$0.hostNetwork })
            let b = try #require(cluster.pods.first { $0.nodeName == "worker-2" && !$0.hostNetwork })
            #expect(try ping(from: names.pod(namespace: a.namespace, name: a.name), to: b.ips[0]))
        }
    }

    @Test func theExternalNetworkReachesNodesAndVIPsThroughTheFabricAndIsDeletedWithThePrefix() throws {
        guard !KernelCheck.unavailable() else { return }
        let cluster = try loadTopology("topologies/demo.yaml")
        let names = MaterializeNames(prefix: uniquePrefix())
        defer {
            _ = try? Materializer.delete(prefix: names.prefix)
            for n in (try? ipNetnsList()) ?? [] where n.hasPrefix(names.prefix) { _ = try? Shell.run(["ip", "netns", "del", n]) }
        }
        let client = try IPAddress(parsing: "203.0.113.10")
        let external = ExternalNetwork.spreading(clients: [client], over: cluster)
        // demo's VIPs: web-lb's and web-lb-open's LoadBalancer IPs and web-external's external IP, one node each.
        #expect(external.vipRoutes.map(\.node) == ["control-plane", "worker-1", "worker-2"])
        let report = try Materializer.build(cluster, prefix: names.prefix, external: external)
        #expect(report.namespaces.last?.name == names.external)
        #expect(try ipNetnsList().contains(names.external))
        #expect(try Shell.sh("ip netns exec \(names.fabric) sysctl -n net.ipv4.ip_forward").hasPrefix("1"))
        let lbOpen = try IPAddress(parsing: "198.51.100.20")
        #expect(try Shell.sh("ip -n \(names.fabric) route show \(lbOpen)").contains("via 172.18.0.3 dev br0 onlink"))
        // The client reaches a node through the fabric, from its own address, and back.
        #expect(try Shell.run(["ip", "netns", "exec", names.external, "ping", "-c", "1", "-W", "1", "-I", "\(client)", "172.18.0.4"]).status == 0)
        // The cloud's load balancer moves the VIP to another node.
        try Materializer.routeVIP(lbOpen, to: "worker-2", cluster: cluster, prefix: names.prefix)
        #expect(try Shell.sh("ip -n \(names.fabric) route show \(lbOpen)").contains("via 172.18.0.4 dev br0 onlink"))
        let deleted = try Materializer.delete(prefix: names.prefix)
        #expect(deleted.deleted.contains(names.external))
        #expect(try ipNetnsList().filter { $0.hasPrefix(names.prefix) }.isEmpty)
    }

    @Test func aFailurePartWayRemovesWhatItMadeAndNothingElse() throws {
        guard !KernelCheck.unavailable() else { return }
        let cluster = try loadTopology("topologies/demo.yaml")
        let names = MaterializeNames(prefix: uniquePrefix())
        // A namespace in the way of the last pod: the build fails there.
        let blocker = names.pod(namespace: "default", name: "web-2")
        try Shell.sh("ip netns add \(blocker)")
        defer {
            _ = try? Shell.run(["ip", "netns", "del", blocker])
            _ = try? Materializer.delete(prefix: names.prefix)
        }
        #expect(throws: MaterializeError.self) { try Materializer.build(cluster, prefix: names.prefix) }
        #expect(try ipNetnsList().filter { $0.hasPrefix(names.prefix) } == [blocker], "only the namespace kdp did not make is left")
    }

    @Test func ipvsModeOnAKernelWithoutIPVSIsRefusedBeforeAnythingIsBuilt() throws {
        guard !KernelCheck.unavailable() else { return }
        guard try GenericNetlink.familyID("IPVS") == nil else {
            print("skipping the IPVS refusal check: this kernel has IPVS")
            return
        }
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("topologies/demo.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "mode: iptables", with: "mode: ipvs")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-mt-ipvs-\(getpid()).yaml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let cluster = try ClusterBuilder.load(paths: [file.path])
        let prefix = uniquePrefix()
        defer { _ = try? Materializer.delete(prefix: prefix) }
        let error = try #require(throws: MaterializeError.self) { try Materializer.build(cluster, prefix: prefix) }
        #expect(error.description.contains("no IPVS") && error.description.contains("ip_vs"))
        #expect(try ipNetnsList().filter { $0.hasPrefix(prefix) }.isEmpty)
    }

    @Test func prefixesAreCheckedAndOwnOnlyTheirNames() {
        #expect(MaterializeNames.problem(prefix: "kdp-") == nil)
        #expect(MaterializeNames.problem(prefix: "kdp") != nil)
        #expect(MaterializeNames.problem(prefix: "kdp.a-") != nil)
        #expect(MaterializeNames.problem(prefix: "") != nil)
        let short = MaterializeNames(prefix: "kdp-"), long = MaterializeNames(prefix: "kdp-a-")
        #expect(short.owns(short.node("worker-1")) && short.owns(short.fabric) && short.owns(short.pod(namespace: "default", name: "web-0")))
        #expect(short.owns(short.external) && !short.owns(long.external))
        #expect(!short.owns(long.fabric) && !short.owns(long.node("x")) && !short.owns(long.pod(namespace: "default", name: "x")))
        #expect(!short.owns("kdp-nl-123-456") && !short.owns("other"))
        #expect(MaterializeNames.podVeth(namespace: "default", name: "web-0").count == 12)
        #expect(MaterializeNames.fabricPort(index: 12, node: "a-very-long-node-name").count == MaterializeNames.interfaceNameLimit)
    }
}
