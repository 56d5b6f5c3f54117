import Foundation
import Testing
@testable import kdp

/// Issue 12 §4: each way bad input used to trap, pass silently or give a false message, pinned.
/// Every refusal is exit status 2 with one line on stderr that starts with `kdp:`.

/// The one error line of a run that must fail with status 2.
func oneErrorLine(_ r: KdpResult, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    #expect(r.status == 2, "exit status \(r.status): \(r.stderr.prefix(300))", sourceLocation: sourceLocation)
    let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("kdp: note:") }
    #expect(lines.count == 1, "not one line: \(r.stderr.prefix(500))", sourceLocation: sourceLocation)
    let line = String(lines.first ?? "")
    #expect(line.hasPrefix("kdp: "), "no kdp: prefix: \(line)", sourceLocation: sourceLocation)
    return line
}

/// `kdp` with `stdin` as standard input.
func kdp(_ args: [String], stdin: Data) throws -> KdpResult {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-stdin-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let input = dir.appendingPathComponent("in"), out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err")
    try stdin.write(to: input)
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    let p = Process()
    p.executableURL = kdpBinary
    p.arguments = args
    p.currentDirectoryURL = repositoryRoot
    p.standardInput = try FileHandle(forReadingFrom: input)
    p.standardOutput = try FileHandle(forWritingTo: out)
    p.standardError = try FileHandle(forWritingTo: err)
    try p.run()
    p.waitUntilExit()
    return KdpResult(status: p.terminationStatus, stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                     stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
}

/// `bash -c script` from the repository root (for process substitution).
func bash(_ script: String) throws -> KdpResult {
    try kdp(["-c", script.replacingOccurrences(of: "KDP", with: kdpBinary.path)], executable: URL(fileURLWithPath: "/bin/bash"))
}

func kdp(_ args: [String], executable: URL) throws -> KdpResult {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-bash-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    p.currentDirectoryURL = repositoryRoot
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = try FileHandle(forWritingTo: out)
    p.standardError = try FileHandle(forWritingTo: err)
    try p.run()
    p.waitUntilExit()
    return KdpResult(status: p.terminationStatus, stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                     stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
}

let rulesV4 = "Tests/KdpTests/Golden/worker-1-ipvs.iptables-save"
let ipvsV4 = "Tests/KdpTests/Golden/worker-1-ipvs.ipvsadm"
let ipsetsV4 = "Tests/KdpTests/Golden/worker-1-ipvs.ipset"
let traceV4 = ["--local-ip", "172.18.0.3", "--src", "10.244.1.2", "--in-iface", "cni0", "--dst", "10.96.0.10", "--dport", "53", "--proto", "udp"]

@Suite struct TrapsFoundByTheFuzzerTests {
    @Test func anIPSetElementWithAnEmptyPortFieldIsAnErrorAtItsColumn() throws {
        let sets = try temporaryFile("create S hash:ip,port family inet hashsize 1024 maxelem 65536\nadd S 10.0.0.1,\n", name: "sets.ipset")
        defer { try? FileManager.default.removeItem(at: sets.deletingLastPathComponent()) }
        let line = oneErrorLine(try kdp(["trace-rules", "--rules", rulesV4, "--ipsets", sets.path] + traceV4))
        #expect(line == "kdp: \(sets.path):2:7: element has no port: '10.0.0.1,'")
    }

    @Test func aTruncatedIPv6IPSetSaveBesideADualStackDumpIsAnError() throws {
        let full = try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/KdpTests/Fuzz/n1-ipv6.ipset"), encoding: .utf8)
        let cut = String(full.utf8.prefix(265))!  // ends inside `add KUBE-6-CLUSTER-IP fd00:10:96::f89b,`
        let sets = try temporaryFile(cut, name: "v6.ipset")
        defer { try? FileManager.default.removeItem(at: sets.deletingLastPathComponent()) }
        let line = oneErrorLine(try kdp(["trace-rules", "--rules", "Tests/KdpTests/Fuzz/n1-ipv6.ip6tables-save", "--ipsets", sets.path,
                                         "--ipvs", "Tests/KdpTests/Fuzz/n1-ipv6.ipvsadm", "--local-ip", "fd00:18::2",
                                         "--src", "fd00:18::2", "--dst", "fd00:18::2", "--dport", "31277"]))
        #expect(line.hasPrefix("kdp: \(sets.path):3:"))
    }

    @Test func anIPv4ElementInAnInet6SetIsRefusedAsIPSetRefusesIt() throws {
        let sets = try temporaryFile("create S hash:ip family inet6\nadd S 10.0.0.1\n", name: "sets.ipset")
        defer { try? FileManager.default.removeItem(at: sets.deletingLastPathComponent()) }
        let line = oneErrorLine(try kdp(["trace-rules", "--rules", rulesV4, "--ipsets", sets.path] + traceV4))
        #expect(line.contains(":2:7: element is not of the set's family (inet6)"))
    }

    @Test func generateWithAHugePodCountIsRefusedNotOverflowed() throws {
        let line = oneErrorLine(try kdp("generate", "--pods-per-node", "9223372036854775807"))
        #expect(line.contains("--pods-per-node must be at most 4194304"))
    }

    @Test func benchCountsAreBoundedBeforeAnyWork() throws {
        #expect(oneErrorLine(try kdp("bench", "--endpoints-per-service", "9223372036854775807")).contains("--endpoints-per-service must be 1-1000"))
        #expect(oneErrorLine(try kdp("bench", "--connections", "2147483648")).contains("--connections must be 1-10000000"))
        #expect(oneErrorLine(try kdp("bench", "--sweep", "1000,9999999")).contains("--sweep must be 1-900000"))
    }

    @Test func benchPlotPathIsCheckedWhenTheFlagsAreParsed() throws {
        // `parse` runs `validate()`: the check happens before `run()` starts the sweep.
        #expect(throws: (any Error).self) { try BenchCommand.parse(["--plot", "/nonexistent-kdp-folder/x.svg"]) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-plot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("p.svg"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: (any Error).self) { try BenchCommand.parse(["--plot", dir.appendingPathComponent("p.svg").path]) }
        _ = try BenchCommand.parse(["--plot", dir.appendingPathComponent("ok.svg").path])
        let line = oneErrorLine(try kdp("bench", "--plot", "/nonexistent-kdp-folder/x.svg"))
        #expect(line.contains("--plot: the folder /nonexistent-kdp-folder does not exist"))
    }

    @Test func plotFilesAreWrittenThroughATemporaryFileAndRenamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-plot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("p.svg").path
        try PlotFile.write("<svg/>", to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "<svg/>")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["p.svg"])
    }
}

