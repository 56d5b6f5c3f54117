import Dataplane
import Foundation
import Netfilter
import Verification
import Wire

/// `kdp verify`'s text and JSON. JSON: `invariants[]` {`name`, `holds`, `classes`,
/// `violation_count`, `violations[]` {`class`, `example`, `why`, `trace`}, `notes`} and `notes`
/// (ARCHITECTURE.md).
enum VerifyRender {
    static func text(_ r: VerificationReport, explain: Bool) -> String {
        var rows: [[String]] = []
        for i in r.results {
            rows.append([i.invariant.rawValue, i.holds ? "holds" : "VIOLATED", "\(i.classes)", "\(i.violationCount)"])
        }
        var out = Render.table(["INVARIANT", "RESULT", "CLASSES", "VIOLATIONS"], rows)
        if !out.hasSuffix("\n") { out += "\n" }
        for n in r.notes { out += "note: \(n)\n" }
        for i in r.results {
            for n in i.notes { out += "note: \(i.invariant.rawValue): \(n)\n" }
            if explain {
                out += "\n\(i.invariant.rawValue): \(i.classes) classes\n"
                for c in i.classList { out += "  \(c.summary)\n" }
            }
            for (k, v) in i.violations.enumerated() {
                out += "\n\(i.invariant.rawValue) violation \(k + 1) of \(i.violationCount): \(v.packetClass)\n"
                if let e = v.example { out += "  example: \(e.proto) \(e.source.joined(port: e.sourcePort)) → \(e.destination.joined(port: e.destinationPort))\n" }
                out += "  why: \(v.why)\n"
                if let t = v.trace, let path = t.paths.first(where: { $0.verdict != .delivered || $0.finalPacket.source != t.packet.source }) ?? t.paths.first {
                    out += TraceRender.steps(path).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
                }
            }
        }
        return out
    }

    struct JSONViolation: Encodable {
        let violation: Violation
        enum CodingKeys: String, CodingKey { case `class`, example, why, trace }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(violation.packetClass, forKey: .class)
            try c.encode(violation.example, forKey: .example)
            try c.encode(violation.why, forKey: .why)
            try c.encode(violation.trace, forKey: .trace)
        }
    }

    struct JSONInvariant: Encodable {
        let result: InvariantResult
        let explain: Bool
        enum CodingKeys: String, CodingKey { case name, holds, classes, violation_count, violations, notes, class_list }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(result.invariant.rawValue, forKey: .name)
            try c.encode(result.holds, forKey: .holds)
            try c.encode(result.classes, forKey: .classes)
            try c.encode(result.violationCount, forKey: .violation_count)
            try c.encode(result.violations.map(JSONViolation.init), forKey: .violations)
            try c.encode(result.notes, forKey: .notes)
            if explain { try c.encode(result.classList.map(\.summary), forKey: .class_list) }
        }
    }

    struct JSONReport: Encodable {
        let report: VerificationReport
        let explain: Bool
        enum CodingKeys: String, CodingKey { case holds, invariants, notes }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(report.holds, forKey: .holds)
            try c.encode(report.results.map { JSONInvariant(result: $0, explain: explain) }, forKey: .invariants)
            try c.encode(report.notes, forKey: .notes)
        }
    }

    static func json(_ r: VerificationReport, explain: Bool) -> String {
        Render.json(JSONReport(report: r, explain: explain))
    }
}
