import Foundation
import Testing

@Suite struct CompileCommandTests {
    @Test func restoreTextForADemoNode() throws {
        let r = try kdp("compile", "--node", "worker-1")
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("*filter\n:KUBE-SERVICES - [0:0]\n"))
        #expect(r.stdout.hasSuffix("COMMIT\n"))
        // default/kubernetes:https, the chain every real cluster has.
        #expect(r.stdout.contains("-A KUBE-SERVICES -m comment --comment \"default/kubernetes:https cluster IP\" -m tcp -p tcp -d 10.96.0.1 --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y"))
        #expect(r.stdout.contains("--or-mark 0x00004000"))
    }

    @Test func flagsChangeTheRules() throws {
        let base = try kdp("compile", "--node", "worker-1").stdout
        let all = try kdp("compile", "--node", "worker-1", "--masquerade-all", "--masquerade-bit", "15", "--random-fully",
                          "--detect-local-mode", "None", "--localhost-nodeports", "false")
        #expect(all.status == 0)
        #expect(all.stdout != base)
        #expect(all.stdout.contains("--or-mark 0x00008000"))
        #expect(all.stdout.contains("-j MASQUERADE --random-fully"))
        #expect(!all.stdout.contains("KUBE-FIREWALL"))
        #expect(all.stdout.contains("! -d 127.0.0.0/8 -j KUBE-NODEPORTS"))
    }

    @Test func canonicalOrderStartsWithNodePorts() throws {
        let r = try kdp("compile", "--node", "worker-1", "--order", "canonical")
        #expect(r.stdout.hasPrefix("*filter\n:KUBE-NODEPORTS - [0:0]\n:KUBE-SERVICES - [0:0]\n"))
    }

    @Test func saveFormatHasTheBuiltInChainsAndJumps() throws {
        let r = try kdp("compile", "--node", "worker-1", "--format", "save")
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("*mangle\n:PREROUTING ACCEPT [0:0]\n"))
        #expect(r.stdout.contains("-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n"))
        #expect(r.stdout.contains("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"))
        #expect(try kdp("compile", "--node", "worker-1", "--format", "save", "--order", "canonical").status == 2)
    }

    @Test func badUsageExitsTwo() throws {
        #expect(try kdp("compile", "--node", "nope").status == 2)
        #expect(try kdp("compile", "--node", "worker-1", "--masquerade-bit", "3", "--masquerade-mark", "0x8").status == 2)
        #expect(try kdp("compile", "--node", "worker-1", "--family", "ipv6").stderr.contains("no IPv6"))
        #expect(try kdp("compile", "--node", "worker-1", "--nodeport-addresses", "10.0.0.0/33").status == 2)
    }
}

@Suite struct IPVSSimulateCommandTests {
    static let scenario = """
    service: {protocol: tcp, vip: 10.96.0.10, port: 80, scheduler: rr}
    setup:
      - {op: add_dest, server: "10.244.1.1:8080", weight: 1}
      - {op: add_dest, server: "10.244.1.2:8080", weight: 1}
    events:
      - {op: connect, client: "192.168.10.1:40000"}
      - {op: connect, client: "192.168.10.2:40000"}
      - {op: check_counts}
    """

    @Test func jsonHasResultsAndIPVSAdmText() throws {
        let file = try temporaryFile(Self.scenario, name: "scenario.yaml")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let r = try kdp("ipvs", "simulate", file.path, "-o", "json")
        #expect(r.status == 0)
        let results = try #require(r.json["results"] as? [[String: Any]])
        #expect(results.count == 3)
        // rr walks the kernel's list, where a new server goes to the head: 1.2 first.
        #expect(results.map { $0["server"] as? String } == ["10.244.1.2:8080", "10.244.1.1:8080", nil])
        #expect((r.json["ipvsadm_Sn"] as? String)?.contains("-A -t 10.96.0.10:80 -s rr") == true)
    }

    @Test func badScenarioNamesTheEvent() throws {
        let file = try temporaryFile("service: {protocol: tcp, vip: 10.96.0.10, port: 80, scheduler: zz}\n", name: "bad.yaml")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let r = try kdp("ipvs", "simulate", file.path)
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("kdp: \(file.path):1:64: service: unknown scheduler \"zz\""))
    }
}

@Suite struct BenchCommandTests {
    @Test func jsonListsEveryMeasurement() throws {
        let r = try kdp("bench", "--services", "50", "--connections", "2000", "-o", "json")
        #expect(r.status == 0)
        let names = (r.json["results"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []
        for name in ["compile.iptables", "trace.iptables", "trace.ipvs", "parse.iptables.per_rule", "ipvs.new.rr", "ipvs.new.wrr", "ipvs.new.lc", "ipvs.new.wlc", "ipvs.new.sh", "ipvs.new.mh",
                     "ipvs.established", "baseline.hash_probe"] {
            #expect(names.contains(name), "missing \(name)")
        }
        let first = try #require((r.json["results"] as? [[String: Any]])?.first)
        #expect(first["ns_per_op"] as? Double ?? 0 > 0)
        #expect((r.json["workload"] as? [String: Any])?["services"] as? Int == 50)
    }

    @Test func sweepPlotsOneLinePerMeasurement() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-plot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let svg = dir.appendingPathComponent("bench.svg")
        let r = try kdp("bench", "--sweep", "20,40", "--connections", "1000", "--plot", svg.path, "-o", "json")
        #expect(r.status == 0)
        #expect((r.json["runs"] as? [[String: Any]])?.count == 2)
        // The sweep's flatness: each per-packet lookup at 40 Services over 20.
        #expect((r.json["sweep"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["lookup.iptables.compiled @40 / @20", "lookup.nftables @40 / @20"])
        let text = try String(contentsOf: svg, encoding: .utf8)
        #expect(text.hasPrefix("<svg "))
        #expect(text.components(separatedBy: "<polyline").count - 1 >= 9)  // every lookup, not compile
        #expect(text.contains(">ipvs.new.sh<"))
        #expect(try kdp("bench", "--plot", dir.appendingPathComponent("x.png").path).status == 2)
    }
}

@Suite struct IPVSModeCommandTests {
    @Test func compileInIPVSModePrintsEachToolsText() throws {
        let ipvs = try kdp("compile", "--node", "worker-1", "--proxy-mode", "ipvs", "--output-kind", "ipvs")
        #expect(ipvs.status == 0)
        #expect(ipvs.stdout.contains("-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 172.18.0.2:6443 -m -w 1\n"))
        let sets = try kdp("compile", "--node", "worker-1", "--proxy-mode", "ipvs", "--output-kind", "ipset")
        #expect(sets.stdout.hasPrefix("create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536"))
        #expect(sets.stdout.contains("add KUBE-CLUSTER-IP 10.96.0.1,tcp:443\n"))
        let rules = try kdp("compile", "--node", "worker-1", "--proxy-mode", "ipvs", "--output-kind", "iptables", "--format", "save")
        #expect(rules.stdout.contains("-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN\n"))
        let all = try kdp("compile", "--node", "worker-1", "--proxy-mode", "ipvs", "--ipvs-scheduler", "sh")
        #expect(all.stdout.contains("# ipvsadm -S -n\n") && all.stdout.contains("# ipset save\n") && all.stdout.contains("-s sh"))
    }

    @Test func ipvsShowListsTheNodesVirtualServers() throws {
        let r = try kdp("ipvs", "show", "--node", "worker-2")
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n"))
        #expect(r.stdout.contains("TCP  10.96.0.1:443 rr"))
        #expect(try kdp("ipvs", "show", "--node", "nope").status == 2)
    }
}
