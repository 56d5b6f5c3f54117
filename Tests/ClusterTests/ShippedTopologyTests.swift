import Foundation
import Testing
@testable import Cluster
import Wire

/// Every file in topologies/ loads, and no mutation or truncation of one crashes the loader:
/// each ends in a clean `InputError` or in a cluster.
@Suite struct ShippedTopologyTests {
    static let files: [URL] = {
        let dir = repositoryRoot.appendingPathComponent("topologies")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { dir.appendingPathComponent($0) }
    }()

    @Test func thereAreShippedTopologies() {
        #expect(Self.files.map(\.lastPathComponent).contains("demo.yaml"))
        #expect(Self.files.map(\.lastPathComponent).contains("ha-cluster.yaml"))
    }

    @Test(arguments: files)
    func loads(_ file: URL) throws {
        let c = try ClusterBuilder.load(paths: [file.path])
        #expect(!c.nodes.isEmpty)
        #expect(c.pods.allSatisfy { !$0.ips.isEmpty })
    }

    @Test(arguments: files)
    func mutatedAndTruncatedCopiesFailCleanly(_ file: URL) throws {
        let text = try String(contentsOf: file, encoding: .utf8)
        var rng = SeededGenerator(seed: 2026)
        var outcomes = (ok: 0, errors: 0)
        func attempt(_ variant: String) {
            do {
                _ = try ClusterBuilder.build(TopologyLoader.parse(text: variant, file: file.lastPathComponent))
                outcomes.ok += 1
            } catch {
                #expect(!error.message.isEmpty)
                #expect(error.location?.file == nil || error.location?.file == file.lastPathComponent)
                outcomes.errors += 1
            }
        }
        let bytes = Array(text.utf8)
        // Truncations at many points, including mid-token.
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 150)) {
            attempt(String(decoding: bytes[..<cut], as: UTF8.self))
        }
        // Single-byte substitutions with characters that matter to YAML and to addresses.
        let alphabet = Array(":-[]{}, #'\"\n\t/.0123456789azZ&*!|>%@`".utf8)
        for _ in 0..<400 {
            var b = bytes
            let at = Int.random(in: 0..<b.count, using: &rng)
            b[at] = alphabet[Int.random(in: 0..<alphabet.count, using: &rng)]
            attempt(String(decoding: b, as: UTF8.self))
        }
        // Lines dropped or doubled.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for _ in 0..<150 {
            var l = lines
            let at = Int.random(in: 0..<l.count, using: &rng)
            if Bool.random(using: &rng) { l.remove(at: at) } else { l.insert(l[at], at: at) }
            attempt(l.joined(separator: "\n"))
        }
        // Numbers swapped for out-of-range ones.
        for replacement in ["0", "-1", "99999", "4294967296", "18446744073709551616", "1e9", "0x10"] {
            for _ in 0..<20 {
                var l = lines
                let at = Int.random(in: 0..<l.count, using: &rng)
                l[at] = Substring(l[at].replacing(/\d+/, with: replacement))
                attempt(l.joined(separator: "\n"))
            }
        }
        #expect(outcomes.errors > 0 && outcomes.ok > 0)
    }
}
