import Dataplane
import Foundation
import Netfilter
import Wire

/// `kdp replay`'s text and JSON (keys in README, "JSON that scripts rely on").
enum ReplayRender {
    /// One packet of `--packets N`.
    enum PacketLine {
        case replayed(ReplayOutcome, packet: ReplayPacket, file: String)
        case skipped(ReplaySkip, file: String)
    }

    static func text(_ r: ReplaySummary, packets: [PacketLine], hopFiles: [String], hopsFolder: String?) -> String {
        var out: [String] = []
        for line in packets {
            switch line {
            case .replayed(let o, let p, _):
                var text = "#\(o.number) \(String(format: "%.6f", p.seconds)) \(o.kind.rawValue) \(p.packet.summary)"
                if p.flow.proto == .tcp { text += " [\(TCPFlags(rawValue: p.packet.tcpFlags))]" }
                if let path = o.path {
                    text += " → \(path.verdict.rawValue)"
                    if let to = path.deliveredTo { text += " \(to)" }
                    if let d = path.dnat, o.kind == .injected { text += " dnat \(d)" }
                    if path.masquerade { text += " masquerade" }
                    if let why = path.why { text += ": \(why)" }
                }
                if let m = o.mismatch { text += "  MISMATCH \(m.kind.rawValue): \(m.why)" }
                out.append(text)
            case .skipped(let s, _):
                out.append("#\(s.number) \(s.kind.rawValue): \(s.reason)")
            }
        }
        if !packets.isEmpty { out.append("") }
        let s = r.summary
        out.append("packets: \(s.packets) read, \(s.injected) injected, \(s.checked) checked, \(s.undecodable) undecodable"
                   + (s.notIP > 0 ? ", \(s.notIP) not IP" : "") + (s.duplicates > 0 ? ", \(s.duplicates) seen twice (-i any)" : ""))
        out.append("flows: \(s.flows)")
        out.append("verdicts: " + ReplaySummary.Totals.verdictNames.map { "\($0) \(s.verdicts[$0] ?? 0)" }.joined(separator: ", "))
        out.append("NAT (flows): DNAT \(r.nat.dnat), masquerade \(r.nat.masquerade), SNAT \(r.nat.snat)")
        if s.badTransportChecksums > 0 {
            out.append("transport checksums that did not verify: \(s.badTransportChecksums) (replayed anyway; usually checksum offload on the capturing host)")
        }
        if !r.services.isEmpty {
            out.append("")
            out.append("Service ports (flows per endpoint):")
            for svc in r.services {
                out.append("  \(svc.service) \(svc.port)/\(svc.proto.uppercased()): \(svc.flows) flow\(svc.flows == 1 ? "" : "s")")
                let total = max(1, svc.endpoints.values.reduce(0, +))
                for (e, n) in svc.endpoints.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
                    out.append("    \(e)  \(n)  \(String(format: "%.1f%%", Double(n) * 100 / Double(total)))")
                }
                let lost = svc.flows - svc.endpoints.values.reduce(0, +)
                if lost > 0 { out.append("    (no endpoint reached)  \(lost)") }
            }
        }
        if !r.drops.isEmpty {
            out.append("")
            out.append("Not delivered (flows):")
            for d in r.drops { out.append("  \(d.verdict) ×\(d.count): \(d.why)\n    e.g. packet #\(d.examplePacket): \(d.example)") }
        }
        out.append("")
        out.append("conntrack entries at the end: " + r.nodes.map { "\($0.name) \($0.conntrackEntries)" + ($0.conntrackTableFull > 0 ? " (table full: \($0.conntrackTableFull) refused)" : "") + ($0.conntrackEarlyDrops > 0 ? " (\($0.conntrackEarlyDrops) evicted by early drop)" : "") }.joined(separator: ", "))
        out.append("mismatches: \(s.mismatches)")
        for m in r.mismatches.prefix(20) {
            out.append("  #\(m.packet) \(m.kind.rawValue): captured \(m.captured)" + (m.expected.map { ", kdp expects \($0)" } ?? ""))
            out.append("    \(m.why)")
        }
        if r.mismatches.count > 20 { out.append("  … \(s.mismatches - 20) more (-o json lists the first \(ReplaySummary.mismatchExamplesLimit))") }
        if let hopsFolder, !hopFiles.isEmpty {
            out.append("")
            out.append("per-hop captures in \(hopsFolder): \(hopFiles.joined(separator: ", "))")
        }
        return out.joined(separator: "\n")
    }

    struct JSONReport: Encodable {
        var report: ReplaySummary
        var packets: [JSONPacket]?

        enum CodingKeys: String, CodingKey { case summary, services, drops, nat, nodes, mismatches, notes, undecodable, packets }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(report.summary, forKey: .summary)
            try c.encode(report.services, forKey: .services)
            try c.encode(report.drops, forKey: .drops)
            try c.encode(report.nat, forKey: .nat)
            try c.encode(report.nodes, forKey: .nodes)
            try c.encode(report.mismatches, forKey: .mismatches)
            try c.encode(report.notes, forKey: .notes)
            try c.encode(report.undecodable, forKey: .undecodable)
            if let packets { try c.encode(packets, forKey: .packets) }
        }
    }

    /// One packet of `--packets N`: a `kdp trace` path with the capture's number and time.
    struct JSONPacket: Encodable {
        var file: String
        var number: Int
        var timestamp: Double
        var kind: String
        var packet: String
        var path: DataplanePath?
        var mismatch: ReplaySummary.Mismatch?
        var reason: String?
        /// Every interface the packet crossed, in order: the `--hops` file it lands in.
        var hops: [JSONHop] = []
    }

    struct JSONHop: Encodable {
        var file: String
        var direction: String
        var src: String
        var dst: String
        var encapsulated: Bool

        static func of(_ path: DataplanePath?) -> [JSONHop] {
            guard let path else { return [] }
            var out: [JSONHop] = []
            for step in path.steps {
                for c in step.crossings {
                    let p = step.packet
                    let (src, dst) = c.encapsulated && step.outer != nil
                        ? (step.outer!.source.description, step.outer!.destination.description)
                        : (p.proto.hasPorts ? p.source.joined(port: p.sourcePort).description : p.source.description,
                           p.proto.hasPorts ? p.destination.joined(port: p.destinationPort).description : p.destination.description)
                    out.append(JSONHop(file: c.fileStem + ".pcap", direction: c.direction.rawValue, src: src, dst: dst, encapsulated: c.encapsulated))
                }
            }
            return out
        }
    }

    static func json(_ r: ReplaySummary, packets: [PacketLine]) -> String {
        let lines: [JSONPacket]? = packets.isEmpty ? nil : packets.map { line in
            switch line {
            case .replayed(let o, let p, let file):
                JSONPacket(file: file, number: o.number, timestamp: p.seconds, kind: o.kind.rawValue, packet: p.flow.description,
                           path: o.path, mismatch: o.mismatch, reason: nil, hops: JSONHop.of(o.path))
            case .skipped(let s, let file):
                JSONPacket(file: file, number: s.number, timestamp: 0, kind: s.kind.rawValue, packet: "", path: nil, mismatch: nil, reason: s.reason)
            }
        }
        return Render.json(JSONReport(report: r, packets: lines))
    }
}
