import Foundation
import Testing
import TestSupport

/// `kdp replay` through the binary: outputs read back by tcpdump, stable JSON, bad input.
@Suite struct ReplayCommandTests {
    static let client = "10.244.1.2"
    static let web = "10.105.17.17"   // the demo's `web` ClusterIP (kdp cluster)

    static func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func capture(in dir: URL, name: String = "in.pcap", _ build: (inout PacketFactory) -> Void) throws -> String {
        var f = PacketFactory()
        build(&f)
        let path = dir.appendingPathComponent(name).path
        try f.write(to: path)
        return path
    }

    /// `tcpdump -nr FILE`'s lines as `src > dst` (addresses with ports as tcpdump prints them:
    /// `10.244.1.2.40001`).
    static func tcpdump(_ path: String) throws -> [String] {
        let out = try Shell.run(["tcpdump", "-nr", path]).output
        return out.split(separator: "\n").compactMap { line in
            let w = line.split(separator: " ")
            guard let i = w.firstIndex(of: "IP"), w.count > i + 3 else { return nil }
            return "\(w[i + 1]) > \(w[i + 3].dropLast())"
        }
    }

    static func tcpdumpSpelling(_ endpoint: String) -> String {
        guard let colon = endpoint.lastIndex(of: ":") else { return endpoint }
        return endpoint[..<colon] + "." + endpoint[endpoint.index(after: colon)...]
    }

