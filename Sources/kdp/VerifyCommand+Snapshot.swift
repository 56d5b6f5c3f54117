import ArgumentParser
import Cluster
import Foundation
import NodeSnapshot
import Verification

/// `kdp verify --snapshot DIR …`: the checks `SnapshotVerification` makes from real nodes'
/// snapshots, printed as text or JSON; exit 1 when one is violated.
extension VerifyCommand {
    func runSnapshots() throws {
        var read: [(directory: String, snapshot: NodeSnapshot)] = []
        for dir in snapshots {
            do { read.append((dir, try NodeSnapshot.read(from: dir))) } catch { throw InputError(error.description) }
        }
        let result = SnapshotVerification(snapshots: read)
        switch output {
        case .text: Console.out(Self.text(result))
        case .json: Console.out(Self.json(result))
        }
        if !result.holds { throw ExitCode(1) }
    }

    static func text(_ r: SnapshotVerification) -> String {
        var lines = ["verify from \(r.nodes.count) node snapshot\(r.nodes.count == 1 ? "" : "s"):"]
        for n in r.nodes { lines.append("  \(n.name) (\(n.directory)): address \(n.address), pod CIDR \(n.podCIDR)") }
        for c in r.checks {
            lines.append("\(c.name): \(c.holds ? "holds" : "VIOLATED") (\(c.checked) checked\(c.holds ? "" : ", \(c.violations.count) violation\(c.violations.count == 1 ? "" : "s")")) — \(c.description)")
            for v in c.violations { lines.append("  \(v.node)\(v.peer.map { " → \($0)" } ?? ""): \(v.text)") }
        }
        for n in r.notes { lines.append("note: \(n)") }
        return lines.joined(separator: "\n")
    }

    static func json(_ r: SnapshotVerification) -> String {
        let object: [String: Any] = [
            "holds": r.holds,
            "nodes": r.nodes.map { ["name": $0.name, "directory": $0.directory, "address": $0.address.description, "pod_cidr": $0.podCIDR.description] },
            "checks": r.checks.map { c in
                ["name": c.name, "description": c.description, "holds": c.holds, "checked": c.checked,
                 "violations": c.violations.map { v -> [String: Any] in
                     var o: [String: Any] = ["node": v.node, "text": v.text]
                     if let p = v.peer { o["peer"] = p }
                     return o
                 }] as [String: Any]
            },
            "notes": r.notes,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