@Suite struct FlagValidationTests {
    @Test(arguments: [
        (["--cluster-cidr", "bogus"], "--cluster-cidr: \"bogus\" is not a CIDR"),
        (["--cluster-cidr", "10.0.0.0/8,"], "--cluster-cidr: empty entry"),
        (["--cluster-cidr", "10.0.0.0/8,10.1.0.0/16"], "--cluster-cidr takes at most one IPv4 CIDR"),
        (["--cluster-cidr", ""], "--cluster-cidr needs at least one CIDR"),
        (["--nodeport-addresses", "10.0.0.0/8,,"], "--nodeport-addresses: empty entry"),
        (["--nodeport-addresses", "nope"], "--nodeport-addresses: \"nope\" is not a CIDR"),
        (["--ipvs-scheduler", "fo"], "--ipvs-scheduler: \"fo\" is not a scheduler kdp emulates"),
        (["--masquerade-mark", "0xZZ"], "--masquerade-mark: \"0xZZ\" is not a mark"),
        (["--masquerade-mark", "0x4001"], "is not a single bit"),
    ])
    func compileRefusesBadValuesBeforeBuildingTheCluster(_ flags: [String], _ message: String) throws {
        // A --topology that does not exist: the flag check must come first.
        let line = oneErrorLine(try kdp(["compile", "--node", "worker-1", "--topology", "/nonexistent-kdp.yaml"] + flags))
        #expect(line.contains(message), "\(line)")
    }

