/// The two renderings of a `ClusterPicture`: Graphviz DOT (and SVG through it) and a Mermaid
/// flowchart (which GitHub renders). Same boxes, same groups, same edges, same ids.
extension ClusterPicture {
    /// Graphviz DOT, top to bottom: the Services in rows, then the nodes side by side (control
    /// plane first), each a column of its host and pods, then the node network they all join.
    var dot: String {
        var out = "digraph cluster {\n"
        out += "  graph [rankdir=TB, newrank=true, compound=true, fontname=\"Helvetica\", fontsize=12, nodesep=0.2, ranksep=0.35,"
        out += " labelloc=t, label=\"\(Self.dotText(title))\"];\n"
        out += "  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=10];\n"
        out += "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#555555\"];\n"
        out += "  subgraph cluster_services {\n    label=\"Services\"; style=\"rounded,filled\"; fillcolor=\"#fff6e5\"; color=\"#d9a441\";\n"
        for b in services { out += "    " + Self.dotBox(b) + "\n" }
        out += "  }\n"
        let planes = [("cluster_controlplane", "control plane", "#f1eaf8", "#8e6bb8", groups.filter(\.controlPlane)),
                      ("cluster_workers", "workers", "#eaf2fb", "#5b8fc7", groups.filter { !$0.controlPlane })]
        for (id, label, fill, line, members) in planes where !members.isEmpty {
            out += "  subgraph \(id) {\n    label=\"\(label)\"; style=\"rounded,filled\"; fillcolor=\"\(fill)\"; color=\"\(line)\";\n"
            for g in members {
                out += "    subgraph cluster_\(g.id) {\n      label=\"\(Self.dotText(g.title.joined(separator: "\n")))\"; style=\"rounded,filled\"; fillcolor=white; color=\"\(line)\";\n"
                for b in g.boxes { out += "      " + Self.dotBox(b) + "\n" }
                out += "    }\n"
            }
            out += "  }\n"
        }
        for b in outside { out += "  " + Self.dotBox(b) + "\n" }
        out += "  " + Self.dotBox(network) + "\n"
        // Layout, by invisible edges (Graphviz ranks by edges): Services in rows of
        // `servicesPerRow`, every node's column below the last row, each column a chain from
        // the host down through its pods, and the network below every column. Service arrows
        // do not constrain the ranks, so a column keeps its order whatever its endpoints.
        let perRow = Self.servicesPerRow
        for (i, b) in services.enumerated() where i >= perRow { out += "  \(services[i - perRow].id) -> \(b.id) [style=invis];\n" }
        let lastRow = services.suffix(services.isEmpty ? 0 : (services.count - 1) % perRow + 1)
        for g in groups {
            let chain = g.boxes.map(\.id)
            if let s = lastRow.first { out += "  \(s.id) -> \(chain[0]) [style=invis];\n" }
            for (a, b) in zip(chain, chain.dropFirst()) { out += "  \(a) -> \(b) [style=invis];\n" }
        }
        for e in edges {
            let style = e.dashed ? ", style=dashed, color=\"#999999\"" : ""
            let label = e.label.isEmpty ? "" : "xlabel=\"\(Self.dotText(e.label))\", "
            out += "  \(e.from) -> \(e.to) [\(label)constraint=false\(style)];\n"
        }
        // Each node's column joins the network at its foot (the edge leaves the node's box).
        for g in groups {
            out += "  \(g.boxes.last!.id) -> \(network.id) [ltail=cluster_\(g.id), dir=none, penwidth=2, color=\"#3d6fa8\"];\n"
        }
        out += "}\n"
        return out
    }

    /// Services per row at the top of the DOT picture.
    static let servicesPerRow = 6

