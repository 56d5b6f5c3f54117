import FoundationEssentials
import Wire

/// JSON as ARCHITECTURE.md's trace schema: `{"packet": {...}, "paths": [...]}`; absent
/// values are written as null, never left out.
extension Packet: Encodable {
    enum CodingKeys: String, CodingKey { case src, sport, dst, dport, proto, mark, in_iface, out_iface }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(source.description, forKey: .src)
        if proto.hasPorts { try c.encode(sourcePort, forKey: .sport) } else { try c.encodeNil(forKey: .sport) }
        try c.encode(destination.description, forKey: .dst)
        if proto.hasPorts { try c.encode(destinationPort, forKey: .dport) } else { try c.encodeNil(forKey: .dport) }
        try c.encode(proto.name, forKey: .proto)
        try c.encode("0x" + String(mark, radix: 16), forKey: .mark)
        try c.encode(inInterface, forKey: .in_iface)
        try c.encode(outInterface, forKey: .out_iface)
    }
}

extension TraceStep: Encodable {
    enum CodingKeys: String, CodingKey { case node, hook, table, chain, rule, text, action, packet }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(node, forKey: .node)
        try c.encode(hook?.rawValue, forKey: .hook)
        try c.encode(table, forKey: .table)
        try c.encode(chain, forKey: .chain)
        try c.encode(rule, forKey: .rule)
        try c.encode(text, forKey: .text)
        try c.encode(action, forKey: .action)
        try c.encode(packet, forKey: .packet)
    }
}

extension TracePath: Encodable {
    enum CodingKeys: String, CodingKey {
        case probability, verdict, decided_by, reason, dnat, masquerade, snat, delivered_to, steps
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(probability, forKey: .probability)
        try c.encode(verdict, forKey: .verdict)
        try c.encode(decidedBy.description, forKey: .decided_by)
        try c.encode(reason, forKey: .reason)
        try c.encode(dnat?.description, forKey: .dnat)
        try c.encode(masquerade, forKey: .masquerade)
        try c.encode(snat?.description, forKey: .snat)
        try c.encode(deliveredTo?.description, forKey: .delivered_to)
        try c.encode(steps, forKey: .steps)
    }
}

extension Trace: Encodable {
    enum CodingKeys: String, CodingKey { case packet, paths, notes }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(packet, forKey: .packet)
        try c.encode(paths, forKey: .paths)
        try c.encode(notes, forKey: .notes)
    }

    /// The trace as JSON text (keys sorted, so output is stable for scripts and diffs).
    public func json(pretty: Bool = true) -> String {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? e.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The trace as a story a network engineer follows: each path, each chain and rule that
    /// matched, what changed, and for a drop or reject, why.
    public func text() -> String {
        var out = packet.summary
        out += packet.inInterface.map { ", arriving on \($0)" } ?? ", generated locally"
        out += "\n"
        for note in notes { out += "note: \(note)\n" }
        for (n, p) in paths.enumerated() {
            out += "\npath \(n + 1) of \(paths.count)"
            if paths.count > 1 || p.probability != 1 { out += ", probability \(Self.format(p.probability))" }
            out += ": \(p.verdict.rawValue.uppercased())"
            switch p.deliveredTo {
            case .local?: out += " (delivered locally)"
            case .out(let interface)?: out += " (sent out \(interface))"
            case nil: break
            }
            out += "\n"
            var lastPacket = packet
            for s in p.steps {
                out += Self.line(s, after: lastPacket) + "\n"
                lastPacket = s.packet
            }
            var summary: [String] = []
            if let d = p.dnat { summary.append("DNAT to \(d)") }
            if let s = p.snat { summary.append("SNAT to \(s)") }
            if p.masquerade { summary.append("masqueraded") }
            if !summary.isEmpty { out += "  translation: " + summary.joined(separator: "; ") + "\n" }
            out += "  decided by: \(p.decidedBy)\n"
            if p.verdict != .accepted, let r = p.reason { out += "  why: \(r)\n" }
        }
        return out
    }

    /// One step of the story: hook, table (or conntrack / routing / ipvs), chain and rule number,
    /// the rule's text, what happened, and what changed since `previous`.
    static func line(_ s: TraceStep, after previous: Packet) -> String {
        let subject = s.subject
        var line = "  "
        line += (s.hook?.rawValue ?? "").padding(12)
        line += subject.tableName.padding(10)
        if let c = subject.chain {
            line += c + (subject.ruleNumber.map { " #\($0)" } ?? "") + ": "
        }
        if let t = s.text, subject.ruleNumber != nil { line += t + "\n" + String(repeating: " ", count: 24) + "→ " }
        line += s.action
        if s.packet != previous && s.packet.summary != previous.summary {
            line += "  [now \(s.packet.summary)]"
        }
        if s.packet.mark != previous.mark { line += "  [mark 0x\(String(s.packet.mark, radix: 16))]" }
        return line
    }

    static func format(_ p: Double) -> String {
        var s = String(p)
        if s.count > 12, let dot = s.firstIndex(of: ".") {
            s = String(s[..<(s.index(dot, offsetBy: 11, limitedBy: s.endIndex) ?? s.endIndex)])
        }
        return s
    }
}

private extension String {
    func padding(_ n: Int) -> String { count >= n ? self + " " : self + String(repeating: " ", count: n - count) }
}