    @Test func goodMasqueradeMarksAreCopiedAsGiven() throws {
        let r = try kdp("compile", "--node", "worker-1", "--masquerade-mark", "0x4000")
        #expect(r.status == 0)
        #expect(r.stdout.contains("--mark 0x4000/0x4000"))
    }

    @Test func traceSchedulerAndAddressesAreCheckedFirst() throws {
        #expect(oneErrorLine(try kdp("trace", "--from", "pod/default/client", "--to", "service/default/web:80", "--ipvs-scheduler", "fo"))
            .contains("\"fo\" is not a scheduler"))
        #expect(oneErrorLine(try kdp(["trace-rules", "--rules", "/nonexistent-kdp", "--local-ip", "300.1.1.1", "--src", "1.1.1.1", "--dst", "1.1.1.1"]))
            .contains("--local-ip: \"300.1.1.1\" is not an IPv4 or IPv6 address"))
        #expect(oneErrorLine(try kdp(["trace-rules", "--rules", "/nonexistent-kdp", "--local-ip", "1.1.1.1", "--src", "1.1.1.1", "--dst", "1.1.1.1",
                                      "--in-iface", "a/b"])).contains("--in-iface"))
    }

    @Test func argumentParserErrorsAreOneKdpLineWithExitStatus2() throws {
        let missing = oneErrorLine(try kdp("compile", "--node"))
        #expect(missing == "kdp: Missing value for '--node <node>' (see kdp compile --help)")
        let unknown = oneErrorLine(try kdp("ipvs", "simulate", "--bogus", "x"))
        #expect(unknown.contains("(see kdp ipvs simulate --help)"))
        let badNumber = oneErrorLine(try kdp("bench", "--services", "many"))
        #expect(badNumber.contains("many"))
        let help = try kdp("compile", "--help")
        #expect(help.status == 0 && help.stdout.contains("USAGE"))
    }
}

