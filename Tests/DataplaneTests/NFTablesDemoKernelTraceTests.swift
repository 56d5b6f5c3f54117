import Dataplane
import Foundation
@testable import Cluster
@testable import KubeProxy
import Netfilter
import TestSupport
import Testing
import Wire

/// kube-proxy's nftables mode on the real kernel, rule by rule, for every Service kind of the
/// demo (as `CompiledDemoKernelCheckTests` does for iptables mode): demo worker-1's, then
/// control-plane's, compiled `ip kube-proxy` table is loaded with `nft -f` into a KernelLab's
/// node, each probe is one TCP connect from the client, and for each SYN the kernel's path
/// (`nft monitor trace`: rule events by chain, handle and verdict; policies) and outcome
/// (conntrack's binding, or the refused / dropped connection) must be one of the paths
/// `kdp trace-rules --nft` gives for the same packet, read from the table as `nft -a list table`
/// printed it, with the node's addresses and routes (`ip addr`, `ip route` of the namespace).
/// The recorded run (Fixtures/nftables-demo-<phase>.{list-handles,monitor-trace,lab}, written
/// by the live test under KDP_RECORD_FIXTURES=1, nft 1.0.6, kernel 6.18) replays everywhere.
@Suite(.serialized) struct NFTablesDemoKernelTraceTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Probe: Hashable {
        let src: String, sport: UInt16, dst: String, dport: UInt16
    }

    /// One phase's run: what the kernel had and printed.
    struct Recording {
        /// `nft -a list table ip kube-proxy`: kdp's input, as a user gives `trace-rules --nft`.
        var table: String
        /// `nft -a monitor trace` over all the phase's probes.
        var monitor: String
        /// `ip -4 -o addr show` and `ip -4 route show` in the node.
        var addresses: String
        var routes: String
        /// Each probe and how the connect ended (`KernelLab.Outcome`).
        var probes: [(Probe, outcome: String)]
        /// `conntrack -L` after the probes.
        var conntrack: String

        /// The lab part as one text: `# ` headed sections.
        var labText: String {
            "# ip -4 -o addr show\n" + addresses + "# ip -4 route show\n" + routes
                + "# probes: source sport destination dport outcome\n"
                + probes.map { "\($0.0.src) \($0.0.sport) \($0.0.dst) \($0.0.dport) \($0.outcome)\n" }.joined()
                + "# conntrack -L\n" + conntrack
        }

        init(table: String, monitor: String, addresses: String, routes: String, probes: [(Probe, outcome: String)], conntrack: String) {
            (self.table, self.monitor, self.addresses, self.routes, self.probes, self.conntrack) = (table, monitor, addresses, routes, probes, conntrack)
        }

        init(table: String, monitor: String, lab: String) {
            var sections: [String: String] = [:]
            var current = ""
            for line in lab.split(separator: "\n") {
                if line.hasPrefix("# ") { current = String(line.dropFirst(2).prefix { $0 != ":" }); continue }
                sections[current, default: ""] += line + "\n"
            }
            let probes = (sections["probes"] ?? "").split(separator: "\n").map { l -> (Probe, outcome: String) in
                let f = l.split(separator: " ")
                return (Probe(src: String(f[0]), sport: UInt16(f[1])!, dst: String(f[2]), dport: UInt16(f[3])!), String(f[4]))
            }
            self.init(table: table, monitor: monitor, addresses: sections["ip -4 -o addr show"] ?? "",
                      routes: sections["ip -4 route show"] ?? "", probes: probes, conntrack: sections["conntrack -L"] ?? "")
        }
    }

    /// A run of probes: the node the lab's node plays, whether it has a default route, and the
    /// probes (each with a source port of its own).
    struct Phase {
        let name: String, node: String, defaultRoute: Bool
        let probes: [Probe]
    }

    /// The probes of `CompiledDemoKernelCheckTests`, on the same addresses: the lab's node plays
    /// worker-1 (node IP 172.18.0.3) and then control-plane (172.18.0.2, no web pod). A default
    /// route out n1 (as a real node has) lets traffic kube-proxy does not DNAT reach the
    /// forward hook, where nftables mode rejects and drops it; a last run without it shows such
    /// traffic dropped by routing before that.
    static func phases(_ cluster: Cluster) -> [Phase] {
        func svc(_ name: String) -> Service { cluster.service(namespace: "default", name: name)! }
        let web = svc("web").clusterIPs[0].description, canary = svc("web-canary").clusterIPs[0].description
        let lbNodePort = svc("web-lb").ports[0].nodePort!
        return [
            Phase(name: "worker-1", node: "worker-1", defaultRoute: true, probes: [
                Probe(src: "10.244.1.2", sport: 46001, dst: web, dport: 80),            // ClusterIP from a pod: DNAT, source kept
                Probe(src: "10.244.1.2", sport: 46002, dst: web, dport: 80),
                Probe(src: "203.0.113.5", sport: 46003, dst: web, dport: 80),           // ClusterIP from outside the pod CIDR: masquerade
                Probe(src: "203.0.113.5", sport: 46004, dst: "172.18.0.3", dport: 30080),  // NodePort, eTP=Cluster: DNAT + masquerade
                Probe(src: "203.0.113.5", sport: 46005, dst: "192.0.2.50", dport: 80),     // externalIP
                Probe(src: "203.0.113.5", sport: 46006, dst: "198.51.100.20", dport: 80),  // LB without source ranges
                Probe(src: "203.0.113.5", sport: 46007, dst: "198.51.100.10", dport: 80),  // LB with source ranges, allowed; eTP=Local, local endpoint
                Probe(src: "192.0.2.1", sport: 46008, dst: "198.51.100.10", dport: 80),    // LB, source not allowed: dropped by the firewall
                Probe(src: "203.0.113.5", sport: 46009, dst: canary, dport: 80),        // no endpoints: rejected
                Probe(src: "203.0.113.5", sport: 46010, dst: "172.18.0.3", dport: lbNodePort),  // eTP=Local NodePort, local endpoint: source kept
            ]),
            Phase(name: "control-plane", node: "control-plane", defaultRoute: true, probes: [
                Probe(src: "203.0.113.5", sport: 46011, dst: "172.18.0.2", dport: lbNodePort),  // eTP=Local NodePort without local endpoints: drop
                Probe(src: "203.0.113.5", sport: 46012, dst: "198.51.100.10", dport: 80),  // and the VIP: not DNATed, dropped
                Probe(src: "10.244.1.2", sport: 46013, dst: "198.51.100.10", dport: 80),   // a pod to the VIP: short-circuited to every endpoint
            ]),
            Phase(name: "worker-1-no-default-route", node: "worker-1", defaultRoute: false, probes: [
                Probe(src: "203.0.113.5", sport: 46014, dst: canary, dport: 80),        // no endpoints, but no route: dropped before the reject
                Probe(src: "203.0.113.5", sport: 46015, dst: "198.51.100.99", dport: 80),  // no Service, no route
            ]),
        ]
    }

    // MARK: the comparison

    /// One `nft monitor trace` event of table `ip kube-proxy`: a rule (chain, handle, verdict) or
    /// a base chain's policy (no handle).
    struct Event: Hashable, CustomStringConvertible {
        var chain: String
        var handle: Int?
        var verdict: String
        var description: String { handle.map { "\(chain) #\($0) \(verdict)" } ?? "\(chain) \(verdict)" }
    }

    /// The kernel's traced packets in order (only SYNs from n1 are traced), each with its
    /// source port and its `ip kube-proxy` events. A packet begins at its `kdptrace` packet
    /// line (the first base chain it meets), so a trace id the kernel reuses still splits.
    static func kernelPackets(_ monitor: String) -> [(sport: UInt16, events: [Event])] {
        var packets: [(sport: UInt16, events: [Event])] = []
        var current: [Substring: Int] = [:]
        for line in monitor.split(separator: "\n") where line.hasPrefix("trace id ") {
            let f = line.split(separator: " ", maxSplits: 7, omittingEmptySubsequences: false)
            guard f.count >= 7 else { continue }
            let (id, table, chain, kind) = (f[2], f[3] + " " + f[4], String(f[5]), f[6])
            let rest = f.count > 7 ? f[7] : ""
            if table == "ip kdptrace", kind == "packet:" {
                let words = rest.split(separator: " ")
                let sport = words.firstIndex(of: "sport").flatMap { $0 + 1 < words.count ? UInt16(words[$0 + 1]) : nil } ?? 0
                current[id] = packets.count
                packets.append((sport, []))
                continue
            }
            guard table == "ip kube-proxy", let i = current[id] else { continue }
            switch kind {
            case "rule":
                // `TEXT # handle N (verdict V)`
                guard let h = rest.range(of: " # handle ", options: .backwards),
                      let v = rest.range(of: " (verdict ", options: .backwards) else { continue }
                let handle = Int(rest[h.upperBound...].prefix { $0.isNumber })
                let verdict = rest[v.upperBound...].dropLast(rest.hasSuffix(")") ? 1 : 0)
                packets[i].events.append(Event(chain: chain, handle: handle, verdict: String(verdict)))
            case "policy":
                packets[i].events.append(Event(chain: chain, handle: nil, verdict: "policy " + (rest.split(separator: " ").first ?? "")))
            case "packet:":
                break
            default:
                // A return or any other event kdp does not model shows as a disagreement.
                packets[i].events.append(Event(chain: chain, handle: nil, verdict: kind + " " + rest.trimmingCharacters(in: .whitespaces)))
            }
        }
        return packets
    }

    /// kdp's path as the kernel traces it: each matched rule and policy of table ip kube-proxy,
    /// its action in the kernel's words (nft_do_chain reports a rule without a verdict as
    /// continue; nft_reject ends in NF_DROP, the nat statements in NF_ACCEPT).
    static func kdpEvents(_ p: NFTTracePath) -> [Event] {
        p.steps.compactMap { s -> Event? in
            guard s.table == "ip kube-proxy", let chain = s.chain else { return nil }
            var v = s.action
            if let arrow = v.range(of: " → ") { v = String(v[arrow.upperBound...]) }
            if v == "reject" { v = "drop" }
            if v.hasPrefix("dnat to") || v.hasPrefix("snat to") || v.hasPrefix("masquerade") { v = "accept" }
            if v.hasPrefix("mark set") || v.hasPrefix("update @") { v = "continue" }
            return Event(chain: chain, handle: s.handle ? s.rule : nil, verdict: v)
        }
    }

    /// The node as `ip -4 -o addr show` and `ip -4 route show` list it.
    static func node(_ r: Recording) throws -> (interfaces: [Interface], routes: [Route]) {
        var interfaces: [Interface] = []
        for line in r.addresses.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 4, f[2] == "inet" else { continue }
            let dev = String(f[1].prefix { $0 != "@" }), parts = f[3].split(separator: "/")
            let entry = (try IPAddress(parsing: String(parts[0])), Int(parts[1]) ?? 32)
            if let i = interfaces.firstIndex(where: { $0.name == dev }) { interfaces[i].addresses.append(entry) } else {
                interfaces.append(Interface(name: dev, addresses: [entry]))
            }
        }
        var routes: [Route] = []
        for line in r.routes.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            guard let dev = f.firstIndex(of: "dev").map({ f[$0 + 1] }) else { continue }
            let dest = f[0] == "default" ? "0.0.0.0/0" : f[0].contains("/") ? f[0] : f[0] + "/32"
            routes.append(Route(destination: try Prefix(parsing: dest), device: dev,
                                gateway: try f.firstIndex(of: "via").map { try IPAddress(parsing: f[$0 + 1]) },
                                source: try f.firstIndex(of: "src").map { try IPAddress(parsing: f[$0 + 1]) }))
        }
        return (interfaces, routes)
    }

    /// Compares one node's recording probe by probe; returns the disagreements (none: every
    /// traced SYN's path and outcome is one of kdp's) and how many probes were compared.
    static func compare(_ r: Recording, name: String) throws -> (mismatches: [String], compared: Int) {
        let (interfaces, routes) = try node(r)
        let packets = kernelPackets(r.monitor)
        let conntrack = ConntrackTable.parse(conntrackList: r.conntrack)
        var mismatches: [String] = []
        var compared = 0
        for (probe, outcome) in r.probes {
            let what = "\(name): \(probe.src):\(probe.sport) → \(probe.dst):\(probe.dport) (\(outcome))"
            var request = TraceRulesRequest(rulesText: "", rulesFile: name, localAddresses: interfaces.flatMap { $0.addresses.map(\.address) },
                                            source: try IPAddress(parsing: probe.src), sourcePort: probe.sport,
                                            destination: try IPAddress(parsing: probe.dst), destinationPort: probe.dport,
                                            proto: .tcp, inInterface: "n1", options: TraceOptions(allPaths: true, verbose: true))
            request.interfaces = interfaces
            request.routes = routes
            let trace = try NFTTraceRulesRequest(nftText: r.table, nftFile: name, request: request).run()
            let kdp = trace.paths.map { (path: $0, events: kdpEvents($0)) }
            let syns = packets.filter { $0.sport == probe.sport }
            guard !syns.isEmpty else { mismatches.append("\(what): the kernel traced no SYN"); continue }
            compared += 1
            // How the kernel ended the connection: conntrack's binding (reply tuple) when it
            // connected, refused for a reject, nothing for a drop.
            let entry = conntrack.entries.first { $0.original.source == request.source && $0.original.sourcePort == probe.sport }
            for syn in syns {
                let same = kdp.filter { $0.events == syn.events }
                guard !same.isEmpty else {
                    mismatches.append("\(what): kernel path\n  \(syn.events)\nis none of kdp's\n" + kdp.map { "  \($0.events)" }.joined(separator: "\n"))
                    continue
                }
                let agrees = same.contains { k in
                    switch outcome {
                    case "refused": return k.path.verdict == .rejected
                    case "timeout": return k.path.verdict == .dropped
                    case "connected":
                        guard let e = entry, k.path.verdict == .accepted else { return false }
                        let dnat = e.reply.source == e.original.destination && e.reply.sourcePort == e.original.destinationPort
                            ? nil : SocketAddress(e.reply.source, port: e.reply.sourcePort)
                        let snat = e.reply.destination == e.original.source ? nil : e.reply.destination
                        return k.path.dnat == dnat && k.path.snat?.address == snat
                    default: return false
                    }
                }
                if !agrees {
                    mismatches.append("\(what): kernel \(outcome), conntrack \(entry.map { "\($0.original) → reply \($0.reply)" } ?? "none"); kdp's path: "
                        + same.map { "\($0.path.verdict) dnat \($0.path.dnat?.description ?? "-") snat \($0.path.snat?.description ?? "-")" }.joined(separator: ", "))
                }
            }
        }
        return (mismatches, compared)
    }

    // MARK: the live run

    static let traceTable = """
    table ip kdptrace {
    \tchain pre {
    \t\ttype filter hook prerouting priority -350; policy accept;
    \t\tiifname "n1" tcp flags & (syn | ack) == syn meta nftrace set 1
    \t}
    }

    """

    /// Loads `node`'s compiled table into the lab, probes under `nft monitor trace`, and returns
    /// what the kernel had and printed.
    func record(_ node: String, _ probes: [Probe], _ cluster: Cluster, _ lab: KernelLab) throws -> Recording {
        _ = try? Shell.sh("nft delete table ip kube-proxy 2>/dev/null", in: lab.node)
        let (config, options, _) = NFTablesCompiler.config(for: cluster.node(named: node)!, in: cluster, family: .ipv4)
        try lab.load(NFTablesCompiler.compile(cluster, config: config, options: options).transactionText(), command: "nft -f -")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-nft-monitor-\(getpid())-\(node)")
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: file) }
        let monitor = Process()
        monitor.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        monitor.arguments = ["ip", "netns", "exec", lab.node, "nft", "-a", "monitor", "trace"]
        monitor.standardOutput = try FileHandle(forWritingTo: file)
        monitor.standardError = FileHandle.nullDevice
        try monitor.run()
        defer { Shell.stop(monitor) }
        Thread.sleep(forTimeInterval: 0.6)
        var outcomes: [(Probe, outcome: String)] = []
        for p in probes {
            outcomes.append((p, try lab.probe(.tcp, from: p.src, p.sport, to: p.dst, p.dport).rawValue))
        }
        Thread.sleep(forTimeInterval: 0.5)
        Shell.stop(monitor)
        return Recording(
            table: try Shell.sh("nft -a list table ip kube-proxy", in: lab.node),
            monitor: try String(contentsOf: file, encoding: .utf8),
            addresses: try Shell.sh("ip -4 -o addr show", in: lab.node),
            routes: try Shell.sh("ip -4 route show", in: lab.node),
            probes: outcomes,
            conntrack: try Shell.sh("conntrack -L 2>/dev/null; true", in: lab.node))
    }

    @Test(.enabled(if: KernelLab.enabled, "kernel check: needs CI=true and root (creates network namespaces)"))
    func kernelsNftTraceIsOneOfKdpsPathsForEveryServiceKindOfTheDemo() throws {
        guard (try? Shell.run(["sh", "-c", "command -v nft"]).status) == 0 else {
            Issue.record("nft not installed: the nftables kernel trace check cannot run")
            return
        }
        let cluster = try ClusterBuilder.load(paths: [])
        let lab = try KernelLab()
        defer { lab.close() }
        // As CompiledDemoKernelCheckTests: both node IPs on n1, the pod network behind the
        // server namespace, a pod (10.244.1.2) and outside clients behind the client namespace.
        try lab.playDemoNodes()
        try lab.exec(lab.node, "nft -f - <<'KDP_RULES'\n\(Self.traceTable)KDP_RULES\n")
        let write = ProcessInfo.processInfo.environment["KDP_RECORD_FIXTURES"] == "1"
        for phase in Self.phases(cluster) {
            try lab.exec(lab.node, phase.defaultRoute ? "ip route replace default via 10.99.1.2 dev n1" : "ip route del default 2>/dev/null; true")
            let r = try record(phase.node, phase.probes, cluster, lab)
            if write {
                let base = Self.fixtures.appendingPathComponent("nftables-demo-\(phase.name)")
                try r.table.write(to: base.appendingPathExtension("list-handles"), atomically: true, encoding: .utf8)
                try r.monitor.write(to: base.appendingPathExtension("monitor-trace"), atomically: true, encoding: .utf8)
                try r.labText.write(to: base.appendingPathExtension("lab"), atomically: true, encoding: .utf8)
            }
            let (mismatches, compared) = try Self.compare(r, name: phase.name)
            for m in mismatches { Issue.record("\(m)") }
            #expect(compared == phase.probes.count, "\(phase.name): \(compared) of \(phase.probes.count) probes compared")
            print("\(phase.name): \(compared) probes compared with nft monitor trace, \(mismatches.count) disagreements")
        }
    }

    // MARK: the recorded run

    static func recording(_ node: String) -> Recording? {
        let base = fixtures.appendingPathComponent("nftables-demo-\(node)")
        guard let table = try? String(contentsOf: base.appendingPathExtension("list-handles"), encoding: .utf8),
              let monitor = try? String(contentsOf: base.appendingPathExtension("monitor-trace"), encoding: .utf8),
              let lab = try? String(contentsOf: base.appendingPathExtension("lab"), encoding: .utf8) else { return nil }
        return Recording(table: table, monitor: monitor, lab: lab)
    }

    @Test(arguments: ["worker-1", "control-plane", "worker-1-no-default-route"])
    func recordedKernelTraceIsOneOfKdpsPaths(phase: String) throws {
        let r = try #require(Self.recording(phase), "Fixtures/nftables-demo-\(phase).*")
        let (mismatches, compared) = try Self.compare(r, name: phase)
        for m in mismatches { Issue.record("\(m)") }
        #expect(mismatches.isEmpty)
        let live = Self.phases(try ClusterBuilder.load(paths: [])).first { $0.name == phase }!.probes
        #expect(compared == r.probes.count && r.probes.map(\.0.sport) == live.map(\.sport), "every probe of the live list was recorded and compared")
        // Each traced SYN went through kube-proxy's chains (the recording is not empty).
        #expect(Self.kernelPackets(r.monitor).allSatisfy { !$0.events.isEmpty })
    }

    /// The recording covers every ending: connections DNATed (and masqueraded), refused, dropped.
    @Test func recordedProbesEndEveryWay() throws {
        let r = try #require(Self.recording("worker-1"))
        #expect(Set(r.probes.map(\.outcome)) == ["connected", "refused", "timeout"])
        let conntrack = ConntrackTable.parse(conntrackList: r.conntrack)
        #expect(conntrack.entries.contains { $0.reply.destination != $0.original.source }, "a masqueraded connection")
        #expect(conntrack.entries.contains { $0.reply.destination == $0.original.source && $0.reply.source != $0.original.destination },
                "a DNATed connection whose source was kept")
    }

    /// Routes given with none for the destination: the kernel dropped the SYN after
    /// nat-prerouting (no forward hook, no reject), and kdp says so, where it used to forward
    /// out an assumed eth0 and reject in filter-forward.
    @Test func withoutARouteKdpDropsWhereTheKernelDoes() throws {
        let r = try #require(Self.recording("worker-1-no-default-route"))
        let (interfaces, routes) = try Self.node(r)
        for (probe, outcome) in r.probes {
            #expect(outcome == "timeout")
            var request = TraceRulesRequest(rulesText: "", rulesFile: "worker-1", localAddresses: [], source: try IPAddress(parsing: probe.src),
                                            sourcePort: probe.sport, destination: try IPAddress(parsing: probe.dst), destinationPort: probe.dport,
                                            inInterface: "n1", options: TraceOptions(allPaths: true))
            request.interfaces = interfaces
            request.routes = routes
            let t = try NFTTraceRulesRequest(nftText: r.table, nftFile: "worker-1", request: request).run()
            #expect(t.paths.allSatisfy { $0.verdict == .dropped && $0.decidedBy == "routing" && $0.reason == "no route to \(probe.dst)" })
            #expect(t.paths.allSatisfy { p in !p.steps.contains { $0.hook == .forward } })
        }
    }

    /// The check cannot pass by accident: a changed handle, a swapped verdict or policy, another
    /// endpoint in conntrack, or another ending each make it disagree.
    @Test func aWrongHandleVerdictPolicyOrOutcomeIsCaught() throws {
        let r = try #require(Self.recording("worker-1"))
        #expect(try Self.compare(r, name: "worker-1").mismatches.isEmpty)
        /// The recording with the first line `matching` changed by `change`.
        func mutated(_ keyPath: WritableKeyPath<Recording, String>, _ matching: (Substring) -> Bool, _ change: (String) -> String) -> Recording {
            var m = r
            var lines = r[keyPath: keyPath].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if let i = lines.firstIndex(where: { matching($0[...]) }) { lines[i] = change(lines[i]) }
            m[keyPath: keyPath] = lines.joined(separator: "\n")
            #expect(m[keyPath: keyPath] != r[keyPath: keyPath], "the mutation changed something")
            return m
        }
        func kubeProxy(_ l: Substring) -> Bool { l.contains(" ip kube-proxy ") }
        let cases: [(String, Recording)] = [
            ("a handle", mutated(\.monitor, { kubeProxy($0) && $0.contains(" # handle ") }) {
                $0.replacingOccurrences(of: " # handle ", with: " # handle 10")
            }),
            ("a verdict", mutated(\.monitor, { kubeProxy($0) && $0.contains("(verdict accept)") }) {
                $0.replacingOccurrences(of: "(verdict accept)", with: "(verdict drop)")
            }),
            ("a jump's target", mutated(\.monitor, { kubeProxy($0) && $0.contains("(verdict jump ") }) {
                $0.replacingOccurrences(of: "(verdict jump ", with: "(verdict goto ")
            }),
            ("a policy", mutated(\.monitor, { kubeProxy($0) && $0.contains(" policy accept") }) {
                $0.replacingOccurrences(of: " policy accept", with: " policy drop")
            }),
            ("a rule left out", mutated(\.monitor, { kubeProxy($0) && $0.contains(" rule ") }) { _ in "" }),
            ("another endpoint", mutated(\.conntrack, { $0.contains("sport=46001 ") }) { line in
                // The reply tuple's source: the second `src=`.
                guard let first = line.range(of: "src="), let second = line.range(of: "src=", range: first.upperBound..<line.endIndex) else { return line }
                let end = line[second.upperBound...].firstIndex(of: " ") ?? line.endIndex
                return line.replacingCharacters(in: second.upperBound..<end, with: "10.244.9.9")
            }),
            ("another ending", { var m = r; m.probes[0].outcome = "timeout"; return m }()),
        ]
        for (what, m) in cases {
            #expect(!(try Self.compare(m, name: "worker-1").mismatches.isEmpty), "\(what) changed, and the check did not notice")
        }
    }
}
