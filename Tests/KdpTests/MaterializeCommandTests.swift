import Foundation
import TestSupport
import Testing

/// `kdp materialize` through the binary: JSON listing what was built, `--delete` removing it,
/// one `kdp:` line and exit 2 for a bad prefix. Namespaces carry a random prefix and are
/// removed however the test ends.
@Suite(.serialized) struct MaterializeCommandTests {
    @Test func materializeListsWhatItBuiltAndDeleteRemovesIt() throws {
        guard !KernelCheck.unavailable() else { return }
        let prefix = "kdp-mc\(UInt32.random(in: 0...UInt32.max))-"
        defer {
            _ = try? kdp(["materialize", "--prefix", prefix, "--delete"])
            for n in (try? Shell.sh("ip netns list"))?.split(separator: "\n") ?? [] where n.hasPrefix(prefix) {
                _ = try? Shell.run(["ip", "netns", "del", String(n.split(separator: " ")[0])])
            }
        }
        let built = try kdp(["materialize", "--prefix", prefix, "-o", "json"])
        #expect(built.status == 0, "\(built.stderr)")
        let namespaces = (built.json["namespaces"] as? [[String: Any]]) ?? []
        #expect(namespaces.count == 9)
        #expect(namespaces.first?["name"] as? String == prefix + "fabric")
        #expect(namespaces.contains { $0["name"] as? String == prefix + "pod.default.client" && $0["role"] as? String == "pod" })
        let again = try kdp(["materialize", "--prefix", prefix])
        #expect(again.status == 2 && again.stderr.hasPrefix("kdp: ") && again.stderr.contains("--delete"))
        let deleted = try kdp(["materialize", "--prefix", prefix, "--delete"])
        #expect(deleted.status == 0 && deleted.stdout.contains("deleted 9 network namespaces"))
        #expect(!(try Shell.sh("ip netns list")).contains(prefix))
    }

    @Test func aBadPrefixIsExitTwo() throws {
        let r = try kdp(["materialize", "--prefix", "Kdp.x"])
        #expect(r.status == 2 && r.stderr.hasPrefix("kdp: ") && r.stderr.contains("--prefix"))
    }
}
