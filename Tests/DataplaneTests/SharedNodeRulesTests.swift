import Foundation
import Testing
@testable import Cluster
@testable import Dataplane
@testable import KubeProxy
@testable import Netfilter
import Wire

/// Every node's ruleset, assembled from pieces it shares with the cluster's other nodes, must
/// be exactly the ruleset the node builds alone: the same iptables-save text, the same chains
/// and rules, the same traces.
@Suite struct SharedNodeRulesTests {
    static func clusters() throws -> [(String, Cluster)] {
        let g = try ClusterBuilder.build(TopologyLoader.parse(
            text: TopologyGenerator.text(TopologyGenerator.Spec(nodes: 6, podsPerNode: 8, services: 160, endpointsPerService: 3, seed: 5)),
            file: "generated"))
        let hinted = g.endpointSlices.enumerated().map { i, s in
            var s = s
            if i % 2 == 0 { s.endpoints = s.endpoints.map { e in var e = e; e.hintsForNodes = e.nodeName.map { [$0] } ?? []; return e } }
            return s
        }
        return [
            ("generated", g),
            ("generated, node hints", Cluster(settings: g.settings, nodes: g.nodes, pods: g.pods, services: g.services,
                                              endpointSlices: hinted, notes: g.notes, inferred: g.inferred)),
            ("generated, NodeCIDR detector", g.withKubeProxy { $0.detectLocalMode = .nodeCIDR }),
            ("demo", try ClusterBuilder.load(paths: [])),
        ]
    }

    /// A rule as traces and printing see it (its line number aside: built rules carry 0).
    static func same(_ a: Netfilter.Rule, _ b: Netfilter.Rule) -> Bool {
        a.words == b.words && a.matches == b.matches && a.target == b.target && a.origin == b.origin && a.counters == b.counters
    }

