import Bench
import Cluster
import KubeProxy
import Netfilter
import Testing
import TestSupport
import Wire

/// The compiled lookup on the rules kube-proxy really writes (the shapes `kdp bench` measures):
/// every path, step and state change must be the linear walk's, for packets at ClusterIPs,
/// wrong ports, NodePorts, externalIPs, load-balancer IPs and anywhere, from a pod, from outside
/// and from the node itself.
@Suite struct CompiledKubeProxyDifferentialTests {
    @Test func compiledAndLinearAgreeOnKubeProxysOwnRules() throws {
        let cluster = try BenchCluster.build(BenchCluster.spec(services: 1_500, endpointsPerService: 2, seed: 3))
        let config = BenchCluster.proxierConfig(cluster)
        let node = cluster.nodes[1]
        let rules = try IPTablesCompiler.compile(cluster, config: config).netfilterRuleset(source: "generated")
        let linear = Tracer(ruleset: rules), compiled = Tracer(ruleset: rules, compiled: true)
        var targets: [(IPAddress, UInt16, IPProtocol)] = []
        var nodePorts: [(UInt16, IPProtocol)] = []
        for s in cluster.services where !s.headless && s.type != .externalName {
            for p in s.ports {
                for ip in s.clusterIPs + s.externalIPs + s.loadBalancerIngress.compactMap(\.ip) where ip.family == .ipv4 {
                    targets.append((ip, p.port, p.protocol))
                }
                if let np = p.nodePort { nodePorts.append((np, p.protocol)) }
            }
        }
        #expect(targets.count > 1_500 && !nodePorts.isEmpty)
        let nodeIP = try #require(node.internalIP(.ipv4))
        let pod = try #require(cluster.pods.first { $0.nodeName == node.name && !$0.hostNetwork })
        let podIP = try #require(pod.ips.first)
        let fresh = Host.simple(localAddresses: node.internalIPs)
        var hostL = fresh, hostC = fresh
        var rng = SeededGenerator(seed: 77)
        func r(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        var compared = 0
        for i in 0..<12_000 {
            if i % 64 == 0 { hostL = fresh; hostC = fresh }
            let (source, inInterface): (IPAddress, String?) = switch r(4) {
            case 0, 1: (podIP, "cni0")
            case 2: (.v4(IPv4Address(203, 0, 113, UInt8(r(250) + 1))), "eth0")
            default: (nodeIP, nil)
            }
            var destination: IPAddress = .v4(IPv4Address(UInt32(truncatingIfNeeded: rng.next())))
            var proto: IPProtocol = r(5) == 0 ? .udp : .tcp
            var port = UInt16(truncatingIfNeeded: r(65536))
            switch r(10) {
            case 0..<6: (destination, port, proto) = targets[r(targets.count)]
            case 6: (destination, port, proto) = targets[r(targets.count)]; port &+= 1
            case 7: (port, proto) = nodePorts[r(nodePorts.count)]; destination = nodeIP
            case 8: (port, proto) = nodePorts[r(nodePorts.count)]; destination = .v4(IPv4Address(127, 0, 0, 1))
            default: break
            }
            let packet = Packet(source: source, destination: destination, proto: proto,
                                sourcePort: UInt16(1024 + r(60000)), destinationPort: port, inInterface: inInterface)
            let o = TraceOptions(allPaths: i % 50 == 0, seed: UInt64(i), verbose: i % 97 == 0,
                                 recordSteps: i % 10 == 0 || i % 97 == 0)
            let a = linear.trace(packet: packet, host: hostL, options: o)
            let b = compiled.trace(packet: packet, host: hostC, options: o)
            let agree = a.paths.count == b.paths.count && zip(a.paths, b.paths).allSatisfy { $0.agrees(with: $1) }
            #expect(agree, "packet \(i) \(packet.summary) in \(packet.inInterface ?? "local")")
            if !agree { return }
            if !o.allPaths { hostL = a.paths[0].host; hostC = b.paths[0].host }
            compared += 1
        }
        #expect(compared == 12_000)
    }

    /// `--verbose` on the compiled lookup still lists the rules the index skipped, as "no match",
    /// exactly as the linear walk tries them.
    @Test func verboseCompiledTraceListsSkippedRules() throws {
        let cluster = try BenchCluster.build(BenchCluster.spec(services: 300, endpointsPerService: 2, seed: 4))
        let rules = try IPTablesCompiler.compile(cluster, config: BenchCluster.proxierConfig(cluster)).netfilterRuleset(source: "generated")
        let svc = try #require(cluster.services.last { !$0.headless && $0.type == .clusterIP })
        let packet = Packet(source: .v4(IPv4Address(10, 9, 0, 1)), destination: svc.clusterIPs[0], proto: svc.ports[0].protocol,
                            sourcePort: 40000, destinationPort: svc.ports[0].port, inInterface: "eth0")
        let host = Host.simple(localAddresses: cluster.nodes[1].internalIPs)
        let o = TraceOptions(verbose: true)
        let a = Tracer(ruleset: rules).trace(packet: packet, host: host, options: o).paths[0]
        let b = Tracer(ruleset: rules, compiled: true).trace(packet: packet, host: host, options: o).paths[0]
        #expect(a.steps == b.steps)
        #expect(b.steps.filter { $0.action == "no match" }.count > 250)
        #expect(b.rulesTried < a.rulesTried / 10)
    }
}
