import Cluster
import Dataplane
import Netfilter
import Testing
@testable import Verification
import Wire

/// The classes cover the header space: a random concrete packet, traced on its own, takes the
/// paths its class's representative took (the same verdicts, shares, deliveries and rewrites).
@Suite struct ClassCoverageTests {
    struct Seen {
        var proto: IPProtocol
        var senders: Set<String>
        var receivers: Set<String>
        var dports: PortRange
        var sports: PortRange
        var signature: [String]
    }

    /// What a class answers, relative to the packet sent: comparable across its members.
    static func signature(_ paths: [DataplanePath], sent: Packet, receiver: Receiver) -> [String] {
        paths.map { p in
            let f = p.finalPacket
            var to = p.deliveredTo?.description ?? "-"
            if let pod = receiver.pod, p.deliveredTo == .pod(namespace: pod.namespace, name: pod.name) { to = "the receiver" }
            let dst = f.destination == sent.destination && f.destinationPort == sent.destinationPort ? "dst kept" : "dst \(f.destination):\(f.destinationPort)"
            let src = f.source == sent.source ? "src kept" : "src \(f.source)"
            let reply = p.reply.map { "reply \($0.reachedClient)" } ?? "-"
            return "\(p.verdict.rawValue) \((p.probability * 1e6).rounded()) \(to) \(dst) \(src) \(reply)"
        }.sorted()
    }

    @Test(arguments: ["topologies/demo.yaml", "topologies/ha-cluster.yaml", "topologies/broken/kube-proxy-cluster-cidr-narrow.yaml",
                      "topologies/broken/host-gw-other-subnet.yaml", "topologies/broken/endpoint-not-ready.yaml"])
    func randomPacketsAgreeWithTheirClass(_ file: String) throws {
        let cluster = try loadTopology(file)
        let verifier = try Verifier(cluster: cluster)
        let pods = verifier.podReceivers(.ipv4)
        var receivers = pods
        for s in cluster.services where !s.headless && s.externalName == nil {
            guard let vip = s.clusterIP(.ipv4) else { continue }
            for p in s.ports { receivers.append(Receiver(address: vip, port: p.port, pod: nil, service: s, label: "\(s.key):\(p.port)/\(p.protocol)")) }
        }
        let senders = pods.map { Sender(source: .pod($0.pod!), address: $0.address, label: $0.label) }
        var explorer = ClassExplorer(plane: Dataplane(cluster: cluster), senders: senders, receivers: receivers, withReply: true)
        var seen: [Seen] = []
        let byNode = Dictionary(grouping: senders.indices) { senders[$0].source.node ?? "" }
        for group in byNode.values {
            for (proto, ports) in ClassExplorer.protocols(.ipv4) {
                let region = PacketRegion(senders: group, receivers: Array(pods.indices), proto: proto, destinationPorts: ports,
                                          sourcePorts: proto.hasPorts ? PortRange(1, 65535) : PortRange(0, 0))
                explorer.explore(region) { c, paths in
                    seen.append(Seen(proto: c.proto, senders: Set(c.senders), receivers: Set(c.receivers), dports: c.destinationPorts,
                                     sports: c.sourcePorts, signature: Self.signature(paths, sent: c.example, receiver: c.exampleReceiver)))
                }
            }
            for r in pods.count..<receivers.count {
                let proto = receivers[r].service!.ports.first { "\(receivers[r].service!.key):\($0.port)/\($0.protocol)" == receivers[r].label }!.protocol
                let region = PacketRegion(senders: group, receivers: [r], proto: proto, destinationPorts: PortRange(receivers[r].port!),
                                          sourcePorts: PortRange(1, 65535))
                explorer.explore(region) { c, paths in
                    seen.append(Seen(proto: c.proto, senders: Set(c.senders), receivers: Set(c.receivers), dports: c.destinationPorts,
                                     sports: c.sourcePorts, signature: Self.signature(paths, sent: c.example, receiver: c.exampleReceiver)))
                }
            }
        }
        #expect(!seen.isEmpty)
        var rng = SeededGenerator(seed: 7)
        var checked = 0
        for _ in 0..<300 {
            let s = Int.random(in: 0..<senders.count, using: &rng)
            let r = Int.random(in: 0..<receivers.count, using: &rng)
            guard senders[s].address != receivers[r].address else { continue }
            let protos = ClassExplorer.protocols(.ipv4)
            var (proto, ports) = protos[Int.random(in: 0..<protos.count, using: &rng)]
            if let fixed = receivers[r].port {
                proto = receivers[r].service!.ports.first { "\(receivers[r].service!.key):\($0.port)/\($0.protocol)" == receivers[r].label }!.protocol
                ports = PortRange(fixed)
            }
            let dport = proto.hasPorts ? UInt16.random(in: ports.lower...ports.upper, using: &rng) : 0
            let sport = proto.hasPorts ? UInt16.random(in: 1...65535, using: &rng) : 0
            let owner = try #require(seen.first { c in
                c.proto == proto && c.senders.contains(senders[s].label) && c.receivers.contains(receivers[r].label)
                    && c.dports.contains(dport) && c.sports.contains(sport)
            }, "no class holds \(proto) \(senders[s].label):\(sport) → \(receivers[r].label):\(dport)")
            let traced = explorer.trace(sender: senders[s], receiver: receivers[r], proto: proto, dport: dport, sport: sport)
            let (sent, paths) = try #require(traced)
            #expect(Self.signature(paths, sent: sent, receiver: receivers[r]) == owner.signature,
                    "\(file): \(proto) \(senders[s].label):\(sport) → \(receivers[r].label):\(dport)")
            checked += 1
        }
        #expect(checked > 200)
    }
}
