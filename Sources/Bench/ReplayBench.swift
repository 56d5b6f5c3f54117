import Captures
import Cluster
import Dataplane
import Foundation

/// `replay.*`: `kdp replay`'s speed on a generated capture, beside `tcpdump -r FILE -w
/// /dev/null` on the same file in the same run (the ratio is the target: at least half of
/// tcpdump's packet rate), the rate of new flows (each walks every hook), and the memory the
/// replay held against the file's size (memory grows with the flows, not the packets).
public enum ReplayBench {
    public struct Figures: Encodable, Sendable {
        public var packets: Int
        public var flows: Int
        public var services: Int
        public var fileBytes: Int
        public var packetsPerSecond: Double
        public var tcpdumpPacketsPerSecond: Double?
        /// replay / tcpdump packet rates (target ≥ 0.5).
        public var vsTCPDump: Double?
        public var newFlowsPerSecond: Double
        /// The process's peak resident memory after the replay, in bytes (getrusage).
        public var maxResidentBytes: Int
        /// Resident memory halfway through a replay of a capture twice as long (same flows), and
        /// at its end: memory follows the flows, not the file, so the two are close.
        public var residentHalfwayBytes: Int
        public var residentEndBytes: Int

        enum CodingKeys: String, CodingKey {
            case packets, flows, services, fileBytes = "file_bytes", packetsPerSecond = "replay.packets_per_s"
            case tcpdumpPacketsPerSecond = "tcpdump.packets_per_s", vsTCPDump = "replay.vs_tcpdump"
            case newFlowsPerSecond = "replay.new_flows_per_s", maxResidentBytes = "replay.max_rss_bytes"
            case residentHalfwayBytes = "replay.rss_halfway_bytes", residentEndBytes = "replay.rss_end_bytes"
        }
    }

    /// Generates a `services`-Service cluster and a capture of `packets` packets over `flows`
    /// flows into a scratch folder, replays it, times tcpdump on it, then replays `newFlows`
    /// SYNs of distinct flows (each timing the best of three). The scratch files are removed.
    public static func measure(services: Int = 1_000, flows: Int = 1_000, packets: Int = 1_000_000, newFlows: Int = 50_000,
                               seed: UInt64 = 1) throws -> Figures {
        let cluster = try BenchCluster.build(BenchCluster.spec(services: services, endpointsPerService: 2, seed: seed))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-replay-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("replay.pcap").path
        try SyntheticCapture.write(to: file, cluster: cluster, flows: flows, packets: packets)
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0

        // Every node's rules compiled once, before any timing (a replay compiles a node's rules
        // when a packet first reaches it; the figures are about packets, not compilation).
        var plane = Dataplane(cluster: cluster)
        try plane.loadAllRules()
        // Best of three, for replay and for tcpdump alike: this machine's speed wanders by a
        // third from second to second, and the ratio is the target. The two alternate, so that
        // each replay and the tcpdump run after it meet the machine at about the same speed.
        var replayed = Double.infinity
        var tcpdump: Double? = .infinity  // nil once tcpdump cannot run
        for _ in 0..<3 {
            replayed = min(replayed, try time { try replay(file, plane) })
            if let best = tcpdump { tcpdump = (try? time { try runTCPDump(file) }).map { min(best, $0) } }
        }
        // Memory: a capture twice as long over the same flows, sampled halfway and at the end.
        let double = dir.appendingPathComponent("double.pcap").path
        try SyntheticCapture.write(to: double, cluster: cluster, flows: flows, packets: packets * 2)
        var halfway = 0, end = 0
        try replay(double, plane) { n in
            if n == packets { halfway = residentBytes() }
            if n == packets * 2 { end = residentBytes() }
        }
        try? FileManager.default.removeItem(atPath: double)
        let synFile = dir.appendingPathComponent("syn.pcap").path
        try SyntheticCapture.write(to: synFile, cluster: cluster, flows: newFlows, packets: newFlows, synOnly: true)
        // Best of three as well: a single run of new flows swung by a fifth from run to run.
        var syns = Double.infinity
        for _ in 0..<3 { syns = min(syns, try time { try replay(synFile, plane) }) }

        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let rate = Double(packets) / replayed
        let tcpdumpRate = tcpdump.map { Double(packets) / $0 }
        return Figures(packets: packets, flows: flows, services: services, fileBytes: size, packetsPerSecond: rate,
                       tcpdumpPacketsPerSecond: tcpdumpRate, vsTCPDump: tcpdumpRate.map { rate / $0 },
                       newFlowsPerSecond: Double(newFlows) / syns, maxResidentBytes: Int(usage.ru_maxrss) * 1024,
                       residentHalfwayBytes: halfway, residentEndBytes: end)
    }

    /// The process's resident memory now (/proc/self/statm), in bytes.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    static func replay(_ file: String, _ plane: Dataplane, sample: (Int) -> Void = { _ in }) throws {
        var options = ReplayOptions()
        options.recordSteps = false
        var replay = try Replay(plane: plane, options: options)
        var n = 0
        try replay.replayAll(CaptureReader(path: file), keepBytes: false) { _, _, _, _ in
            n += 1
            sample(n)
        }
        _ = replay.finish()
    }

    /// Runs `tcpdump -r FILE -w /dev/null` and waits for it with waitpid. (Foundation's
    /// `Process.waitUntilExit` polls a run loop and returned up to 50 ms late, a quarter of
    /// tcpdump's whole time on the benchmark's file, which flattered the ratio.)
    static func runTCPDump(_ file: String) throws {
        let arguments = ["tcpdump", "-r", file, "-w", "/dev/null"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, "tcpdump", &actions, nil, &argv, environ)
        guard spawned == 0 else { throw CaptureError.cannotOpen(path: file, message: "cannot run tcpdump: \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED and WEXITSTATUS, spelled out (the C macros do not import).
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw CaptureError.cannotOpen(path: file, message: "tcpdump exited with status \(status)")
        }
    }

    static func time(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