    @Test func everyNodesSharedRulesetIsTheOneItBuildsAlone() throws {
        for (name, cluster) in try Self.clusters() {
            let plane = Dataplane(cluster: cluster)
            var rng = SeededGenerator(seed: 3)
            let vips = cluster.services.flatMap { s in (s.clusterIPs + s.loadBalancerIPs).flatMap { ip in s.ports.map { (ip, $0.port, $0.protocol) } } }
            for host in plane.nodes {
                for family in cluster.settings.families {
                    guard let shared = try host.rules.build(family)?.ruleset, let alone = try host.rules.buildAlone(family) else { continue }
                    #expect(shared.iptablesSave() == alone.iptablesSave(), "\(name): \(host.node.name) \(family)")
                    #expect(shared.lines == alone.lines)
                    #expect(shared.tables.map(\.name) == alone.tables.map(\.name))
                    for (t, u) in zip(shared.tables, alone.tables) {
                        #expect(t.chains.map(\.name) == u.chains.map(\.name), "\(name): \(host.node.name) \(t.name)")
                        for (c, d) in zip(t.chains, u.chains) {
                            #expect(c.policy == d.policy && c.rules.count == d.rules.count && zip(c.rules, d.rules).allSatisfy(Self.same),
                                    "\(name): \(host.node.name) \(c.name)")
                        }
                    }
                    let local = host.node.internalIPs.filter { $0.family == family }
                    let netHost = Host.simple(localAddresses: local)
                    // The node's own tracer, its chains prepared once per cluster (`PreparedChainStore`),
                    // against the ruleset it builds alone, prepared alone.
                    let a = try #require(try host.rules.compiled(for: family)).tracer, b = Tracer(ruleset: alone, compiled: true)
                    for i in 0..<120 where !vips.isEmpty {
                        let (dst, port, proto) = vips[Int.random(in: 0..<vips.count, using: &rng)]
                        guard dst.family == family else { continue }
                        let src: IPAddress = family == .ipv4 ? .v4(IPv4Address(10, 244, UInt8(i % 6), 5)) : dst
                        let packet = Packet(source: src, destination: dst, proto: proto, sourcePort: UInt16(30000 + i), destinationPort: port,
                                            inInterface: i % 3 == 0 ? "eth0" : "cni0")
                        let o = TraceOptions(allPaths: i % 2 == 0, seed: UInt64(i), verbose: i % 5 == 0)
                        let x = a.trace(packet: packet, host: netHost, options: o)
                        let y = b.trace(packet: packet, host: netHost, options: o)
                        #expect(x.text() == y.text(), "\(name): \(host.node.name) \(packet.summary)")
                    }
                }
            }
        }
    }

    @Test func identicalChainsOfTwoNodesShareOneContentID() throws {
        let (_, cluster) = try Self.clusters()[0]
        let plane = Dataplane(cluster: cluster)
        let rulesets = try plane.nodes.map { try #require($0.rules.build(.ipv4)?.ruleset) }
        var byID: [Int: Netfilter.Chain] = [:]
        var shared = 0, total = 0
        for rs in rulesets {
            for t in rs.tables {
                for c in t.chains where !c.rules.isEmpty {
                    total += 1
                    guard let id = c.contentID else { Issue.record("\(c.name) has no content ID"); continue }
                    if let seen = byID[id] {
                        shared += 1
                        #expect(seen == c)
                        #expect(seen.rules.withUnsafeBufferPointer { $0.baseAddress } == c.rules.withUnsafeBufferPointer { $0.baseAddress })
                    } else {
                        byID[id] = c
                    }
                }
            }
        }
        // Most chains of the second and later nodes are the first node's.
        #expect(shared * 10 >= (total - total / rulesets.count) * 8, "\(shared) of \(total)")
        // A chain that changes forgets its ID.
        var c = rulesets[0].tables[0].chains.first { $0.contentID != nil }!
        c.rules.removeLast()
        #expect(c.contentID == nil)
    }

    /// The kernel's load-time checks hold for assembled rulesets as for built ones, also when a
    /// run already passed them in another ruleset that reached it from other hooks.
    @Test func assemblyChecksHooksAndJumpsAsBuildDoes() throws {
        let store = Ruleset.SharedChains()
        func nat(_ chains: [String], _ rules: [(String, [String])]) -> Ruleset.Piece {
            Ruleset.Piece([Ruleset.TableRules(name: .nat, chains: chains, rules: rules.map { Ruleset.RuleSpec(chain: $0.0, words: $0.1) })], store: store)
        }
        let dnat = nat(["KUBE-X"], [("KUBE-X", ["-p", "tcp", "-j", "DNAT", "--to-destination", "10.0.0.1:80"])])
        let fromPrerouting = nat([], [("PREROUTING", ["-j", "KUBE-X"])])
        let fromInput = nat([], [("INPUT", ["-j", "KUBE-X"])])
        let ok = try Ruleset.assemble([fromPrerouting, dnat], source: "a", store: store)
        #expect(ok.iptablesSave() == (try Ruleset.build([Ruleset.TableRules(name: .nat, chains: ["KUBE-X"], rules: [
            .init(chain: "PREROUTING", words: ["-j", "KUBE-X"]),
            .init(chain: "KUBE-X", words: ["-p", "tcp", "-j", "DNAT", "--to-destination", "10.0.0.1:80"]),
        ])], source: "a")).iptablesSave())
        #expect(throws: RulesetParseError.self) { try Ruleset.assemble([fromInput, dnat], source: "b", store: store) }
        #expect(throws: RulesetParseError.self) { try Ruleset.assemble([nat([], [("PREROUTING", ["-j", "KUBE-MISSING"])])], source: "c", store: store) }
        #expect(throws: RulesetParseError.self) { try Ruleset.assemble([nat([], [("KUBE-NOWHERE", ["-j", "ACCEPT"])])], source: "d", store: store) }
        #expect(throws: RulesetParseError.self) { try Ruleset.assemble([nat(["KUBE-Y"], [("KUBE-Y", ["-m", "frobnicate"])])], source: "e", store: store) }
    }

    /// Nodes share the prepared form of their common chains: the same objects, not copies, and
    /// a chain one node has alone is its own.
    @Test func nodesSharePreparedChainsByContent() throws {
        let (_, cluster) = try Self.clusters()[0]
        let plane = Dataplane(cluster: cluster)
        let tracers = try plane.nodes.map { try #require(try $0.rules.compiled(for: .ipv4)).tracer }
        let a = try #require(tracers[1].prepared.tables[.nat]), b = try #require(tracers[2].prepared.tables[.nat])
        #expect(a.chains.count > 100)
        var same = 0, named = 0
        for (c, d) in zip(a.chains, b.chains) where !c.name.isEmpty && c.name == d.name {
            named += 1
            if c === d { same += 1 }
        }
        #expect(named > 100)
        #expect(Double(same) >= 0.8 * Double(named), "\(same) of \(named) chains shared")
        // A chain's number is the same on every node: the built-in chains too.
        #expect(a.builtin[.prerouting] == b.builtin[.prerouting])
    }
}