    static func dotBox(_ b: Box) -> String {
        let label = dotText(b.lines.joined(separator: "\n"))
        let style: String
        switch b.kind {
        case .host: style = "shape=box3d, style=filled, fillcolor=\"#dfe9f5\""
        case .pod: style = "fillcolor=white"
        case .hostNetworkPod: style = "style=\"rounded,filled,dashed\", fillcolor=\"#f4f4f4\""
        case .notReadyPod: style = "fillcolor=\"#eeeeee\", fontcolor=\"#888888\", color=\"#aaaaaa\""
        case .service: style = "shape=component, style=filled, fillcolor=\"#ffe3b3\""
        case .outside: style = "shape=note, style=filled, fillcolor=\"#fbe9e7\""
        case .network: style = "shape=cylinder, style=filled, fillcolor=\"#cfe0f3\""
        }
        return "\(b.id) [label=\"\(label)\", \(style)];"
    }

    /// A DOT string literal's contents: backslash, quote, and newlines as `\n`.
    static func dotText(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// A Mermaid flowchart with the same groups, boxes and edges.
    var mermaid: String {
        var out = "---\ntitle: \"\(title.replacingOccurrences(of: "\"", with: "'"))\"\n---\nflowchart LR\n"
        out += "  subgraph services[\"Services\"]\n"
        for b in services { out += "    " + Self.mermaidBox(b) + "\n" }
        out += "  end\n"
        let planes = [("controlplane", "control plane", groups.filter(\.controlPlane)), ("workers", "workers", groups.filter { !$0.controlPlane })]
        for (id, label, members) in planes where !members.isEmpty {
            out += "  subgraph \(id)[\"\(label)\"]\n"
            for g in members {
                out += "    subgraph \(g.id)[\"\(Self.mermaidText(g.title.joined(separator: "\n")))\"]\n"
                for b in g.boxes { out += "      " + Self.mermaidBox(b) + "\n" }
                out += "    end\n"
            }
            out += "  end\n"
        }
        for b in outside { out += "  " + Self.mermaidBox(b) + "\n" }
        out += "  " + Self.mermaidBox(network) + "\n"
        for e in edges {
            let label = e.label.isEmpty ? "" : "|\"\(Self.mermaidText(e.label))\"|"
            out += "  \(e.from) \(e.dashed ? "-.->" : "-->")\(label) \(e.to)\n"
        }
        for h in uplinks { out += "  \(h) === \(network.id)\n" }
        out += "  classDef host fill:#dfe9f5,stroke:#3d6fa8\n  classDef pod fill:#ffffff,stroke:#5b8fc7\n"
        out += "  classDef hostpod fill:#f4f4f4,stroke:#888888,stroke-dasharray:4 3\n  classDef notready fill:#eeeeee,color:#888888,stroke:#aaaaaa\n"
        out += "  classDef svc fill:#ffe3b3,stroke:#d9a441\n  classDef outside fill:#fbe9e7,stroke:#c0392b\n  classDef net fill:#cfe0f3,stroke:#3d6fa8\n"
        return out
    }

    static func mermaidBox(_ b: Box) -> String {
        let text = mermaidText(b.lines.joined(separator: "\n"))
        switch b.kind {
        case .host: return "\(b.id)[\"\(text)\"]:::host"
        case .pod: return "\(b.id)(\"\(text)\"):::pod"
        case .hostNetworkPod: return "\(b.id)(\"\(text)\"):::hostpod"
        case .notReadyPod: return "\(b.id)(\"\(text)\"):::notready"
        case .service: return "\(b.id)[[\"\(text)\"]]:::svc"
        case .outside: return "\(b.id)>\"\(text)\"]:::outside"
        case .network: return "\(b.id)[(\"\(text)\")]:::net"
        }
    }

    /// Text inside a quoted Mermaid label: quotes as `#quot;`, newlines as `<br/>`, and the
    /// characters Mermaid's parser reads as markup escaped as entities.
    static func mermaidText(_ s: String) -> String {
        s.replacingOccurrences(of: "#", with: "#35;").replacingOccurrences(of: "\"", with: "#quot;")
            .replacingOccurrences(of: "<", with: "#lt;").replacingOccurrences(of: ">", with: "#gt;")
            .replacingOccurrences(of: "\n", with: "<br/>")
    }
}
