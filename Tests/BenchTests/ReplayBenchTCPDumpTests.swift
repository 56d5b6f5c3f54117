import Foundation
import Testing
@testable import Bench

/// `replay.vs_tcpdump` holds kdp against `tcpdump -r FILE -w /dev/null`, spawned and reaped
/// with waitpid: it must really run tcpdump to the end, and say so when tcpdump fails.
@Suite struct ReplayBenchTCPDumpTests {
    static let captures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("captures")

    static var hasTCPDump: Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
            .contains { FileManager.default.isExecutableFile(atPath: "\($0)/tcpdump") }
    }

    @Test func tcpdumpReadsAShippedCaptureToTheEnd() throws {
        guard Self.hasTCPDump else {
            Issue.record("tcpdump is not installed (make deps installs it)")
            return
        }
        try ReplayBench.runTCPDump(Self.captures.appendingPathComponent("http-web.pcap").path)
    }

    @Test func aFileTcpdumpCannotReadIsAnError() throws {
        guard Self.hasTCPDump else {
            Issue.record("tcpdump is not installed (make deps installs it)")
            return
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-not-a-capture-\(getpid()).pcap").path
        try Data("not a capture\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: (any Error).self) { try ReplayBench.runTCPDump(path) }
    }
}
