import Foundation
import Testing

/// `trace-rules --sysctl/--iface/--route` and the topology's per-node kernel settings, from the
/// command line: what is given is used, what is not is assumed and said.
@Suite struct AssumptionFlagTests {
    static let rules = """
    *nat
    :KUBE-SERVICES - [0:0]
    :KUBE-NODEPORTS - [0:0]
    :KUBE-POSTROUTING - [0:0]
    -A OUTPUT -j KUBE-SERVICES
    -A POSTROUTING -j KUBE-POSTROUTING
    -A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
    -A KUBE-NODEPORTS -p tcp -m tcp --dport 3001 -j MARK --set-xmark 0x4000/0x4000
    -A KUBE-NODEPORTS -p tcp -m tcp --dport 3001 -j DNAT --to-destination 10.180.0.2:80
    -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
    -A KUBE-POSTROUTING -j MASQUERADE
    COMMIT

    """

    func withRules<T>(_ body: (String) throws -> T) throws -> T {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-assume-\(UUID().uuidString)")
        try Self.rules.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return try body(file.path)
    }

    @Test func sysctlIfaceAndRouteAreUsedAndAssumptionsAreNoted() throws {
        try withRules { rules in
            let base = ["trace-rules", "--rules", rules, "--src", "127.0.0.1", "--dst", "127.0.0.1", "--dport", "3001", "-o", "json"]
            let assumed = try kdp(base + ["--local-ip", "192.168.0.2"])
            #expect(assumed.status == 0)
            let notes = try #require(assumed.json["notes"] as? [String])
            #expect(notes.contains { $0.hasPrefix("assumed: eth0 has 192.168.0.2/24") })
            #expect(notes.contains { $0.hasPrefix("assumed: default route out eth0") })
            #expect(notes.contains { $0.contains("route_localnet=1 (assumed") })
            #expect((assumed.json["paths"] as? [[String: Any]])?.first?["snat"] as? String == "192.168.0.2:40000")

            let stated = try kdp(base + ["--iface", "eth0=192.168.0.2/24", "--iface", "eth1=10.2.0.5/16",
                                         "--route", "default,via=192.168.0.1,dev=eth0", "--route", "10.180.0.0/16,via=10.2.0.1,dev=eth1"])
            #expect(stated.status == 0, "\(stated.stderr)")
            let statedNotes = try #require(stated.json["notes"] as? [String])
            #expect(!statedNotes.contains { $0.hasPrefix("assumed:") })
            let path = try #require((stated.json["paths"] as? [[String: Any]])?.first)
            #expect(path["snat"] as? String == "10.2.0.5:40000", "MASQUERADE takes eth1's address")
            #expect(path["delivered_to"] as? String == "out eth1")

            let off = try kdp(base + ["--local-ip", "192.168.0.2", "--sysctl", "net.ipv4.conf.all.route_localnet=0"])
            #expect(off.status == 0)
            #expect((off.json["paths"] as? [[String: Any]])?.first?["verdict"] as? String == "dropped")
            #expect((off.json["notes"] as? [String])?.contains { $0.contains("route_localnet=0 (given)") } == true)
        }
    }

    @Test func badSysctlIfaceOrRouteValuesExitTwoWithOneLine() throws {
        try withRules { rules in
            let base = ["trace-rules", "--rules", rules, "--local-ip", "192.168.0.2", "--src", "127.0.0.1", "--dst", "127.0.0.1"]
            for extra in [["--sysctl", "net.ipv4.ip_fwd=1"], ["--sysctl", "net.ipv4.ip_forward=yes"], ["--iface", "eth1=10.0.0.1"],
                          ["--route", "10.0.0.0/8"], ["--route", "10.0.0.0/8,dev=eth9"], ["--route", "10.0.0.0/8,via=x,dev=eth0"]] {
                let r = try kdp(base + extra)
                #expect(r.status == 2, "\(extra)")
                #expect(r.stderr.hasPrefix("kdp: ") && r.stderr.split(separator: "\n").count == 1, "\(extra): \(r.stderr)")
                #expect(r.stdout.isEmpty)
            }
        }
    }

    @Test func traceNotesEachNodesKernelSettingsFromTheTopology() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-assume-topo-\(UUID().uuidString).yaml")
        try """
        kind: Topology
        nodes: [{name: n1, ip: 172.18.0.3, hairpinMode: false, sysctls: {net.bridge.bridge-nf-call-iptables: 0}}]
        pods:
          - {name: a, node: n1}
          - {name: b, node: n1, labels: {app: b}, ports: [{name: http, containerPort: 8080}]}
        services:
          - {name: b, selector: {app: b}, ports: [{name: http, port: 80, targetPort: http}]}
        """.write(to: dir, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try kdp(["trace", "--topology", dir.path, "--from", "pod/default/a", "--to", "service/default/b:80"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("note: node n1: net.ipv4.ip_forward=1 (assumed), net.ipv4.conf.all.route_localnet=1 (set by kube-proxy: localhost NodePorts), net.bridge.bridge-nf-call-iptables=0 (topology), cni0 hairpin mode off (topology)"))
        #expect(r.stdout.contains("the reply does NOT reach the client"))
    }
}
