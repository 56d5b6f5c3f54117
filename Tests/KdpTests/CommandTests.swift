import Foundation
import Testing

@Suite struct ClusterCommandTests {
    @Test func jsonHasTheKeysScriptsRelyOn() throws {
        let r = try kdp("cluster", "-o", "json")
        #expect(r.status == 0)
        let j = r.json
        let nodes = try #require(j["nodes"] as? [[String: Any]])
        #expect(nodes.count == 3)
        #expect(nodes[0]["name"] as? String == "control-plane")
        #expect(nodes[0]["internalIPs"] as? [String] == ["172.18.0.2"])
        #expect(nodes[0]["podCIDRs"] as? [String] == ["10.244.0.0/24"])
        let pods = try #require(j["pods"] as? [[String: Any]])
        let client = try #require(pods.first { $0["name"] as? String == "client" })
        #expect(client["namespace"] as? String == "default")
        #expect(client["node"] as? String == "worker-1")
        #expect(client["ips"] as? [String] == ["10.244.1.2"])
        #expect(client["hostNetwork"] as? Bool == false)
        let services = try #require(j["services"] as? [[String: Any]])
        let np = try #require(services.first { $0["name"] as? String == "web-nodeport" })
        #expect(np["namespace"] as? String == "default")
        #expect(np["type"] as? String == "NodePort")
        #expect((np["clusterIPs"] as? [String])?.count == 1)
        let port = try #require((np["ports"] as? [[String: Any]])?.first)
        #expect(port["name"] as? String == "http")
        #expect(port["protocol"] as? String == "TCP")
        #expect(port["port"] as? Int == 80)
        #expect(port["targetPort"] as? String == "http")
        #expect(port["nodePort"] as? Int == 30080)
        let slices = try #require(j["endpointSlices"] as? [[String: Any]])
        let web = try #require(slices.first { $0["service"] as? String == "web" })
        #expect(web["namespace"] as? String == "default")
        #expect((web["name"] as? String)?.hasPrefix("web-") == true)
        #expect(web["addressType"] as? String == "IPv4")
        #expect((web["ports"] as? [[String: Any]])?.first?["port"] as? Int == 8080)
        let eps = try #require(web["endpoints"] as? [[String: Any]])
        #expect(eps.map { $0["addresses"] as? [String] ?? [] } == [["10.244.1.3"], ["10.244.2.2"], ["10.244.2.3"]])
        #expect(eps.map { $0["nodeName"] as? String } == ["worker-1", "worker-2", "worker-2"])
        #expect(eps.allSatisfy { $0["ready"] as? Bool == true && $0["serving"] as? Bool == true && $0["terminating"] as? Bool == false })
    }

    @Test func demoTextShowsEveryTable() throws {
        let r = try kdp("cluster")
        #expect(r.status == 0)
        for heading in ["NODES", "PODS", "SERVICES", "ENDPOINTS"] { #expect(r.stdout.contains("\n\(heading)\n")) }
        #expect(r.stdout.contains("web-lb        LoadBalancer"))
        #expect(r.stdout.contains("198.51.100.10"))
    }

    @Test func yamlOutputIsYAML() throws {
        let r = try kdp("cluster", "-o", "yaml")
        #expect(r.status == 0)
        #expect(r.stdout.contains("nodes:\n- "))
    }

    @Test func sameInputSameOutput() throws {
        #expect(try kdp("cluster", "-o", "json").stdout == kdp("cluster", "-o", "json").stdout)
    }

    @Test func everyShippedTopologyLoadsThroughTheCommand() throws {
        let r = try kdp("cluster", "--topology", "topologies/ha-cluster.yaml", "-o", "json")
        #expect(r.status == 0)
        #expect((r.json["pods"] as? [Any])?.count == 30)
        #expect((r.json["nodes"] as? [Any])?.count == 6)
    }
}

@Suite struct BadInputExitTests {
    @Test func badTopologyExitsTwoWithFileLineAndProblem() throws {
        let file = try temporaryFile("kind: Topology\nnodes:\n  - {name: a, podCIDR: 10.244.0.0/33}\n")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let r = try kdp("cluster", "--topology", file.path)
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == "kdp: \(file.path):3:24: podCIDR: invalid \"10.244.0.0/33\": prefix length must be 0-32\n")
    }

    @Test func theUsersFileIsLeftAsItWas() throws {
        let text = "kind: Topology\nnodes: [{name: a}]\n"
        let file = try temporaryFile(text)
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        _ = try kdp("cluster", "--topology", file.path)
        #expect(try String(contentsOf: file, encoding: .utf8) == text)
    }

    @Test func missingFileExitsTwo() throws {
        let r = try kdp("cluster", "--topology", "/nonexistent/x.yaml")
        #expect(r.status == 2)
        #expect(r.stderr == "kdp: /nonexistent/x.yaml: no such file or folder\n")
    }

