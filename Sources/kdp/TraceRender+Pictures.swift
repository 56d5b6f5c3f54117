import Dataplane
import Netfilter
import Wire

/// `kdp trace -o dot|svg|mermaid`: pictures that show where the packet was translated. The hop
/// where a rewrite happened carries it ("DNAT 10.96.0.10:53 → 10.244.0.3:53 (KUBE-SEP-…)",
/// "masquerade 10.244.1.2 → 172.18.0.3"); a dropped or rejected path ends in a red box with its
/// why-line; the reply walks back dashed; with `--all-paths`, every path is drawn with its
/// probability.
extension TraceRender {
    /// One place a path passes (the client, a node, the pod it reaches) and the translations
    /// made there, in order.
    struct Hop {
        var place: String
        var translations: [String] = []
        /// The packet as it left this place.
        var packet: Packet
    }

    /// A path as hops: a new hop each time the packet moves to another place.
    static func hops(_ p: DataplanePath, from start: String, first: Packet) -> [Hop] {
        var out = [Hop(place: start, packet: first)]
        var before = first
        for s in p.steps {
            let here = s.node ?? out[out.count - 1].place
            if here != out[out.count - 1].place { out.append(Hop(place: here, packet: before)) }
            // A NAT rule's binding is drawn where the rule matched; conntrack applying it to the
            // same packet (nf_nat_packet) is not drawn again. A reply's un-NAT is.
            let reapplied: Bool = if case .conntrackNAT(_, false, _, _)? = s.rewrite { true } else { false }
            if s.kind == .netfilter, !reapplied, let text = translation(s, before: before) { out[out.count - 1].translations.append(text) }
            out[out.count - 1].packet = s.packet
            before = s.packet
        }
        if p.verdict == .delivered, let to = p.deliveredTo?.description, to != out[out.count - 1].place {
            out.append(Hop(place: to, packet: p.finalPacket))
        }
        return out
    }

    /// What a step rewrote, in words, with the chain that did it; nil for a step that
    /// rewrote nothing.
    static func translation(_ s: DataplaneStep, before: Packet) -> String? {
        guard let rewrite = s.rewrite else { return nil }
        let by = s.chain.map { " (\($0))" } ?? ""
        let dst = before.destination.joined(port: before.destinationPort), src = before.source.joined(port: before.sourcePort)
        switch rewrite {
        case .dnat(let a, let port): return "DNAT \(dst) → \(a.joined(port: port))\(by)"
        case .redirect(let a, let port): return "REDIRECT \(dst) → \(a.joined(port: port))\(by)"
        case .snat(let a, let port): return "SNAT \(src) → \(a.joined(port: port))\(by)"
        case .masquerade(let a, let port):
            return "masquerade \(before.source) → \(port == before.sourcePort || port == 0 ? a.description : a.joined(port: port))\(by)"
        case .sourcePortRemapped(let from, let to): return "source port \(from) → \(to) (taken: nf_nat's null binding)"
        case .conntrackNAT(let manip, let reply, let a, let port):
            let field = manip == .source ? "source \(src)" : "destination \(dst)"
            return "\(reply ? "reply un-NATed" : "NAT reapplied") by conntrack: \(field) → \(a.joined(port: port))"
        case .ipvsMasq(let v, let vp, let r, let rp): return "IPVS masq \(v.joined(port: vp)) → \(r.joined(port: rp))"
        case .ipvsReply(let v, let port): return "IPVS reply: source \(src) → \(v.joined(port: port))"
        }
    }

    /// A Graphviz digraph: one row of hops per path, from the shared client box; each hop box
    /// names its place and the translations made there, each arrow the packet as it travelled.
    /// Left to right by default; `kdp report` draws it top to bottom, beside the step table.
    static func dot(_ t: DataplaneTrace, rankdir: String = "LR") -> String {
        var out = "digraph trace {\n  rankdir=\(rankdir);\n"
        out += "  graph [fontname=\"Helvetica\", fontsize=12, labelloc=t];\n"
        out += "  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=10];\n"
        out += "  edge [fontname=\"Helvetica\", fontsize=9];\n"
        out += "  label=\"\(dotText("\(packet(t.packet)) from \(t.source) to \(t.destination)"))\";\n"
        out += "  client [label=\"\(dotText(t.source))\", shape=ellipse, fillcolor=\"#e8f1fb\"];\n"
        let many = t.paths.count > 1
        for (i, p) in t.paths.enumerated() {
            let prefix = "p\(i + 1)"
            let forward = hops(p, from: t.source, first: p.steps.first?.packet ?? t.packet)
            out += draw(forward, prefix: prefix, dashed: false,
                        firstLabel: many ? "path \(i + 1) of \(t.paths.count), p = \(String(format: "%.4f", p.probability))" : nil)
            let last = forward.count > 1 ? "\(prefix)_\(forward.count - 1)" : "client"
            if p.verdict != .delivered {
                // Dropped, rejected or unroutable: red. Accepted or gone out of the cluster: grey.
                let failed = p.verdict == .dropped || p.verdict == .rejected || p.verdict == .noRoute
                let (fill, line) = failed ? ("#fde2e0", "#c0392b") : ("#eeeeee", "#777777")
                out += "  \(prefix)_end [label=\"\(dotText(p.verdict.rawValue + ": " + (p.why ?? "")))\", fillcolor=\"\(fill)\", color=\"\(line)\"];\n"
                out += "  \(last) -> \(prefix)_end [color=\"\(line)\"];\n"
            }
            if let r = p.reply, let start = p.deliveredTo?.description {
                let back = hops(r.path, from: start, first: r.path.steps.first?.packet ?? r.path.finalPacket)
                // The reply leaves the box the request reached; its hops are its own boxes, the
                // last joined back to the client when it got there.
                var reply = Array(back.dropFirst())
                if r.reachedClient, reply.last?.place == t.source { reply.removeLast() }
                for (k, h) in reply.enumerated() { out += "  \(prefix)_r\(k + 1) [label=\"\(dotText(hopLabel(h)))\", style=\"rounded,filled,dashed\"];\n" }
                let ids = [last] + reply.indices.map { "\(prefix)_r\($0 + 1)" } + (r.reachedClient ? ["client"] : [])
                let packets = [back.first?.packet] + reply.map(\.packet)
                for (k, (a, b)) in zip(ids, ids.dropFirst()).enumerated() {
                    let label = k < packets.count ? packets[k].map { packet($0) } ?? "" : ""
                    out += "  \(a) -> \(b) [style=dashed, color=\"#555555\", label=\"\(dotText(label))\"];\n"
                }
                if r.path.verdict != .delivered || !r.reachedClient {
                    out += "  \(prefix)_rend [label=\"\(dotText("reply " + r.path.verdict.rawValue + ": " + (r.path.why ?? "does not reach the client")))\", fillcolor=\"#fde2e0\", color=\"#c0392b\"];\n"
                    out += "  \(ids.last!) -> \(prefix)_rend [style=dashed, color=\"#c0392b\"];\n"
                }
            }
        }
        out += "}\n"
        return out
    }

