import Captures
import Cluster
import Dataplane
import Foundation
import KubeProxy
import TestSupport
import Testing
import Wire
@testable import kdp
#if canImport(Glibc)
import Glibc
#endif

// Bad input never crashes (issue 12 §4). Every parser kdp reads users' files with is fed
// mutations of kdp's own shipped inputs: truncations, byte flips, duplicated, dropped and swapped
// lines, huge and negative numbers, invalid addresses, NUL bytes, control characters and invalid
// UTF-8, very long lines, CRLF line ends and (for YAML) alias bombs. Each input must either work
// or give kdp's one line: `kdp: FILE[:LINE:COLUMN]: …`, never a trap.
//
// In process, thousands of inputs go through the same code the commands run (`InputFile.decode`,
// the command's own entry point, `Diagnostic.line`); a few dozen go through the kdp binary, which
// must exit 0 or 2 with one `kdp:` line, never by a signal.
//
// Knobs (environment): KDP_FUZZ_ITERATIONS (in-process inputs per target, default 500),
// KDP_FUZZ_CLI_ITERATIONS (binary runs per target, default 6), KDP_FUZZ_SEED (default 12),
// KDP_FUZZ_TARGET (only targets whose name contains it), KDP_FUZZ_CASE (only that case number:
// prints the input). `make fuzz` runs a longer pass with a fresh seed. A failure names the
// target, seed and case and saves the input under $TMPDIR/kdp-fuzz-failures/.

/// One parser under fuzz. Another format is one more line in `FuzzTargets.all`: its name, its
/// seed files, how kdp runs it in process, and the kdp arguments that read it (`{}` is the
/// mutated file).
struct FuzzTarget: Sendable, CustomStringConvertible {
    let name: String
    /// Seed inputs, relative to the repository root.
    let seeds: [String]
    /// Runs one input as the command does; a bad input throws kdp's `InputError`.
    let run: @Sendable (InputFile) throws(InputError) -> Void
    /// The kdp command line that reads the input, `{}` standing for its path.
    let arguments: [String]
    /// YAML alias bombs apply (YAML and JSON inputs).
    var yaml = false
    /// How the mutated input's file name ends: `.json` makes kdp read it as JSON only.
    var suffix = ""
    /// For binary formats (captures): runs the raw bytes instead of `run`'s UTF-8 text.
    var binary: (@Sendable ([UInt8]) throws(InputError) -> Void)?

    var description: String { name }
}

/// The in-process runs, as the commands make them (`kdp trace-rules`, `kdp ipvs simulate`,
/// `--topology`), and the command lines for the binary.
enum FuzzRun {
    static let golden = "Tests/KdpTests/Golden/"
    static let fuzz = "Tests/KdpTests/Fuzz/"

    /// A fixed input, read once.
    static func fixture(_ path: String) -> InputFile {
        let url = repositoryRoot.appendingPathComponent(path)
        let bytes = (try? Data(contentsOf: url)).map { [UInt8]($0) } ?? []
        return InputFile(name: path, text: String(decoding: bytes, as: UTF8.self))
    }

    /// `kdp trace-rules` with these flags: the fuzzed input goes where `role` says, the other
    /// dumps are the fixed `rules`/`ipsets`/`ipvs` files.
    enum Role: Sendable { case rules, ipsets, ipvs }

    static func traceRules(_ role: Role, rules: String, ipsets: String? = nil, ipvs: String? = nil,
                           flags: [String]) -> (@Sendable (InputFile) throws(InputError) -> Void, [String]) {
        let command: TraceRulesCommand
        do { command = try TraceRulesCommand.parse(["--rules", rules] + flags) } catch { fatalError("bad fuzz flags \(flags): \(error)") }
        let fixedRules = fixture(rules), fixedSets = ipsets.map(fixture), fixedIPVS = ipvs.map(fixture)
        let run: @Sendable (InputFile) throws(InputError) -> Void = { input throws(InputError) in
            _ = try command.trace(rules: role == .rules ? input : fixedRules,
                                  ipsets: role == .ipsets ? input : fixedSets,
                                  ipvs: role == .ipvs ? input : fixedIPVS)
        }
        var args = ["trace-rules", "--rules", role == .rules ? "{}" : rules]
        if role == .ipsets || ipsets != nil { args += ["--ipsets", role == .ipsets ? "{}" : ipsets!] }
        if role == .ipvs || ipvs != nil { args += ["--ipvs", role == .ipvs ? "{}" : ipvs!] }
        return (run, args + flags)
    }

