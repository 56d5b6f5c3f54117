import Foundation
import Testing

/// Runs the built `kdp` binary, as users and scripts do.
struct KdpResult {
    var status: Int32
    var stdout: String
    var stderr: String

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
    }
}

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The `kdp` binary beside the test bundle (both are built into the same folder).
let kdpBinary: URL = {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for dir in [beside, beside.deletingLastPathComponent(), repositoryRoot.appendingPathComponent(".build/debug")] {
        let candidate = dir.appendingPathComponent("kdp")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    return repositoryRoot.appendingPathComponent(".build/debug/kdp")
}()

func kdp(_ args: [String]) throws -> KdpResult {
    let process = Process()
    process.executableURL = kdpBinary
    process.arguments = args
    process.currentDirectoryURL = repositoryRoot
    // Files rather than pipes: a large output can never fill a pipe and stall the child.
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
    FileManager.default.createFile(atPath: outURL.path, contents: nil)
    FileManager.default.createFile(atPath: errURL.path, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: outURL)
    process.standardError = try FileHandle(forWritingTo: errURL)
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    let outData = try Data(contentsOf: outURL), errData = try Data(contentsOf: errURL)
    return KdpResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self))
}

func kdp(_ args: String...) throws -> KdpResult { try kdp(args) }

/// A temporary file with `text`, removed by the caller's `defer`.
func temporaryFile(_ text: String, name: String = "topology.yaml") throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url
}
