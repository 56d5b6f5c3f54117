import Dataplane
import Netfilter
import Wire

/// Why a path breaks an invariant, in a sentence that names the node and the rule:
/// "masqueraded on worker-1 by `-A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE` (rule 3 of nat
/// POSTROUTING)", "no route to 10.244.3.0 on worker-2: left the cluster towards the default
/// gateway".
enum PathExplanation {
    /// - Parameter destinationNAT: whether a changed destination is part of the why (not for
    ///   Services, whose DNAT is their job).
    static func why(_ path: DataplanePath, expected c: PacketClass, destinationNAT: Bool = true) -> String {
        var parts: [String] = []
        // The rewrites first: they are what the no-NAT rules forbid.
        for step in path.steps {
            guard let rewrite = step.rewrite else { continue }
            switch rewrite {
            case .masquerade(let a, _):
                parts.append("masqueraded to \(a)\(where_(step))\(marked(path, before: step))")
            case .snat(let a, _):
                parts.append("source NATed to \(a)\(where_(step))")
            case .dnat(let a, let port), .redirect(let a, let port):
                if destinationNAT, a != c.example.destination || port != c.example.destinationPort || !c.proto.hasPorts {
                    parts.append("destination NATed to \(SocketAddress(a, port: port))\(where_(step))")
                }
            case .ipvsMasq(_, _, let real, let port) where destinationNAT:
                parts.append("IPVS sent it to \(SocketAddress(real, port: port))\(where_(step))")
            default:
                break
            }
        }
        switch path.verdict {
        case .delivered:
            if let to = path.deliveredTo, let pod = c.exampleReceiver.pod, to != .pod(namespace: pod.namespace, name: pod.name) {
                parts.append("delivered to \(to) instead of pod/\(pod.key)")
            }
        case .leftCluster:
            let node = path.steps.last?.node.map { " on \($0)" } ?? ""
            parts.append("no route to \(path.finalPacket.destination)\(node): \(path.why ?? "the packet left the cluster towards the default gateway")")
        default:
            let node = path.steps.last(where: { $0.node != nil })?.node.map { " on \($0)" } ?? ""
            var text = "\(path.verdict.rawValue)\(node)"
            if case .node(let d) = path.decidedBy, case .rule(let r) = d {
                text += " by `\(r.text)` (rule \(r.number) of \(r.table.rawValue) \(r.chain))"
            }
            if let why = path.why { text += ": \(why)" }
            parts.append(text)
        }
        if parts.isEmpty { parts.append("\(path.verdict.rawValue), arriving as \(path.finalPacket.source) → \(path.finalPacket.destination)") }
        return parts.joined(separator: "; ")
    }

    /// ` on NODE by `RULE` (rule N of TABLE CHAIN)` for a rule step.
    static func where_(_ step: DataplaneStep) -> String {
        var text = step.node.map { " on \($0)" } ?? ""
        if let s = step.netfilter, case .rule(let r) = s {
            text += " by `\(r.text)` (rule \(r.number) of \(r.table.rawValue) \(r.chain))"
        } else if let s = step.netfilter {
            text += " by \(s.tableName)"
        }
        return text
    }

    /// `, marked for masquerade by `RULE` (…)`: the rule that jumped to KUBE-MARK-MASQ (or set
    /// the mark) before the masquerade.
    static func marked(_ path: DataplanePath, before masq: DataplaneStep) -> String {
        guard let i = path.steps.firstIndex(where: { $0.chain == "KUBE-MARK-MASQ" }), i > 0,
              let s = path.steps[i - 1].netfilter, case .rule(let r) = s else { return "" }
        return ", marked for masquerade by `\(r.text)` (rule \(r.number) of \(r.table.rawValue) \(r.chain))"
    }
}
