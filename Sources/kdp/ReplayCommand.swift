import ArgumentParser
import Captures
import Cluster
import Dataplane
import Foundation
import Wire

/// `kdp replay`: every packet of one or more captures through the emulated cluster, with the
/// conntrack, NAT, IPVS and affinity state the real nodes would build, and where the capture
/// disagrees with the model.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay pcap/pcapng captures through the cluster: every packet injected or checked, with a summary of what happened.",
        discussion: """
        Captures are replayed one after another, state carried across. Packets that start or continue a flow are \
        injected where the capture was taken (--at); packets in a tracked flow's reply direction are checked against \
        what kdp delivers. With --merge, the arguments are JSON summaries of shards (-o json --shard K/N) to add up.
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @OptionGroup var topology: TopologyOptions
    @Argument(help: ArgumentHelp("pcap or pcapng files (or, with --merge, JSON summaries).", valueName: "capture"))
    var captures: [String] = []
    @Option(help: "Where the capture was taken: auto, pod/NS/NAME, node/NAME[/IFACE] or external.") var at = "auto"
    @Option(help: "For packets from outside: the node that receives them, as node/NAME.") var via: String?
    @Option(help: "iptables, ipvs or nftables (default: the topology's kube-proxy mode).") var proxyMode: DataplaneProxyMode?
    @Option(help: "Seed for every random choice.") var seed: UInt64 = 1
    @Option(help: "A BPF filter (tcpdump syntax): replay only the packets it accepts.") var filter: String?
    @Option(name: .customShort("w"), help: ArgumentHelp("Write every delivered packet (after NAT) to this pcap.", valueName: "out.pcap"))
    var write: String?
    @Option(help: ArgumentHelp("Write one pcap per interface the packets crossed into this folder.", valueName: "dir")) var hops: String?
    @Option(help: "Print the first N packets' paths.") var packets: Int = 0
    @Option(help: "nf_conntrack_max on every node (default: the kernel's).") var conntrackMax: Int?
    @Option(help: ArgumentHelp("Replay only the flows whose entry node falls in shard K of N.", valueName: "K/N")) var shard: String?
    @Flag(help: "Add up the JSON summaries given as arguments (shards of one replay).") var merge = false
    @Flag(help: "No progress line.") var quiet = false
    @Option(name: .shortAndLong, help: "text or json.") var output: Format = .text

    func validate() throws {
        if captures.isEmpty { throw ValidationError(merge ? "--merge needs JSON summaries to add up" : "give at least one capture file") }
        if packets < 0 { throw ValidationError("--packets must be 0 or more") }
        if let m = conntrackMax, m < 1 { throw ValidationError("--conntrack-max must be at least 1") }
        if let v = via, !v.hasPrefix("node/") { throw ValidationError("--via takes node/NAME") }
        if let s = shard, Self.parseShard(s) == nil { throw ValidationError("--shard takes K/N with 0 <= K < N, as 0/4") }
        if let out = write {
            for c in captures where URL(fileURLWithPath: c).standardizedFileURL == URL(fileURLWithPath: out).standardizedFileURL {
                throw ValidationError("-w \(out) is one of the captures: kdp never overwrites its input")
            }
        }
    }

    static func parseShard(_ text: String) -> (index: Int, count: Int)? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, (0..<n).contains(k) else { return nil }
        return (k, n)
    }

    func run() throws {
        if merge { return try runMerge() }
        let cluster = try topology.cluster().withKubeProxy { kp in proxyMode?.apply(to: &kp) }
        var options = ReplayOptions()
        options.capturePoint = try CapturePoint.parse(at, in: cluster)
        options.via = via.flatMap { $0.dropPrefix("node/") }
        options.seed = seed
        options.keepPaths = packets
        options.conntrackMax = conntrackMax
        options.shard = shard.flatMap(Self.parseShard)
        options.recordSteps = hops != nil
        let plane = Dataplane(cluster: cluster)
        try plane.checkExtraRules()
        var replay = try Replay(plane: plane, options: options)
        // Every input opens (and the filter compiles) before anything is written.
        var readers: [CaptureReader] = []
        for path in captures {
            do { readers.append(try CaptureReader(path: path, filter: filter)) } catch { throw InputError(error.description) }
        }
        let outputs = try ReplayOutputs(deliveredPath: write, hopsFolder: hops)
        var kept: [ReplayRender.PacketLine] = []
        let progress = ReplayProgress(enabled: !quiet, totalBytes: captures.map(Self.fileSize).reduce(0, +))
        do {
            var seen = 0
            for reader in readers {
                do {
                    try replay.replayAll(reader, keepBytes: outputs.wantsBytes) { outcome, packet, skip, length in
                        seen += 1
                        progress.tick(packets: seen, bytes: length + 16)
                        if let skip, kept.count < packets { kept.append(.skipped(skip, file: reader.path)) }
                        guard let outcome else { return }
                        try outputs.write(outcome, packet: packet)
                        if kept.count < packets { kept.append(.replayed(outcome, packet: copy packet, file: reader.path)) }
                    }
                } catch let error as CaptureError {
                    throw InputError(error.description)
                }
            }
            progress.done()
            try outputs.close()
        } catch {
            outputs.abandon()
            throw error
        }
        let report = replay.finish()
        for note in report.notes { Console.note(note) }
        switch output {
        case .text: Console.out(ReplayRender.text(report, packets: kept, hopFiles: outputs.hopFiles, hopsFolder: hops))
        case .json: Console.out(ReplayRender.json(report, packets: kept))
        }
    }

    func runMerge() throws {
        var total: ReplaySummary?
        for path in captures {
            let file = try InputFile.read(path)
            guard let data = file.text.data(using: .utf8),
                  let part = try? JSONDecoder().decode(ReplaySummary.self, from: data) else {
                throw InputError("\(path): not a kdp replay JSON summary (kdp replay -o json)")
            }
            total = total.map { $0.merging(part) } ?? part
        }
        guard var total else { return }
        total.normalize()
        switch output {
        case .text: Console.out(ReplayRender.text(total, packets: [], hopFiles: [], hopsFolder: nil))
        case .json: Console.out(ReplayRender.json(total, packets: []))
        }
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }
}

/// The progress line on a terminal's stderr for replays longer than about a second: packets per
/// second, how much of the input is done, and the time left.
final class ReplayProgress {
    private let enabled: Bool
    private let totalBytes: Int
    private var bytes = 0
    private let start = ContinuousClock.now
    private var last = ContinuousClock.now
    private var shown = false
    /// How long a replay runs before the line appears: about a second, or
    /// `KDP_PROGRESS_AFTER_MS` (tests set it to 0, so that they need no slow replay).
    private let delay: Duration = .milliseconds(ProcessInfo.processInfo.environment["KDP_PROGRESS_AFTER_MS"].flatMap { Int($0) } ?? 1000)

    init(enabled: Bool, totalBytes: Int) {
        self.enabled = enabled && isatty(2) == 1
        self.totalBytes = max(totalBytes, 1)
    }

    func tick(packets: Int, bytes add: Int) {
        bytes += add
        guard enabled, packets & 1023 == 0 else { return }
        let now = ContinuousClock.now
        guard now - start > delay, !shown || now - last > .milliseconds(250) else { return }
        last = now
        let elapsed = Double((now - start).components.seconds) + Double((now - start).components.attoseconds) / 1e18
        let rate = Double(packets) / elapsed
        let fraction = min(1, Double(bytes) / Double(totalBytes))
        let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0
        Console.errorInline(String(format: "\rkdp: replay: %d packets, %.0f packets/s, %.0f%% of the input, about %.0f s left ", packets, rate, fraction * 100, eta))
        shown = true
    }

    func done() {
        if shown { Console.errorInline("\r\u{1B}[K") }
    }
}

extension Console {
    /// Writes to stderr without a newline (the progress line rewrites itself).
    static func errorInline(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