    static func hopLabel(_ h: Hop) -> String { ([h.place] + h.translations).joined(separator: "\n") }

    /// A path's hops after the client as boxes `prefix_k`, joined by arrows carrying the packet.
    static func draw(_ hops: [Hop], prefix: String, dashed: Bool, firstLabel: String?) -> String {
        var out = ""
        for (k, h) in hops.enumerated() where k > 0 {
            let translated = !h.translations.isEmpty
            out += "  \(prefix)_\(k) [label=\"\(dotText(hopLabel(h)))\"\(translated ? ", fillcolor=\"#fff3d6\", color=\"#d9a441\"" : "")];\n"
        }
        // The client's own translations (none for a pod; a node's own packet may be NATed in
        // OUTPUT) go on its first arrow.
        for k in 1..<max(1, hops.count) {
            let from = k == 1 ? "client" : "\(prefix)_\(k - 1)"
            var label = packet(hops[k - 1].packet)
            if k == 1 {
                if !hops[0].translations.isEmpty { label = hops[0].translations.joined(separator: "\n") + "\n" + label }
                if let f = firstLabel { label = f + "\n" + label }
            }
            out += "  \(from) -> \(prefix)_\(k) [label=\"\(dotText(label))\"\(dashed ? ", style=dashed" : "")];\n"
        }
        return out
    }

    /// A Mermaid sequence diagram of the paths and their replies (renders on GitHub): an arrow
    /// each time the packet moves to another place, labelled with the packet as it travelled; a
    /// note where an address was rewritten, saying which and by what; the reply dashed; a
    /// dropped or rejected end in a red band with its why-line. With several paths
    /// (`--all-paths`), each is an `alt`/`else` branch titled with its probability.
    static func mermaid(_ t: DataplaneTrace) -> String {
        guard !t.paths.isEmpty else { return "sequenceDiagram\n  Note over client: no path\n" }
        var names: [String] = []
        for p in t.paths {
            for n in places(p, source: t.source) where !names.contains(n) { names.append(n) }
            if let r = p.reply { for n in places(r.path, source: t.source) where !names.contains(n) { names.append(n) } }
        }
        func id(_ s: String) -> String { "p" + String(names.firstIndex(of: s) ?? 0) }
        var out = "sequenceDiagram\n"
        for n in names { out += "  participant \(id(n)) as \(n)\n" }
        let indent = t.paths.count > 1 ? "    " : "  "
        func arrows(_ path: DataplanePath, from start: String, arrow: String, end: String?) -> String {
            var lines = ""
            var at = start
            var travelling = path.steps.first?.packet ?? path.finalPacket
            for s in path.steps {
                let here = s.node ?? at
                if here != at {
                    lines += "\(indent)\(id(at))\(arrow)\(id(here)): \(mermaidText(packet(travelling)))\n"
                    at = here
                }
                if s.kind == .netfilter, noted(s.rewrite), let text = translation(s, before: travelling) {
                    lines += "\(indent)Note over \(id(here)): \(mermaidText(text))\n"
                }
                travelling = s.packet
            }
            if path.verdict == .delivered, let to = end, to != at {
                lines += "\(indent)\(id(at))\(arrow)\(id(to)): \(mermaidText(packet(travelling)))\n"
            } else if path.verdict != .delivered {
                lines += "\(indent)rect rgb(253, 226, 224)\n\(indent)  Note over \(id(at)): \(path.verdict.rawValue): \(mermaidText(path.why ?? ""))\n\(indent)end\n"
            }
            return lines
        }
        for (i, p) in t.paths.enumerated() {
            if t.paths.count > 1 {
                out += "  \(i == 0 ? "alt" : "else") path \(i + 1) of \(t.paths.count), p = \(String(format: "%.4f", p.probability))\n"
            }
            out += arrows(p, from: t.source, arrow: "->>", end: p.deliveredTo?.description)
            if let r = p.reply, let start = p.deliveredTo?.description { out += arrows(r.path, from: start, arrow: "-->>", end: t.source) }
        }
        if t.paths.count > 1 { out += "  end\n" }
        return out
    }
}