    static let v4Flags = ["--local-ip", "172.18.0.3", "--src", "10.244.1.2", "--in-iface", "cni0", "--dst", "10.96.0.10",
                          "--dport", "53", "--proto", "udp", "--all-paths"]
    static let v6Flags = ["--local-ip", "fd00:18::2", "--src", "fd00:10:244::2", "--in-iface", "cni0", "--dst", "fd00:10:96::bf2c",
                          "--all-paths"]

    static func target(_ name: String, seeds: [String], _ pair: (@Sendable (InputFile) throws(InputError) -> Void, [String])) -> FuzzTarget {
        FuzzTarget(name: name, seeds: seeds, run: pair.0, arguments: pair.1)
    }

    /// `--topology`: read, merge, build the cluster, compile one node's iptables rules, and
    /// build the nodes that carry `extraRules` (as `kdp trace` checks them).
    static let topology: @Sendable (InputFile) throws(InputError) -> Void = { input throws(InputError) in
        let cluster = try ClusterBuilder.build(try TopologyOptions.load([input]))
        if let node = cluster.nodes.first {
            _ = IPTablesCompiler.compile(cluster, config: ProxierConfig.forNode(node, in: cluster, family: cluster.settings.families.first ?? .ipv4))
        }
        try Dataplane(cluster: cluster).checkExtraRules()
    }

    /// `kdp replay --at pod/default/client` on the demo cluster: the bytes as a capture file.
    static let replay: @Sendable ([UInt8]) throws(InputError) -> Void = { bytes throws(InputError) in
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-fuzz-capture-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw InputError("\(path): cannot write") }
        do {
            var options = ReplayOptions()
            options.capturePoint = .pod(namespace: "default", name: "client")
            var r = try Replay(plane: Dataplane(cluster: ClusterBuilder.load(paths: [])), options: options)
            try r.replayAll(CaptureReader(path: path), keepBytes: true) { _, _, _, _ in }
            _ = r.finish()
        } catch let e as InputError {
            throw e
        } catch let e as CaptureError {
            throw InputError(e.description.replacingOccurrences(of: path, with: "fuzz-input"))
        } catch {
            throw InputError("fuzz-input: \(error)")
        }
    }

    /// `kdp trace-rules --nft` on upstream's nftables ruleset addresses.
    static let nftArguments = ["trace-rules", "--nft", "{}", "--local-ip", "192.168.0.2", "--src", "10.0.0.2", "--dst", "172.30.0.44", "--all-paths"]
    static let nft: @Sendable (InputFile) throws(InputError) -> Void = { input throws(InputError) in
        _ = try (try! TraceRulesCommand.parse(Array(nftArguments.dropFirst()))).nftTrace(input)
    }

    static let scenario: @Sendable (InputFile) throws(InputError) -> Void = { input throws(InputError) in
        _ = try IPVSCommand.Simulate.simulate(input)
    }
}

enum FuzzTargets {
    static let g = FuzzRun.golden, f = FuzzRun.fuzz, n = "Tests/NetfilterTests/Fixtures/", t = "Tests/NFTablesTests/Fixtures/"