    @Test func perHopCapturesReadBackWithTcpdumpAndHoldWhatKdpsTraceSays() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Self.capture(in: dir) { f in
            for port in UInt16(40001)...40004 { f.connection(Self.client, port, Self.web, 80) }
            f.connection("203.0.113.5", 50000, "172.18.0.3", 30080)
        }
        let hops = dir.appendingPathComponent("hops").path
        let r = try kdp("replay", input, "--hops", hops, "--packets", "1000", "-o", "json", "--quiet")
        #expect(r.status == 0, "\(r.stderr)")
        var expected: [String: [String]] = [:]
        for p in r.json["packets"] as? [[String: Any]] ?? [] {
            for h in p["hops"] as? [[String: Any]] ?? [] {
                expected[h["file"] as! String, default: []].append("\(Self.tcpdumpSpelling(h["src"] as! String)) > \(Self.tcpdumpSpelling(h["dst"] as! String))")
            }
        }
        #expect(expected.keys.contains("default-client-eth0.pcap"))
        #expect(expected.keys.contains("worker-1-eth0.pcap"))
        #expect(expected.keys.contains("worker-1-cni0.pcap"))
        let files = try FileManager.default.contentsOfDirectory(atPath: hops).filter { $0.hasSuffix(".pcap") }
        #expect(Set(files) == Set(expected.keys))
        for file in files {
            #expect(try Self.tcpdump("\(hops)/\(file)") == expected[file], "\(file)")
        }
    }

    @Test func dashWWritesTheDeliveredPacketsAfterNATWithValidChecksums() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Self.capture(in: dir) { f in f.connection(Self.client, 40100, Self.web, 80) }
        let out = dir.appendingPathComponent("delivered.pcap").path
        let r = try kdp("replay", input, "-w", out, "--quiet")
        #expect(r.status == 0, "\(r.stderr)")
        let verbose = try Shell.run(["tcpdump", "-nvr", out]).output
        #expect(!verbose.contains("incorrect"))
        let lines = try Self.tcpdump(out)
        #expect(lines.count == 8)
        // The client's packets arrive at a web pod (DNATed), the replies at the client from the ClusterIP.
        #expect(lines[0].hasPrefix("\(Self.client).40100 > 10.244."))
        #expect(lines[0].hasSuffix(".8080"))
        #expect(lines[1] == "\(Self.web).80 > \(Self.client).40100")
    }

    @Test func theJSONSummaryKeepsItsKeys() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Self.capture(in: dir) { f in f.connection(Self.client, 40200, Self.web, 80) }
        let r = try kdp("replay", input, "-o", "json", "--quiet")
        #expect(r.status == 0)
        let summary = try #require(r.json["summary"] as? [String: Any])
        for key in ["packets", "flows", "injected", "checked", "undecodable", "verdicts", "mismatches"] { #expect(summary[key] != nil, "\(key)") }
        let verdicts = try #require(summary["verdicts"] as? [String: Int])
        #expect(Set(verdicts.keys) == ["delivered", "dropped", "rejected", "no-route", "left-cluster"])
        let service = try #require((r.json["services"] as? [[String: Any]])?.first)
        for key in ["service", "port", "flows", "endpoints"] { #expect(service[key] != nil, "\(key)") }
        #expect(r.json["drops"] is [Any] && r.json["nodes"] is [Any])
        #expect(r.json["packets"] == nil)
        let node = try #require((r.json["nodes"] as? [[String: Any]])?.first)
        #expect(node["name"] != nil && node["conntrack_entries"] != nil)
    }

    @Test func mergingShardSummariesGivesTheSingleRunsSummary() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Self.capture(in: dir) { f in
            for i in UInt16(0)..<4 {
                f.connection(Self.client, 43000 + i, Self.web, 80)
                f.connection("203.0.113.\(i + 1)", 44000 + i, "198.51.100.20", 80)
                f.connection("203.0.113.9", 45000 + i, "172.18.0.\(2 + i % 3)", 30080)
            }
        }
        let single = try kdp("replay", input, "-o", "json", "--quiet")
        var parts: [String] = []
        for k in 0..<2 {
            let part = dir.appendingPathComponent("shard\(k).json")
            let r = try kdp("replay", input, "--shard", "\(k)/2", "-o", "json", "--quiet")
            #expect(r.status == 0)
            try r.stdout.write(to: part, atomically: true, encoding: .utf8)
            parts.append(part.path)
        }
        let merged = try kdp(["replay", "--merge"] + parts + ["-o", "json"])
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(merged.stdout == single.stdout)
    }

    @Test func badInputsAreOneLineAndExitTwoAndNothingIsLeftBehind() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try Self.capture(in: dir) { f in f.connection(Self.client, 40300, Self.web, 80) }
        let text = dir.appendingPathComponent("notes.txt")
        try "not a capture\n".write(to: text, atomically: true, encoding: .utf8)
        // A capture cut inside its last record.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        let cut = dir.appendingPathComponent("cut.pcap")
        try bytes.prefix(bytes.count - 10).write(to: cut)
        let cases: [([String], String)] = [
            (["replay", text.path], "not a readable capture"),
            (["replay", cut.path], "truncated in packet 8"),
            (["replay", good, "--filter", "tcp port"], "does not compile"),
            (["replay", good, "--at", "pod/default/nope"], "nope"),
            (["replay", good, "--at", "node/worker-1/eth9"], "no interface eth9"),
            (["replay", good, "--via", "node/nowhere"], "nowhere"),
            (["replay", good, "-w", good], "never overwrites"),
            (["replay", good, "-w", dir.appendingPathComponent("missing/out.pcap").path], "cannot write"),
            (["replay", good, "--shard", "2/2"], "--shard"),
            (["replay", good, "--conntrack-max", "0"], "--conntrack-max"),
            (["replay", "--merge", text.path], "not a kdp replay JSON summary"),
        ]
        for (args, message) in cases {
            let r = try kdp(args)
            #expect(r.status == 2, "\(args)")
            #expect(r.stderr.hasPrefix("kdp: "), "\(args): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
        // The input is untouched and no temporary or partial output is left.
        #expect(try Data(contentsOf: URL(fileURLWithPath: good)) == bytes)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(left == ["cut.pcap", "in.pcap", "notes.txt"])
    }

    @Test func vxlanHopsAreEncapsulatedOnTheNodesEth0AndPlainOnFlannel() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        // ha-cluster.yaml runs flannel's VXLAN: frontend-1 (worker-1) to frontend-3 (worker-3).
        let input = try Self.capture(in: dir) { f in
            f.add(PacketFactory.tcp("10.244.3.4", 40000, "10.244.5.2", 80, .syn))
            f.add(PacketFactory.tcp("10.244.5.2", 80, "10.244.3.4", 40000, [.syn, .ack], seq: 100, ack: 2))
        }
        let hops = dir.appendingPathComponent("hops").path
        let r = try kdp("replay", input, "--topology", "topologies/ha-cluster.yaml", "--hops", hops, "--quiet")
        #expect(r.status == 0, "\(r.stderr)")
        let outer = try Shell.run(["tcpdump", "-nr", "\(hops)/worker-1-eth0.pcap", "-T", "vxlan"]).output
        #expect(outer.contains("192.168.10.21.49152 > 192.168.10.23.8472: VXLAN, flags [I] (0x08), vni 1"))
        #expect(outer.contains("10.244.3.4.40000 > 10.244.5.2.80: Flags [S]"))
        #expect(outer.contains("192.168.10.23.49152 > 192.168.10.21.8472: VXLAN"))
        #expect(try Self.tcpdump("\(hops)/worker-3-flannel.1.pcap") == ["10.244.3.4.40000 > 10.244.5.2.80", "10.244.5.2.80 > 10.244.3.4.40000"])
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs script(1) for a terminal"))
    func aLongReplayShowsProgressOnATerminalAndNoneWithQuiet() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        // One connection's established packets, many times; the line shows from the start
        // (KDP_PROGRESS_AFTER_MS=0: the flow cache replays them in well under a second).
        let input = try Self.capture(in: dir) { f in
            f.connection(Self.client, 40400, Self.web, 80)
            let ack = PacketFactory.tcp(Self.client, 40400, Self.web, 80, .ack, seq: 44, ack: 302)
            for _ in 0..<150_000 { f.add(ack) }
        }
        func onTerminal(_ extra: String) throws -> String {
            try Shell.run(["script", "-qec", "KDP_PROGRESS_AFTER_MS=0 \(kdpBinary.path) replay \(input) \(extra)", "/dev/null"]).output
        }
        let shown = try onTerminal("")
        #expect(shown.contains("kdp: replay: "), "\(shown.suffix(300))")
        #expect(shown.contains("packets/s") && shown.contains("% of the input") && shown.contains("s left"))
        #expect(!(try onTerminal("--quiet")).contains("kdp: replay: "))
        // Not a terminal: no progress line either.
        #expect(!(try kdp("replay", input)).stderr.contains("kdp: replay: "))
    }

    @Test func aPacketBridgedToAPodOfTheSameNodeKeepsItsTTLAndARoutedOneLosesOne() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        // web-0 (10.244.1.3) shares the client's bridge on worker-1: addressed directly, the
        // bridge forwards the frame and no router touches its TTL. web-1 (10.244.2.2) is on
        // worker-2: both nodes route it.
        let input = try Self.capture(in: dir) { f in
            f.add(PacketFactory.tcp(Self.client, 40500, "10.244.1.3", 8080, .syn))
        }
        let out = dir.appendingPathComponent("delivered.pcap").path
        let r = try kdp("replay", input, "-w", out, "--quiet")
        #expect(r.status == 0, "\(r.stderr)")
        let verbose = try Shell.run(["tcpdump", "-nvr", out]).output
        #expect(verbose.contains("ttl 64"), "\(verbose)")
        let routed = try Self.capture(in: dir, name: "routed.pcap") { f in
            f.add(PacketFactory.tcp(Self.client, 40501, "10.244.2.2", 8080, .syn))
        }
        let out2 = dir.appendingPathComponent("routed-out.pcap").path
        #expect(try kdp("replay", routed, "-w", out2, "--quiet").status == 0)
        // worker-1 and worker-2 both route it.
        #expect(try Shell.run(["tcpdump", "-nvr", out2]).output.contains("ttl 62"))
    }
}
