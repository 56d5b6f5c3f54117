import Cluster
import Dataplane
import Foundation
import Netfilter
import Wire

/// Renderings of a data-plane trace: a story for people, diagrams for documents.
enum TraceRender {
    static func packet(_ p: Packet) -> String { p.summary }

    /// The hop-by-hop story: for each path, each step with its node, what matched and what
    /// changed, then the verdict and why; then the reply.
    static func text(_ t: DataplaneTrace) -> String {
        var out = "trace \(packet(t.packet)) from \(t.source) to \(t.destination)\n"
        for n in t.notes { out += "note: \(n)\n" }
        for (i, p) in t.paths.enumerated() {
            out += "\n"
            if t.paths.count > 1 { out += "path \(i + 1) of \(t.paths.count), probability \(String(format: "%.4f", p.probability))\n" }
            out += steps(p)
            out += summary(p, reply: false)
            if let r = p.reply {
                out += "\nreply \(packet(r.path.steps.first?.packet ?? r.path.finalPacket)):\n"
                out += steps(r.path)
                out += summary(r.path, reply: true)
                out += r.reachedClient
                    ? "  the reply reaches the client from \(t.packet.destination.joined(port: t.packet.destinationPort)), as it expects\n"
                    : "  the reply does NOT reach the client as \(t.packet.destination.joined(port: t.packet.destinationPort))\n"
            }
        }
        return out
    }

    static func steps(_ p: DataplanePath) -> String {
        var out = ""
        var last: Packet?
        for s in p.steps {
            let node = (s.node ?? "").padding(toLength: 14, withPad: " ", startingAt: 0)
            switch s.kind {
            case .netfilter:
                var where_ = [s.hook?.rawValue, s.table, s.chain].compactMap { $0 }.joined(separator: " ")
                if let r = s.rule { where_ += " #\(r)" }
                out += "  \(node) \(where_): \(s.action)\n"
                if let text = s.text { out += "  \(String(repeating: " ", count: 14))   \(text)\n" }
            case .link, .deliver:
                out += "  \(node) \(s.action)\n"
            case .tunnel:
                out += "  \(node) \(s.action)\n  \(String(repeating: " ", count: 14))   outer: \(s.outer?.description ?? "")\n"
            }
            if let l = last, l.source != s.packet.source || l.destination != s.packet.destination
                || l.sourcePort != s.packet.sourcePort || l.destinationPort != s.packet.destinationPort {
                out += "  \(String(repeating: " ", count: 14))   packet is now \(packet(s.packet))\n"
            }
            last = s.packet
        }
        return out
    }

    static func summary(_ p: DataplanePath, reply: Bool) -> String {
        var parts = ["verdict: \(p.verdict.rawValue)"]
        if let to = p.deliveredTo { parts.append("to \(to)") }
        if let d = p.dnat { parts.append("DNAT to \(d)") }
        if let s = p.snat { parts.append("SNAT to \(s)") } else if p.masquerade { parts.append("marked for masquerade") }
        var out = "  " + parts.joined(separator: "; ") + "\n"
        if let why = p.why { out += "  why: \(why)\n" }
        return out
    }

    /// Participants of a sequence diagram: the places a path visits, in order.
    static func places(_ p: DataplanePath, source: String) -> [String] {
        var out = [source]
        for s in p.steps {
            if let n = s.node, !out.contains(n) { out.append(n) }
        }
        if let d = p.deliveredTo?.description, !out.contains(d) { out.append(d) }
        return out
    }

    /// The rewrites a sequence diagram notes: the NAT targets DNAT, SNAT and MASQUERADE,
    /// conntrack un-NATing a reply, and IPVS's masq and its reply. REDIRECT, a remapped source
    /// port and NAT re-applied to a later packet are left out.
    static func noted(_ rewrite: Rewrite?) -> Bool {
        switch rewrite {
        case .dnat?, .snat?, .masquerade?, .ipvsMasq?, .ipvsReply?: true
        case .conntrackNAT(_, let reply, _, _)?: reply
        case .redirect?, .sourcePortRemapped?, nil: false
        }
    }

    static func mermaidText(_ s: String) -> String { s.replacingOccurrences(of: ";", with: ",").replacingOccurrences(of: "#", with: "nr ") }

    /// A DOT string literal's contents: backslash, quote, and a newline as DOT's `\n`.
    static func dotText(_ s: String) -> String { ClusterPicture.dotText(s) }

    /// SVG through Graphviz's `dot`, when it is installed.
    static func svg(_ t: DataplaneTrace) throws -> String { try Graphviz.svg(dot(t)) }
}