    /// Every parser kdp reads users' files with. Plug a new format in with one line here.
    static let all: [FuzzTarget] = [
        FuzzRun.target("iptables-save", seeds: [g + "worker-1.iptables-save", g + "kube-proxy-example.iptables-save"],
                       FuzzRun.traceRules(.rules, rules: g + "worker-1.iptables-save", flags: FuzzRun.v4Flags)),
        FuzzRun.target("ip6tables-save", seeds: [f + "n1-ipv6.ip6tables-save"],
                       FuzzRun.traceRules(.rules, rules: f + "n1-ipv6.ip6tables-save", ipsets: f + "n1-ipv6.ipset",
                                          ipvs: f + "n1-ipv6.ipvsadm", flags: FuzzRun.v6Flags)),
        FuzzRun.target("ipset save", seeds: [g + "worker-1-ipvs.ipset"],
                       FuzzRun.traceRules(.ipsets, rules: g + "worker-1-ipvs.iptables-save", ipsets: g + "worker-1-ipvs.ipset",
                                          ipvs: g + "worker-1-ipvs.ipvsadm", flags: FuzzRun.v4Flags)),
        FuzzRun.target("ipset save (IPv6)", seeds: [f + "n1-ipv6.ipset"],
                       FuzzRun.traceRules(.ipsets, rules: f + "n1-ipv6.ip6tables-save", ipsets: f + "n1-ipv6.ipset",
                                          ipvs: f + "n1-ipv6.ipvsadm", flags: FuzzRun.v6Flags)),
        FuzzRun.target("ipvsadm -S", seeds: [g + "worker-1-ipvs.ipvsadm", f + "n1-ipv6.ipvsadm"],
                       FuzzRun.traceRules(.ipvs, rules: g + "worker-1-ipvs.iptables-save", ipsets: g + "worker-1-ipvs.ipset",
                                          ipvs: g + "worker-1-ipvs.ipvsadm", flags: FuzzRun.v4Flags)),
        FuzzRun.target("iptables -S", seeds: [n + "kube-proxy-example.iptables-S", n + "kube-proxy-v6.nat.ip6tables-S"],
                       FuzzRun.traceRules(.rules, rules: n + "kube-proxy-example.iptables-S", flags: FuzzRun.v4Flags)),
        FuzzRun.target("ipset list", seeds: [f + "worker-1-ipvs.ipset-list"],
                       FuzzRun.traceRules(.ipsets, rules: g + "worker-1-ipvs.iptables-save", ipsets: f + "worker-1-ipvs.ipset-list",
                                          ipvs: g + "worker-1-ipvs.ipvsadm", flags: FuzzRun.v4Flags)),
        FuzzRun.target("ipvsadm -Ln", seeds: [g + "expected/ipvs-show-w1.out"],
                       FuzzRun.traceRules(.ipvs, rules: g + "worker-1-ipvs.iptables-save", ipsets: g + "worker-1-ipvs.ipset",
                                          ipvs: g + "expected/ipvs-show-w1.out", flags: FuzzRun.v4Flags)),
        FuzzTarget(name: "nft ruleset", seeds: [t + UpstreamOverall.path, t + "upstream-overall.list-handles", t + "features.list"], run: FuzzRun.nft, arguments: FuzzRun.nftArguments),
        FuzzTarget(name: "topology YAML/JSON", seeds: ["topologies/demo.yaml", "topologies/ha-cluster.yaml", f + "dual-stack.yaml", f + "manifests.json", f + "manifests.yaml",
                                                         f + "extra-rules.yaml"],
                   run: FuzzRun.topology, arguments: ["cluster", "--topology", "{}"], yaml: true),
        FuzzTarget(name: "kubectl JSON dump", seeds: [f + "manifests.json", "Tests/ClusterTests/Fixtures/the-hard-way.json"],
                   run: FuzzRun.topology, arguments: ["cluster", "--topology", "{}"], yaml: true, suffix: ".json"),
        FuzzTarget(name: "ipvs scenario", seeds: [g + "scenario.yaml"], run: FuzzRun.scenario,
                   arguments: ["ipvs", "simulate", "{}"], yaml: true),
        FuzzTarget(name: "pcap/pcapng capture", seeds: ["captures/http-web.pcap", "captures/refused.pcap", "captures/demo.pcapng", "captures/node-any.pcap"],
                   run: { _ throws(InputError) in }, arguments: ["replay", "{}", "--at", "pod/default/client", "--quiet"], binary: FuzzRun.replay),
    ]
}