    @Test func unknownOptionsAndBadValuesExitTwo() throws {
        #expect(try kdp("cluster", "--frobnicate").status == 2)
        #expect(try kdp("cluster", "-o", "xml").status == 2)
        #expect(try kdp("nosuchcommand").status == 2)
        #expect(try kdp("routes").status == 2)  // needs --node or --pod
    }

    @Test func helpExitsZero() throws {
        let r = try kdp("--help")
        #expect(r.status == 0)
        #expect(r.stdout.contains("cluster"))
    }

    @Test func neverAStackTrace() throws {
        // Two topology files with cluster settings: which wins is the user's call, not kdp's.
        let r = try kdp("cluster", "--topology", "topologies")
        #expect(r.status == 2)
        #expect(r.stderr.contains("cluster settings given twice"))
        let bad = try temporaryFile(String(repeating: "[", count: 5000))
        defer { try? FileManager.default.removeItem(at: bad.deletingLastPathComponent()) }
        let e = try kdp("cluster", "--topology", bad.path)
        #expect(e.status == 2)
        #expect(!e.stderr.contains("Fatal error") && !e.stderr.contains("Stack dump"))
    }
}

@Suite struct RoutesCommandTests {
    @Test func nodeTableIsIpRouteText() throws {
        let r = try kdp("routes", "--node", "worker-2")
        #expect(r.status == 0)
        #expect(r.stdout == """
        $ ip route
        default via 172.18.0.1 dev eth0
        10.244.0.0/24 via 172.18.0.2 dev eth0
        10.244.1.0/24 via 172.18.0.3 dev eth0
        10.244.2.0/24 dev cni0 proto kernel scope link src 10.244.2.1
        172.18.0.0/16 dev eth0 proto kernel scope link src 172.18.0.4

        """)
    }

    @Test func jsonListsRoutesAndInterfaces() throws {
        let r = try kdp("routes", "--node", "worker-1", "-o", "json")
        let routes = try #require(r.json["routes"] as? [[String: Any]])
        #expect(routes.first?["destination"] as? String == "default")
        #expect(routes.first?["gateway"] as? String == "172.18.0.1")
        let ifaces = try #require(r.json["interfaces"] as? [[String: Any]])
        #expect(ifaces.first { $0["name"] as? String == "cni0" }?["addresses"] as? [String] == ["10.244.1.1/24"])
    }

    @Test func podTableRoutesViaTheGateway() throws {
        let r = try kdp("routes", "--pod", "default/client")
        #expect(r.stdout.contains("default via 10.244.1.1 dev eth0"))
    }

    @Test func unknownNodeSaysWhichExist() throws {
        let r = try kdp("routes", "--node", "worker-9")
        #expect(r.status == 2)
        #expect(r.stderr == "kdp: no node \"worker-9\"; nodes: control-plane, worker-1, worker-2\n")
    }
}

@Suite struct ResolveCommandTests {
    @Test func serviceNameResolvesToItsClusterIP() throws {
        let r = try kdp("resolve", "kube-dns.kube-system", "-o", "json")
        #expect(r.status == 0)
        #expect((r.json["records"] as? [[String: Any]])?.first?["data"] as? String == "10.96.0.10")
    }

    @Test func unknownNameExitsOneWithNXDOMAIN() throws {
        let r = try kdp("resolve", "nothing-here")
        #expect(r.status == 1)
        #expect(r.stdout.contains("NXDOMAIN"))
    }
}

@Suite struct GenerateCommandTests {
    @Test func generatedTopologyLoadsWithTheRequestedCounts() throws {
        let g = try kdp("generate", "--nodes", "12", "--pods-per-node", "5", "--services", "40", "--endpoints-per-service", "3", "--seed", "9")
        #expect(g.status == 0)
        let file = try temporaryFile(g.stdout)
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let r = try kdp("cluster", "--topology", file.path, "-o", "json")
        #expect(r.status == 0)
        #expect((r.json["nodes"] as? [Any])?.count == 12)
        #expect((r.json["pods"] as? [Any])?.count == 60)
        #expect((r.json["services"] as? [Any])?.count == 41)  // plus default/kubernetes
        let slices = try #require(r.json["endpointSlices"] as? [[String: Any]])
        let svc0 = try #require(slices.first { $0["service"] as? String == "svc-0" })
        #expect((svc0["endpoints"] as? [Any])?.count == 3)
    }

    @Test func sameSeedSameTopology() throws {
        #expect(try kdp("generate", "--services", "30", "--seed", "4").stdout == kdp("generate", "--services", "30", "--seed", "4").stdout)
        #expect(try kdp("generate", "--services", "30", "--seed", "4").stdout != kdp("generate", "--services", "30", "--seed", "5").stdout)
    }

    @Test func impossibleRequestsExitTwo() throws {
        let r = try kdp("generate", "--nodes", "2", "--pods-per-node", "1", "--services", "1", "--endpoints-per-service", "5")
        #expect(r.status == 2)
        #expect(r.stderr.contains("exceeds the 2 pods generated"))
        #expect(try kdp("generate", "--nodes", "0").status == 2)
    }
}
