import Foundation
import Testing
@testable import Cluster
@testable import Dataplane
@testable import KubeProxy
@testable import Netfilter
import TestSupport
import Wire

/// kdp's node settings against the kernel, in namespaces built from kdp's own model: the source
/// address of a node's packets (`ip route get`, and the address a pod sees), route_localnet on
/// a localhost NodePort, and a pod bridge with br_netfilter and hairpin mode on and off. They
/// need root, several namespaces, python3 and iptables: they run under CI=true as root.
@Suite(.serialized) struct NodeKernelKernelCheckTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    /// A TCP listener in `namespace` on `port` that writes each peer's address to `file`; it
    /// lives at most 20 s.
    static func listener(in namespace: String, port: Int, file: String) throws -> Process {
        let p = try Shell.spawn(["ip", "netns", "exec", namespace, "python3", "-c", """
        import socket
        s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", \(port))); s.listen(16); s.settimeout(20)
        try:
            while True:
                c, a = s.accept(); open("\(file)", "a").write(a[0] + "\\n"); c.close()
        except Exception:
            pass
        """])
        for _ in 0..<100 {
            if let out = try? Shell.sh("ss -Hltn sport = :\(port)", in: namespace), !out.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return p
    }

    /// One TCP connect (1.5 s at most) from `namespace`: whether it was answered.
    static func connects(from namespace: String, to address: String, _ port: Int) throws -> Bool {
        let out = try Shell.sh("""
        python3 -c '
        import socket
        s=socket.socket(); s.settimeout(1.5)
        try:
            s.connect(("\(address)", \(port))); print("connected")
        except Exception: print("failed")
        '
        """, in: namespace)
        return out.contains("connected")
    }

    // MARK: source address

    @Test(.enabled(if: KernelCheck.labEnabled))
    func theSourceOfANodesOwnPacketsIsTheKernels() throws {
        var plane = try demo()
        let worker = try #require(plane.node(named: "worker-1"))
        let node = try NetworkNamespace("src-n"), peer = try NetworkNamespace("src-p"), pod = try NetworkNamespace("src-w")
        // eth0 to a peer (so the node network has a carrier), cni0 with web-0's veth, and
        // every address and route kdp's CNI gives worker-1.
        try Shell.sh("ip -n \(node.name) link add eth0 type veth peer name eth0 netns \(peer.name)")
        try Shell.sh("ip -n \(node.name) link add cni0 type bridge && ip -n \(node.name) link set cni0 up")
        try Shell.sh("ip -n \(node.name) link add veth-web0 type veth peer name eth0 netns \(pod.name) && ip -n \(node.name) link set veth-web0 master cni0 up")
        for i in worker.network.interfaces where i.name != "lo" {
            for (a, len) in i.addresses where a.family == .ipv4 { try Shell.sh("ip -n \(node.name) addr add \(a)/\(len) dev \(i.name)") }
        }
        try Shell.sh("ip -n \(node.name) link set lo up && ip -n \(node.name) link set eth0 up && ip -n \(peer.name) link set eth0 up")
        try Shell.sh("ip -n \(peer.name) addr add 172.18.0.1/16 dev eth0")
        for r in worker.network.routes where r.family == .ipv4 && r.proto != "kernel" {
            try Shell.sh("ip -n \(node.name) route add \(r.description)")
        }
        let web0 = try #require(plane.cluster.pods.first { $0.name == "web-0" })
        let web0IP = try #require(web0.ip(.ipv4))
        try Shell.sh("ip -n \(pod.name) addr add \(web0IP)/24 dev eth0 && ip -n \(pod.name) link set eth0 up && ip -n \(pod.name) link set lo up && ip -n \(pod.name) route add default via 10.244.1.1")

        for dst in ["10.244.1.3", "10.244.2.2", "10.244.0.5", "10.96.0.10", "172.18.0.4", "203.0.113.7", "10.244.1.1", "172.18.0.3", "127.0.0.1"] {
            let out = try Shell.sh("ip route get \(dst)", in: node.name)
            let words = out.split(whereSeparator: \.isWhitespace)
            let kernel = try #require(words.firstIndex(of: "src").map { String(words[$0 + 1]) }, "\(out)")
            #expect(worker.host.outputSource(to: Self.ip(dst))?.description == kernel, "ip route get \(dst): \(out)")
        }

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-src-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let server = try Self.listener(in: pod.name, port: 8080, file: file)
        defer { Shell.stop(server); try? FileManager.default.removeItem(atPath: file) }
        #expect(try Self.connects(from: node.name, to: web0IP.description, 8080))
        Thread.sleep(forTimeInterval: 0.2)
        let seen = (try? String(contentsOfFile: file, encoding: .utf8))?.split(separator: "\n").first.map(String.init)
        let t = try trace("node/worker-1", "pod/default/web-0:8080", plane: &plane)
        #expect(seen == t.packet.source.description, "web-0 sees the connection from \(seen ?? "nothing"); kdp says \(t.packet.source)")
    }

    // MARK: route_localnet

    @Test(.enabled(if: KernelCheck.labEnabled))
    func aLocalhostNodePortNeedsRouteLocalnetAsTraceRulesSays() throws {
        let node = try NetworkNamespace("rln-n"), server = try NetworkNamespace("rln-s")
        try Shell.sh("""
        ip -n \(node.name) link add eth0 type veth peer name eth0 netns \(server.name) &&
        ip -n \(node.name) addr add 192.168.0.2/24 dev eth0 && ip -n \(server.name) addr add 192.168.0.3/24 dev eth0 &&
        ip -n \(server.name) addr add 10.180.0.2/24 dev eth0 &&
        ip -n \(node.name) link set lo up && ip -n \(node.name) link set eth0 up &&
        ip -n \(server.name) link set lo up && ip -n \(server.name) link set eth0 up &&
        ip -n \(node.name) route add 10.180.0.0/24 via 192.168.0.3
        """)
        let rules = """
        *nat
        :KUBE-SERVICES - [0:0]
        :KUBE-NODEPORTS - [0:0]
        :KUBE-POSTROUTING - [0:0]
        -A OUTPUT -j KUBE-SERVICES
        -A POSTROUTING -j KUBE-POSTROUTING
        -A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
        -A KUBE-NODEPORTS -d 127.0.0.0/8 -p tcp -m tcp --dport 3001 -j MARK --set-xmark 0x4000/0x4000
        -A KUBE-NODEPORTS -p tcp -m tcp --dport 3001 -j DNAT --to-destination 10.180.0.2:80
        -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
        -A KUBE-POSTROUTING -j MASQUERADE
        COMMIT

        """
        let r = try node.exec(["iptables-restore"], input: rules)
        try #require(r.status == 0, "iptables-restore: \(r.output)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-rln-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let listener = try Self.listener(in: server.name, port: 80, file: file)
        defer { Shell.stop(listener); try? FileManager.default.removeItem(atPath: file) }
        var req = TraceRulesRequest(rulesText: rules, rulesFile: "r", localAddresses: [Self.ip("192.168.0.2")],
                                    source: Self.ip("127.0.0.1"), destination: Self.ip("127.0.0.1"), destinationPort: 3001)
        req.routes = [try TraceRulesRequest.parseRoute("10.180.0.0/24,via=192.168.0.3,dev=eth0")]
        #expect(try req.run().notes.contains { $0.contains("route_localnet=1 (assumed") }, "the rules serve NodePorts on 127.0.0.1")
        for on in [false, true] {
            try Shell.sh("sysctl -qw net.ipv4.conf.all.route_localnet=\(on ? 1 : 0)", in: node.name)
            req.sysctls[.routeLocalnet] = on
            let t = try req.run()
            let kernel = try Self.connects(from: node.name, to: "127.0.0.1", 3001)
            #expect((t.paths[0].verdict == .accepted) == kernel, "route_localnet=\(on ? 1 : 0): kernel connected=\(kernel), kdp \(t.paths[0].verdict)")
            if on { #expect(t.paths[0].snat?.description == "192.168.0.2:40000") }
        }
        Thread.sleep(forTimeInterval: 0.2)
        let seen = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        #expect(seen.split(separator: "\n").map(String.init) == ["192.168.0.2"], "masqueraded to eth0's address, once")
    }

    // MARK: MASQUERADE's source

    @Test(.enabled(if: KernelCheck.labEnabled))
    func masqueradeTakesTheOutgoingInterfacesAddressInTheNextHopsSubnetAsTheKernelDoes() throws {
        let node = try NetworkNamespace("msq-n"), server = try NetworkNamespace("msq-s")
        try Shell.sh("""
        ip -n \(node.name) link add eth1 type veth peer name eth0 netns \(server.name) &&
        ip -n \(node.name) addr add 10.1.0.5/16 dev eth1 && ip -n \(node.name) addr add 10.2.0.5/16 dev eth1 &&
        ip -n \(server.name) addr add 10.2.0.1/16 dev eth0 && ip -n \(server.name) addr add 192.0.2.80/24 dev eth0 &&
        ip -n \(node.name) link set lo up && ip -n \(node.name) link set eth1 up &&
        ip -n \(server.name) link set lo up && ip -n \(server.name) link set eth0 up &&
        ip -n \(node.name) route add 192.0.2.0/24 via 10.2.0.1 && ip -n \(server.name) route add 10.0.0.0/8 dev eth0
        """)
        let rules = "*nat\n-A POSTROUTING -d 192.0.2.0/24 -j MASQUERADE\nCOMMIT\n"
        let r = try node.exec(["iptables-restore"], input: rules)
        try #require(r.status == 0, "iptables-restore: \(r.output)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-msq-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let listener = try Self.listener(in: server.name, port: 80, file: file)
        defer { Shell.stop(listener); try? FileManager.default.removeItem(atPath: file) }
        // The socket binds 10.1.0.5, so MASQUERADE has something to change.
        _ = try Shell.sh("""
        python3 -c '
        import socket
        s=socket.socket(); s.settimeout(1.5); s.bind(("10.1.0.5", 0))
        try:
            s.connect(("192.0.2.80", 80))
        except Exception: pass
        '
        """, in: node.name)
        Thread.sleep(forTimeInterval: 0.2)
        let seen = (try? String(contentsOfFile: file, encoding: .utf8))?.split(separator: "\n").first.map(String.init)
        var req = TraceRulesRequest(rulesText: rules, rulesFile: "r", localAddresses: [], source: Self.ip("10.1.0.5"),
                                    destination: Self.ip("192.0.2.80"))
        req.interfaces = [Interface(name: "eth1", addresses: [(Self.ip("10.1.0.5"), 16), (Self.ip("10.2.0.5"), 16)])]
        req.routes = [try TraceRulesRequest.parseRoute("192.0.2.0/24,via=10.2.0.1,dev=eth1")]
        let t = try req.run()
        #expect(seen == "10.2.0.5")
        #expect(t.paths[0].snat?.description.hasPrefix("\(seen ?? "?"):") == true, "kernel: \(seen ?? "nothing"); kdp: \(t.paths[0].snat?.description ?? "no SNAT")")
    }

    // MARK: bridge

    static let bridgeTopology = """
    kind: Topology
    nodes: [{name: n1, ip: 172.18.0.3}]
    pods:
      - {name: a, node: n1}
      - {name: b, node: n1, labels: {app: b}, ports: [{name: http, containerPort: 8080}]}
    services:
      - {name: b, clusterIP: 10.96.0.100, selector: {app: b}, ports: [{name: http, port: 80, targetPort: http}]}
    """

    @Test(.enabled(if: KernelCheck.labEnabled))
    func bridgeNFCallIPTablesAndHairpinModeChangeWhatConnectsAsTheKernelSays() throws {
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: Self.bridgeTopology, file: "t.yaml"))
        let n1 = try #require(cluster.node(named: "n1"))
        let network = NodeNetwork(node: n1, in: cluster)
        let gateway = try #require(network.interfaces.first { $0.name == "cni0" }?.addresses.first)
        let node = try NetworkNamespace("br-n"), podA = try NetworkNamespace("br-a"), podB = try NetworkNamespace("br-b")
        guard (try? Shell.sh("test -e /proc/sys/net/bridge/bridge-nf-call-iptables", in: node.name)) != nil else {
            print("skipping bridge kernel check: br_netfilter is not loaded (no /proc/sys/net/bridge in a namespace)")
            return
        }
        try Shell.sh("""
        ip -n \(node.name) link add eth0 type veth peer name eth0-peer && ip -n \(node.name) link set eth0-peer up && ip -n \(node.name) addr add 172.18.0.3/16 dev eth0 && ip -n \(node.name) link set eth0 up &&
        ip -n \(node.name) link add cni0 type bridge && ip -n \(node.name) addr add \(gateway.0)/\(gateway.1) dev cni0 && ip -n \(node.name) link set cni0 up &&
        ip -n \(node.name) link set lo up && ip netns exec \(node.name) sysctl -qw net.ipv4.ip_forward=1
        """)
        for (ns, name, port) in [(podA, "a", "veth-a"), (podB, "b", "veth-b")] {
            let podIP = try #require(cluster.pods.first { $0.name == name }?.ip(.ipv4))
            try Shell.sh("""
            ip -n \(node.name) link add \(port) type veth peer name eth0 netns \(ns.name) && ip -n \(node.name) link set \(port) master cni0 up &&
            ip -n \(ns.name) addr add \(podIP)/\(gateway.1) dev eth0 && ip -n \(ns.name) link set eth0 up && ip -n \(ns.name) link set lo up &&
            ip -n \(ns.name) route add default via \(gateway.0)
            """)
        }
        try node.setUpKubelet(family: .ipv4)
        var config = ProxierConfig.forNode(n1, in: cluster, family: .ipv4)
        config.randomFully = false
        let r = try node.exec(["iptables-restore", "--noflush"], input: IPTablesCompiler.compile(cluster, config: config).nodeRestoreText())
        try #require(r.status == 0, "iptables-restore: \(r.output)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-br-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let server = try Self.listener(in: podB.name, port: 8080, file: file)
        defer { Shell.stop(server); try? FileManager.default.removeItem(atPath: file) }

        var outcomes: [String: Bool] = [:]
        for brnf in [true, false] {
            for hairpin in [true, false] {
                try Shell.sh("sysctl -qw net.bridge.bridge-nf-call-iptables=\(brnf ? 1 : 0)", in: node.name)
                for port in ["veth-a", "veth-b"] { try Shell.sh("ip -n \(node.name) link set \(port) type bridge_slave hairpin \(hairpin ? "on" : "off")") }
                _ = try? Shell.sh("conntrack -F 2>/dev/null; true", in: node.name)
                let text = Self.bridgeTopology.replacingOccurrences(
                    of: "{name: n1, ip: 172.18.0.3}",
                    with: "{name: n1, ip: 172.18.0.3, hairpinMode: \(hairpin), sysctls: {net.bridge.bridge-nf-call-iptables: \(brnf ? 1 : 0)}}")
                var plane = try plane(text)
                for from in ["a", "b"] {
                    let t = try trace("pod/default/\(from)", "service/default/b:80", plane: &plane)
                    let kdp = t.paths[0].verdict == .delivered && t.paths[0].reply?.reachedClient == true
                    let kernel = try Self.connects(from: from == "a" ? podA.name : podB.name, to: "10.96.0.100", 80)
                    outcomes["\(brnf ? 1 : 0)/\(hairpin ? "on" : "off")/\(from)"] = kernel
                    #expect(kdp == kernel, "bridge-nf-call-iptables=\(brnf ? 1 : 0), hairpin \(hairpin ? "on" : "off"), pod \(from) → service b: kernel connected=\(kernel), kdp \(kdp)")
                }
            }
        }
        // What the kernel showed: hairpin mode matters only with br_netfilter on, and without it
        // a same-node Service connection fails (its reply is bridged without un-DNAT).
        #expect(outcomes == ["1/on/a": true, "1/on/b": true, "1/off/a": true, "1/off/b": false,
                             "0/on/a": false, "0/on/b": true, "0/off/a": false, "0/off/b": true])

        // Forwarding off: frames between the bridge's pods still pass; a Service is routed, even
        // when its DNAT leads back onto the bridge, and fails.
        try Shell.sh("sysctl -qw net.bridge.bridge-nf-call-iptables=1 && sysctl -qw net.ipv4.ip_forward=0", in: node.name)
        for port in ["veth-a", "veth-b"] { try Shell.sh("ip -n \(node.name) link set \(port) type bridge_slave hairpin on") }
        _ = try? Shell.sh("conntrack -F 2>/dev/null; true", in: node.name)
        var plane = try plane(Self.bridgeTopology.replacingOccurrences(
            of: "{name: n1, ip: 172.18.0.3}", with: "{name: n1, ip: 172.18.0.3, sysctls: {net.ipv4.ip_forward: 0}}"))
        let podBIP = try #require(cluster.pods.first { $0.name == "b" }?.ip(.ipv4))
        var forwardingOff: [String: Bool] = [:]
        for (from, to, address, port) in [("a", "service/default/b:80", "10.96.0.100", 80), ("b", "service/default/b:80", "10.96.0.100", 80),
                                          ("a", "pod/default/b:8080", podBIP.description, 8080)] {
            let t = try trace("pod/default/\(from)", to, plane: &plane)
            let kdp = t.paths[0].verdict == .delivered && t.paths[0].reply?.reachedClient == true
            let kernel = try Self.connects(from: from == "a" ? podA.name : podB.name, to: address, port)
            forwardingOff["\(from)→\(to)"] = kernel
            #expect(kdp == kernel, "ip_forward=0, pod \(from) → \(to): kernel connected=\(kernel), kdp \(kdp)")
        }
        #expect(forwardingOff == ["a→service/default/b:80": false, "b→service/default/b:80": false, "a→pod/default/b:8080": true])
    }
}