/// Seeded mutations of a seed input. Each case has its own generator, derived from the run's
/// seed, the target and the case number, so any case can be replayed alone.
struct Mutator {
    var rng: SeededGenerator
    var applied: [String] = []

    init(seed: UInt64, target: Int, index: Int) {
        rng = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(target) << 48 ^ UInt64(index))
    }

    static let numbers = ["9223372036854775807", "-9223372036854775808", "-1", "0", "99999999999999999999999999", "4294967296",
                          "65536", "2147483648", "-0", "1e99", "0x"]
    static let addresses = ["300.1.2.3", "1.2.3", "10.0.0.0/33", "fd00:::1", "::ffff:1.2.3.4", "[::1]", "1.2.3.4/-1", "",
                            "10.0.0.1:", ":80", "fd00::1/129", "[fd00::1]:99999", "0.0.0.0", "::", "a.b.c.d", "10.1.2.3,"]

    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }
    mutating func int(_ range: Range<Int>) -> Int { range.isEmpty ? range.lowerBound : Int.random(in: range, using: &rng) }

    /// Lines as byte ranges (without the `\n`).
    static func lines(_ b: [UInt8]) -> [ArraySlice<UInt8>] { b.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) }
    static func join(_ lines: [ArraySlice<UInt8>]) -> [UInt8] { Array(lines.joined(separator: [UInt8(ascii: "\n")])) }

    /// 1–3 mutations of `input`.
    mutating func mutate(_ input: [UInt8], yaml: Bool) -> [UInt8] {
        var b = input
        for _ in 0..<int(1..<4) { b = mutateOnce(b, yaml: yaml) }
        return b
    }

    mutating func mutateOnce(_ input: [UInt8], yaml: Bool) -> [UInt8] {
        var b = input
        let kinds = yaml ? 15 : 14
        switch int(0..<kinds) {
        case 0:
            applied.append("truncate")
            b = Array(b.prefix(int(0..<(b.count + 1))))
        case 1:
            applied.append("flip")
            if !b.isEmpty { b[int(0..<b.count)] ^= UInt8(1) << UInt8(int(0..<8)) }
        case 2, 3, 4:
            var lines = Self.lines(b)
            guard !lines.isEmpty else { return b }
            let i = int(0..<lines.count)
            switch int(0..<3) {
            case 0: applied.append("duplicate line \(i + 1)"); lines.insert(lines[i], at: i)
            case 1: applied.append("drop line \(i + 1)"); lines.remove(at: i)
            default:
                let j = int(0..<lines.count)
                applied.append("swap lines \(i + 1) and \(j + 1)")
                lines.swapAt(i, j)
            }
            b = Self.join(lines)
        case 5, 6:
            // A run of digits becomes a huge, negative or odd number.
            var starts: [Int] = []
            for i in 0..<b.count where b[i].isDigit && (i == 0 || !b[i - 1].isDigit) { starts.append(i) }
            guard !starts.isEmpty else { return b }
            let s = pick(starts)
            var e = s
            while e < b.count && b[e].isDigit { e += 1 }
            let n = pick(Self.numbers)
            applied.append("number at \(s) -> \(n)")
            b.replaceSubrange(s..<e, with: Array(n.utf8))
        case 7, 8:
            // A word that looks like an address (digits with dots, or hex with colons) becomes invalid.
            let words = Self.words(b).filter { r in
                let w = b[r]
                return (w.contains(UInt8(ascii: ".")) && w.contains(where: \.isDigit)) || w.filter({ $0 == UInt8(ascii: ":") }).count >= 2
            }
            guard !words.isEmpty else { return b }
            let r = pick(words)
            let a = pick(Self.addresses)
            applied.append("address at \(r.lowerBound) -> \"\(a)\"")
            b.replaceSubrange(r, with: Array(a.utf8))
        case 9:
            let bad: [[UInt8]] = [[0], [0xFF], [0xC3], [0xED, 0xA0, 0x80], [0x1B], [0xF4, 0x90, 0x80, 0x80], [0x7F], [0xC0, 0xAF]]
            let x = pick(bad)
            let at = int(0..<(b.count + 1))
            applied.append("bytes \(x) at \(at)")
            b.insert(contentsOf: x, at: at)
        case 10:
            // A very long word: a 200,000-character token, or a huge number.
            let long = int(0..<2) == 0 ? [UInt8](repeating: UInt8(ascii: "A"), count: 200_000) : [UInt8](repeating: UInt8(ascii: "9"), count: 100_000)
            let words = Self.words(b)
            applied.append("long word")
            if let r = words.isEmpty ? nil : pick(words) { b.replaceSubrange(r, with: long) } else { b += long }
        case 11:
            // A word replaced by another word of the same input.
            let words = Self.words(b)
            guard words.count > 1 else { return b }
            let r = pick(words), w = Array(b[pick(words)])
            applied.append("word at \(r.lowerBound) -> \(String(decoding: w.prefix(30), as: UTF8.self))")
            b.replaceSubrange(r, with: w)
        case 12:
            applied.append("CRLF")
            b = Array(Self.lines(b).joined(separator: [0x0D, 0x0A]))
        case 13:
            applied.append("empty")
            b = int(0..<2) == 0 ? [] : Array("\n\n  \n".utf8)
        default:
            // YAML alias bomb: a billion laughs, alone or as a value in the document.
            var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
            for k in 1...9 { bomb += "a\(k): &a\(k) [" + Array(repeating: "*a\(k - 1)", count: 10).joined(separator: ", ") + "]\n" }
            switch int(0..<3) {
            case 0:
                applied.append("alias bomb document")
                b = Array(bomb.utf8)
            case 1:
                applied.append("alias bomb appended")
                b += Array(("\n---\n" + bomb + "kind: List\nitems: *a9\n").utf8)
            default:
                // As the value of an existing key: every decoder that walks it meets 10^9 nodes.
                let lines = Self.lines(b)
                let keyed = lines.indices.filter { lines[$0].contains(UInt8(ascii: ":")) }
                guard let i = keyed.isEmpty ? nil : pick(keyed) else { return b }
                applied.append("alias bomb at line \(i + 1)")
                let line = lines[i]
                let colon = line.firstIndex(of: UInt8(ascii: ":"))!
                var newLine = Array(line[..<colon]) + Array(": {b0: &b0 [x, x, x, x, x, x, x, x]".utf8)
                for k in 1...8 {
                    newLine += Array(", b\(k): &b\(k) [".utf8) + Array(Array(repeating: "*b\(k - 1)", count: 8).joined(separator: ", ").utf8)
                    newLine.append(UInt8(ascii: "]"))
                }
                newLine.append(UInt8(ascii: "}"))
                var all = lines
                all[i] = ArraySlice(newLine)
                b = Self.join(all)
            }
        }
        return b
    }

    /// Byte ranges of the words (runs without space, tab, newline, comma, quote or bracket).
    static func words(_ b: [UInt8]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        b.withUnsafeBufferPointer { p in
            var start = -1
            var i = 0
            while i < p.count {
                let c = p[i]
                let sep = c == 0x20 || c == 0x0A || c == 0x09 || c == 0x0D || c == 0x2C || c == 0x22 || c == 0x7B || c == 0x7D
                    || c == 0x5B || c == 0x5D
                if sep {
                    if start >= 0 { out.append(start..<i); start = -1 }
                } else if start < 0 {
                    start = i
                }
                i += 1
            }
            if start >= 0 { out.append(start..<p.count) }
        }
        return out
    }
}