@Suite struct SpecialFileTests {
    @Test func standardInputIsReadForDash() throws {
        let demo = try Data(contentsOf: repositoryRoot.appendingPathComponent("topologies/demo.yaml"))
        let r = try kdp(["cluster", "--topology", "-"], stdin: demo)
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("Cluster demo: 3 nodes"))
        let rules = try Data(contentsOf: repositoryRoot.appendingPathComponent(rulesV4))
        let t = try kdp(["trace-rules", "--rules", "-", "--ipvs", ipvsV4, "--ipsets", ipsetsV4] + traceV4, stdin: rules)
        #expect(t.status == 0, "\(t.stderr)")
    }

    @Test func standardInputCanBeOneInputOnly() throws {
        let line = oneErrorLine(try kdp(["trace-rules", "--rules", "-", "--ipsets", "-"] + traceV4, stdin: Data()))
        #expect(line.contains("standard input (-) can be read once"))
    }

    @Test func processSubstitutionWorksForRulesAndTopology() throws {
        let r = try bash("KDP cluster --topology <(cat topologies/demo.yaml)")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("Cluster demo"))
        let t = try bash("KDP trace-rules --rules <(cat \(rulesV4)) --ipvs <(cat \(ipvsV4)) --ipsets <(cat \(ipsetsV4)) \(traceV4.joined(separator: " "))")
        #expect(t.status == 0, "\(t.stderr)")
    }

    @Test func aFolderIsRefusedClearlyExceptForTopology() throws {
        let line = oneErrorLine(try kdp(["trace-rules", "--rules", "Tests"] + traceV4))
        #expect(line == "kdp: Tests: is a folder, not a file")
        let s = oneErrorLine(try kdp("ipvs", "simulate", "Tests"))
        #expect(s == "kdp: Tests: is a folder, not a file")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-folder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: repositoryRoot.appendingPathComponent("topologies/demo.yaml"), to: dir.appendingPathComponent("demo.yaml"))
        try Data("not read\n".utf8).write(to: dir.appendingPathComponent("notes.txt"))
        let r = try kdp("cluster", "--topology", dir.path)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("Cluster demo"))
    }

    @Test func devNullIsEmptyInputNotAPermissionError() throws {
        let r = try kdp(["trace-rules", "--rules", "/dev/null"] + traceV4)
        #expect(!r.stderr.contains("permission"))
        #expect(r.status == 0, "an empty ruleset accepts: \(r.stderr)")
        let s = oneErrorLine(try kdp("ipvs", "simulate", "/dev/null"))
        #expect(s == "kdp: /dev/null: the scenario is empty")
    }

    @Test func inputsAreBoundedInSizeWhateverKindOfFileTheyAre() throws {
        // A regular file is refused from its size, before reading (a sparse file costs nothing).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-size-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let big = dir.appendingPathComponent("big.rules")
        _ = FileManager.default.createFile(atPath: big.path, contents: nil)
        let h = try FileHandle(forWritingTo: big)
        try h.truncate(atOffset: UInt64(InputFile.maximumBytes) + 4096)
        try h.close()
        #expect(oneErrorLine(try kdp(["trace-rules", "--rules", big.path] + traceV4))
                == "kdp: \(big.path): is \(InputFile.maximumBytes + 4096) bytes, larger than the 256 MiB kdp reads")
        // A device or pipe is read up to the bound and no further.
        #expect(throws: (any Error).self) { try InputFile.readBytes("/dev/zero", limit: 1 << 20) }
        do { _ = try InputFile.readBytes("/dev/zero", limit: 1 << 20) } catch {
            #expect(error.description == "/dev/zero: is larger than the 1 MiB kdp reads")
        }
    }

    @Test func aMissingFileSaysSo() throws {
        #expect(oneErrorLine(try kdp(["trace-rules", "--rules", "/nonexistent-kdp.rules"] + traceV4))
                == "kdp: /nonexistent-kdp.rules: no such file or folder")
    }
}

