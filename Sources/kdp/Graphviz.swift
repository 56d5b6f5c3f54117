import Foundation
import Cluster

/// Graphviz's `dot`, run as a filter: DOT in, SVG out. kdp prints DOT itself (`-o dot`); SVG
/// needs the tool (`make deps` installs graphviz).
enum Graphviz {
    static func svg(_ dot: String) throws -> String {
        // The DOT goes through a scratch file, so that reading dot's output cannot deadlock
        // against writing its input on a large picture.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).dot")
        defer { try? FileManager.default.removeItem(at: scratch) }
        do { try Data(dot.utf8).write(to: scratch) } catch { throw InputError("-o svg: cannot write a scratch file in \(scratch.deletingLastPathComponent().path): \(error.localizedDescription)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["dot", "-Tsvg", scratch.path]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch {
            throw InputError("-o svg needs Graphviz's dot (apt-get install graphviz, or make deps); -o dot prints its input")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw InputError("-o svg needs Graphviz's dot (apt-get install graphviz); dot said: \(said)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