extension UInt8 {
    var isDigit: Bool { self >= 0x30 && self <= 0x39 }
}

/// What a run must say when it refuses an input: the checks behind kdp's promise.
enum FuzzCheck {
    /// Problems with kdp's message for `error` about the input named `name` (empty when fine).
    static func problems(_ error: InputError, input name: String) -> [String] {
        var out: [String] = []
        let raw = error.description
        let line = Diagnostic.line(raw)
        if raw.contains(where: { $0.isNewline }) { out.append("the message runs over several lines") }
        if !line.hasPrefix("kdp: ") { out.append("the line does not start with kdp:") }
        if line.count > Diagnostic.lineLimit { out.append("the line is \(line.count) characters long") }
        // Excerpts are cut by whoever quotes them, not only by the final safety net.
        if let long = raw.split(separator: " ").first(where: { $0.count > Diagnostic.tokenLimit && !$0.hasPrefix(name) }) {
            out.append("the message quotes \(long.count) characters whole")
        }
        if let loc = error.location, loc.line > 0, loc.column < 1 { out.append("line \(loc.line) without a column") }
        return out
    }
}

/// Prints which case was running if a trap kills the test process (a crash is the one failure
/// that cannot be recorded as an issue), so the case can be replayed with KDP_FUZZ_CASE.
enum CrashNote {
    nonisolated(unsafe) static var message: UnsafeMutablePointer<CChar>? = nil

