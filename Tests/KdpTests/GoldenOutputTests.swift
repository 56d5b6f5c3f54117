import Foundation
import Testing

/// The outputs of `kdp trace`, `compile`, `trace-rules`, `ipvs`, `cluster` and `routes` on the
/// shipped topologies and dumps, byte for byte. Refactors must leave them as they are; a
/// deliberate behaviour change regenerates them with `make golden` and shows the diff.
@Suite struct GoldenOutputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var arguments: [String]
        var testDescription: String { name }
    }

    static let folder = repositoryRoot.appendingPathComponent("Tests/KdpTests/Golden")

    /// `cases.txt`: `name: arguments`, `golden/PATH` naming a file in this folder.
    static let cases: [Case] = {
        guard let text = try? String(contentsOf: folder.appendingPathComponent("cases.txt"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let colon = line.firstIndex(of: ":") else { return nil }
            let arguments = line[line.index(after: colon)...].split(separator: " ").map { word in
                word.hasPrefix("golden/") ? "Tests/KdpTests/Golden/" + word.dropFirst("golden/".count) : String(word)
            }
            return Case(name: String(line[..<colon]), arguments: arguments)
        }
    }()

    @Test func everyCaseHasItsExpectedOutput() throws {
        #expect(Self.cases.count >= 60)
        for c in Self.cases {
            #expect(FileManager.default.fileExists(atPath: Self.folder.appendingPathComponent("expected/\(c.name).out").path), "\(c.name)")
        }
    }

    @Test(arguments: cases) func outputIsByteIdentical(_ c: Case) throws {
        let r = try kdp(c.arguments)
        let expected = Self.folder.appendingPathComponent("expected")
        let out = try String(contentsOf: expected.appendingPathComponent("\(c.name).out"), encoding: .utf8)
        let err = (try? String(contentsOf: expected.appendingPathComponent("\(c.name).err"), encoding: .utf8)) ?? ""
        #expect(r.status == (c.name.hasSuffix("-exit2") ? 2 : 0), "\(c.name): \(r.stderr)")
        #expect(r.stderr == err, "\(c.name) stderr")
        if r.stdout != out {
            let got = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            let want = out.split(separator: "\n", omittingEmptySubsequences: false)
            let line = (0..<min(got.count, want.count)).first { got[$0] != want[$0] } ?? min(got.count, want.count)
            Issue.record("\(c.name): stdout differs first at line \(line + 1): got \(line < got.count ? String(got[line]) : "<end>"), want \(line < want.count ? String(want[line]) : "<end>")")
        }
    }
}