@Suite struct MessageShapeTests {
    @Test func invalidUTF8IsAnErrorAtItsLineAndColumn() throws {
        var bytes = Array("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 1.2.3.4".utf8)
        bytes.insert(0xFF, at: bytes.count - 3)
        #expect(throws: (any Error).self) { try InputFile(bytes: bytes, name: "r") }
        do { _ = try InputFile(bytes: bytes, name: "r") } catch {
            #expect(error.description == "r:3:17: invalid UTF-8 (byte 0xFF): kdp reads UTF-8 text")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-utf8-\(UUID().uuidString)")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(oneErrorLine(try kdp(["trace-rules", "--rules", file.path] + traceV4)) == "kdp: \(file.path):3:17: invalid UTF-8 (byte 0xFF): kdp reads UTF-8 text")
    }

    @Test func controlCharactersAndNULAreErrorsAtTheirPosition() throws {
        do { _ = try InputFile(bytes: Array("a: 1\nb: x\u{0}y\n".utf8), name: "t.yaml"); Issue.record("NUL accepted") } catch {
            #expect(error.description == "t.yaml:2:5: NUL byte is not text (a binary file, or a file in another encoding?)")
        }
        do { _ = try InputFile(bytes: Array("ok\n\té\u{1B}".utf8), name: "t"); Issue.record("ESC accepted") } catch {
            #expect(error.description == "t:2:3: control character 0x1B is not text (a binary file, or a file in another encoding?)")
        }
        // Tabs, CRLF line ends and a byte-order mark are text.
        #expect(try InputFile(bytes: [0xEF, 0xBB, 0xBF] + Array("a:\tb\r\n".utf8), name: "t").text == "a:\tb\r\n")
        // Overlong forms and surrogates are not UTF-8.
        #expect(throws: (any Error).self) { try InputFile(bytes: [0xC0, 0xAF], name: "t") }
        #expect(throws: (any Error).self) { try InputFile(bytes: [0xED, 0xA0, 0x80], name: "t") }
        #expect(try InputFile(bytes: Array("日本 🚀".utf8), name: "t").text == "日本 🚀")
        // C1 controls and U+FFFE are UTF-8 but not text (libyaml would give only a byte offset).
        do { _ = try InputFile(bytes: Array("name: a\u{80}b".utf8), name: "t"); Issue.record("C1 accepted") } catch {
            #expect(error.description.hasPrefix("t:1:8: control character U+0080 is not text"))
        }
        do { _ = try InputFile(bytes: Array("x\u{FFFE}".utf8), name: "t"); Issue.record("U+FFFE accepted") } catch {
            #expect(error.description == "t:1:2: U+FFFE is not a character (a file in another encoding?)")
        }
    }

    @Test func aMegabyteTokenIsQuotedAsAShortExcerpt() throws {
        let token = String(repeating: "A", count: 1 << 20)
        let file = try temporaryFile("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j \(token)\nCOMMIT\n", name: "big.rules")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let line = oneErrorLine(try kdp(["trace-rules", "--rules", file.path] + traceV4))
        #expect(line.count < 200, "\(line.prefix(300))")
        #expect(line.contains(":3:13: "))
        #expect(line.contains(String(repeating: "A", count: 39) + "…"))
    }

    @Test func ipvsSimulateErrorsAreOneLineWithoutEchoingTheInput() throws {
        let big = "service: {vip: 10.96.0.1, port: 80, scheduler: rr}\nevents:\n" + String(repeating: "  - {op: check_counts}\n", count: 50_000)
            + "  - {op: connect, client: [unclosed\n"
        let file = try temporaryFile(big, name: "s.yaml")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let line = oneErrorLine(try kdp("ipvs", "simulate", file.path))
        #expect(line.hasPrefix("kdp: \(file.path):50004:"))
        #expect(line.count < 300)
        let bad = try temporaryFile("service: {vip: 10.96.0.1, port: 80, scheduler: rr}\nevents:\n  - {op: connect, client: \"\(String(repeating: "9", count: 100_000))\"}\n", name: "b.yaml")
        defer { try? FileManager.default.removeItem(at: bad.deletingLastPathComponent()) }
        let l2 = oneErrorLine(try kdp("ipvs", "simulate", bad.path))
        #expect(l2.hasPrefix("kdp: \(bad.path):3:27: event 0: malformed address \"9999"))
        #expect(l2.count < 200)
    }

    @Test func excerptsAreCutAtFortyCharactersWithAnEllipsis() {
        #expect(Diagnostic.excerpt(String(repeating: "x", count: 40)) == String(repeating: "x", count: 40))
        #expect(Diagnostic.excerpt(String(repeating: "x", count: 41)) == String(repeating: "x", count: 39) + "…")
        #expect(Diagnostic.excerpt("a\nb\u{0}") == "a\\nb\\u{0}")
        #expect(Diagnostic.line("bad \"\(String(repeating: "q", count: 500))\" here\n") == "kdp: bad \"\(String(repeating: "q", count: 39))…\" here")
        #expect(Diagnostic.line(String(repeating: "w ", count: 1000)).count == Diagnostic.lineLimit)
    }

    @Test func columnsPointAtTheWordOnItsLine() {
        let text = "one\n  two three\r\nfour"
        #expect(Diagnostic.column(of: "three", line: 2, in: text) == 7)
        #expect(Diagnostic.column(of: "four", line: 3, in: text) == 1)
        #expect(Diagnostic.column(of: "absent", line: 2, in: text) == 1)
        #expect(Diagnostic.column(of: "x", line: 9, in: text) == 1)
        #expect(Diagnostic.column(of: "é", line: 1, in: "aé") == 2)
    }
}