    static func set(_ text: String) {
        let old = message
        message = strdup(text)
        free(old)
    }

    static func install() {
        for sig in [SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE] {
            signal(sig) { s in
                if let m = CrashNote.message { _ = write(2, m, strlen(m)) }
                signal(s, SIG_DFL)
                raise(s)
            }
        }
    }
}

/// The knobs, from the environment.
struct FuzzSettings {
    let seed: UInt64
    let iterations: Int
    let cliIterations: Int
    let only: String?
    let singleCase: Int?

    static var current: FuzzSettings {
        let env = ProcessInfo.processInfo.environment
        return FuzzSettings(
            seed: env["KDP_FUZZ_SEED"].flatMap { UInt64($0) } ?? 12,
            iterations: env["KDP_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 500,
            cliIterations: env["KDP_FUZZ_CLI_ITERATIONS"].flatMap { Int($0) } ?? 6,
            only: env["KDP_FUZZ_TARGET"],
            singleCase: env["KDP_FUZZ_CASE"].flatMap { Int($0) })
    }
}

/// Saves a failing input where the message says, and returns that path.
func saveFailure(_ bytes: [UInt8], target: String, seed: UInt64, index: Int) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-fuzz-failures")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let safe = target.map { $0.isLetter || $0.isNumber ? $0 : "-" }
    let url = dir.appendingPathComponent("\(String(safe))-seed\(seed)-case\(index)")
    try? Data(bytes).write(to: url)
    return url.path
}

@Suite(.serialized) struct FuzzTests {
    static func seedBytes(_ target: FuzzTarget) -> [[UInt8]] {
        target.seeds.map { path in
            let data = try? Data(contentsOf: repositoryRoot.appendingPathComponent(path))
            return data.map { [UInt8]($0) } ?? []
        }
    }

    @Test(arguments: FuzzTargets.all)
    func mutatedInputsWorkOrGiveOneKdpLine(_ target: FuzzTarget) throws {
        let settings = FuzzSettings.current
        if let only = settings.only, !target.name.contains(only) { return }
        let seeds = Self.seedBytes(target)
        try #require(seeds.allSatisfy { !$0.isEmpty }, "missing seed files for \(target.name)")
        CrashNote.install()
        // The seeds themselves must work.
        for (path, bytes) in zip(target.seeds, seeds) {
            CrashNote.set("\nkdp fuzz: \(target.name) crashed on its seed \(path)\n")
            do {
                if let binary = target.binary { try binary(bytes) } else { try target.run(try InputFile(bytes: bytes, name: path)) }
            } catch {
                Issue.record("seed \(path) of \(target.name) is refused: \(error.description)")
            }
        }
        let index = FuzzTargets.all.firstIndex { $0.name == target.name } ?? 0
        let cases = settings.singleCase.map { [$0] } ?? Array(0..<settings.iterations)
        var refused = 0
        for i in cases {
            var m = Mutator(seed: settings.seed, target: index, index: i)
            let seedIndex = m.int(0..<seeds.count)
            let bytes = m.mutate(seeds[seedIndex], yaml: target.yaml)
            let name = "fuzz-input" + target.suffix
            CrashNote.set("\nkdp fuzz: \(target.name) crashed on case \(i) (seed \(settings.seed); \(m.applied.joined(separator: ", "))); "
                          + "replay: KDP_FUZZ_SEED=\(settings.seed) KDP_FUZZ_TARGET='\(target.name)' KDP_FUZZ_CASE=\(i)\n")
            if settings.singleCase != nil {
                print("case \(i) of \(target.name): \(m.applied)\n" + String(decoding: bytes.prefix(4000), as: UTF8.self))
            }
            let started = ContinuousClock.now
            defer {
                // Not a failure (machines differ), but a case this slow is worth a look.
                let took = ContinuousClock.now - started
                if took > .seconds(1) { print("kdp fuzz: \(target.name) case \(i) took \(took) (\(m.applied.joined(separator: ", ")))") }
            }
            do {
                if let binary = target.binary { try binary(bytes) } else { try target.run(try InputFile(bytes: bytes, name: name)) }
            } catch {
                refused += 1
                let problems = FuzzCheck.problems(error, input: name)
                if !problems.isEmpty {
                    let path = saveFailure(bytes, target: target.name, seed: settings.seed, index: i)
                    Issue.record("""
                        \(target.name) case \(i) (seed \(settings.seed); \(m.applied.joined(separator: ", "))): \
                        \(problems.joined(separator: "; ")): \(Diagnostic.line(error.description)) [input saved to \(path)]
                        """)
                }
            }
        }
        CrashNote.set("")
        // The mutations must reach the parsers' error paths, not only pass through.
        // (A capture's broken packets are counted as undecodable, not refused: only its file-level
        // errors refuse, so the rate does not apply to binary formats.)
        if settings.singleCase == nil && cases.count >= 200 && target.binary == nil {
            #expect(refused > cases.count / 10, "only \(refused) of \(cases.count) inputs refused")
        }
    }

    @Test(arguments: FuzzTargets.all)
    func theBinaryExitsZeroOrTwoWithOneLine(_ target: FuzzTarget) throws {
        let settings = FuzzSettings.current
        if let only = settings.only, !target.name.contains(only) { return }
        let seeds = Self.seedBytes(target)
        let index = FuzzTargets.all.firstIndex { $0.name == target.name } ?? 0
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for i in 0..<settings.cliIterations {
            // Cases from the far end of the in-process range, so the two tests see different inputs.
            var m = Mutator(seed: settings.seed, target: index, index: 1_000_000 + i)
            let bytes = m.mutate(seeds[m.int(0..<seeds.count)], yaml: target.yaml)
            let file = dir.appendingPathComponent("input-\(i)" + target.suffix)
            try Data(bytes).write(to: file)
            let args = target.arguments.map { $0 == "{}" ? file.path : $0 }
            let r = try runKdp(args)
            let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            let what = "\(target.name) binary case \(i) (seed \(settings.seed); \(m.applied.joined(separator: ", ")))"
            guard r.exited else {
                let path = saveFailure(bytes, target: target.name, seed: settings.seed, index: 1_000_000 + i)
                Issue.record("\(what): killed by signal \(r.status) [input saved to \(path)]: \(r.stderr.suffix(500))")
                continue
            }
            #expect(r.status == 0 || r.status == 2, "\(what): exit status \(r.status)")
            #expect(lines.allSatisfy { $0.hasPrefix("kdp: ") }, "\(what): stderr lines without kdp: \(r.stderr.prefix(500))")
            if r.status == 2 {
                #expect(lines.filter { !$0.hasPrefix("kdp: note:") }.count == 1, "\(what): not one error line: \(r.stderr.prefix(500))")
            }
        }
    }
}

/// `kdp` with `args`: whether it exited (rather than died by a signal), and how.
func runKdp(_ args: [String]) throws -> (exited: Bool, status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = kdpBinary
    process.arguments = args
    process.currentDirectoryURL = repositoryRoot
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-fuzz-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let errURL = dir.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    process.standardOutput = FileHandle.nullDevice
    process.standardError = try FileHandle(forWritingTo: errURL)
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    let err = String(decoding: try Data(contentsOf: errURL), as: UTF8.self)
    return (process.terminationReason == .exit, process.terminationStatus, err)
}
