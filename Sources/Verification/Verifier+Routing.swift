import Cluster
import Dataplane
import Netfilter
import Wire

/// `routing`: the address plan and the routes that carry the pod network. Pod CIDRs must be
/// disjoint, inside the cluster CIDR, clear of node addresses and Service CIDRs; and every
/// node's routing table must take every other node's pod CIDR to that node, hop by hop, with
/// no blackhole, no default-gateway escape and no loop.
extension Verifier {
    func checkRouting(_ result: inout ResultBuilder) {
        let nodes = cluster.nodes
        let settings = cluster.settings
        func fact(_ what: String, _ why: String?) {
            result.result.classes += 1
            if let why { result.violated(Violation(packetClass: what, example: nil, why: why, trace: nil)) }
        }
        // The address plan.
        for (i, a) in nodes.enumerated() {
            for pa in a.podCIDRs {
                for b in nodes[(i + 1)...] {
                    for pb in b.podCIDRs where pa.family == pb.family {
                        fact("podCIDRs of \(a.name) and \(b.name)",
                             pa.overlaps(pb) ? "node \(a.name)'s podCIDR \(pa) overlaps node \(b.name)'s \(pb)" : nil)
                    }
                }
                let inside = settings.clusterCIDRs.contains { $0.family == pa.family && $0.contains(pa) }
                fact("podCIDR \(pa) of \(a.name)", inside ? nil
                     : "node \(a.name)'s podCIDR \(pa) is outside the cluster CIDR \(settings.clusterCIDRs.map(\.description).joined(separator: ","))")
                for s in settings.serviceCIDRs where s.family == pa.family {
                    fact("Service CIDR \(s) and \(a.name)'s podCIDR", s.overlaps(pa) ? "the Service CIDR \(s) overlaps node \(a.name)'s podCIDR \(pa)" : nil)
                }
                for n in nodes {
                    for ip in n.internalIPs where ip.family == pa.family {
                        fact("address \(ip) of \(n.name) and \(a.name)'s podCIDR",
                             pa.contains(ip) ? "node \(n.name)'s address \(ip) is inside node \(a.name)'s podCIDR \(pa)" : nil)
                    }
                }
            }
        }
        for s in settings.serviceCIDRs {
            for c in settings.clusterCIDRs where c.family == s.family {
                fact("Service CIDR \(s) and cluster CIDR \(c)", s.overlaps(c) ? "the Service CIDR \(s) overlaps the cluster CIDR \(c)" : nil)
            }
        }
        // What the loader found inconsistent and the checks above do not cover.
        for i in cluster.inconsistencies {
            switch i.kind {
            case .nodeIPInClusterCIDR, .nodeIPInServiceCIDR, .podCIDROutsideFlannelNetwork, .clusterCIDRInsideServiceCIDR:
                fact(i.description, i.message)
            default:
                break
            }
        }
        // The routes: from every node to every other node's pod CIDR.
        for (i, a) in plane.nodes.enumerated() {
            for (j, b) in nodes.enumerated() where j != i {
                for p in b.podCIDRs {
                    fact("route on \(a.node.name) to \(b.name)'s \(p)", follow(p, from: i, to: j))
                }
            }
        }
    }

    /// Why packets for `prefix` starting on node `from` do not reach node `to`, or nil when
    /// every part of the prefix (each more specific route splits it) does.
    private func follow(_ prefix: Prefix, from: Int, to: Int) -> String? {
        // The addresses where the longest-prefix match can change inside `prefix`.
        var probes = [prefix.network]
        for n in plane.nodes {
            for r in n.host.routes where r.destination.family == prefix.family && prefix.contains(r.destination) && r.destination != prefix {
                probes.append(r.destination.network)
            }
        }
        for address in Set(probes).sorted(by: { $0.bits < $1.bits }) {
            if let why = walk(address, from: from, to: to) { return why }
        }
        return nil
    }

    private func walk(_ address: IPAddress, from: Int, to: Int) -> String? {
        var at = from
        var visited: [String] = []
        for _ in 0..<32 {
            let host = plane.nodes[at].host
            visited.append(host.name)
            if at == to { return nil }
            guard let r = host.route(to: address) else {
                return "no route to \(address) on \(host.name): the packet is dropped (unreachable)"
            }
            if r.device == NodeNetwork.bridgeName {
                return "\(host.name) routes \(address) to its own bridge \(NodeNetwork.bridgeName), not to node \(cluster.nodes[to].name)"
            }
            guard let next = nodeOwning(r.nextHop, device: r.device) else {
                return "no route to \(address) on \(host.name) towards node \(cluster.nodes[to].name); packets go to the default gateway \(r.nextHop) out \(r.device)"
            }
            if visited.contains(plane.nodes[next].host.name) {
                return "routing loop for \(address): \((visited + [plane.nodes[next].host.name]).joined(separator: " → "))"
            }
            at = next
        }
        return "more than 32 hops for \(address)"
    }

    /// The node a next hop belongs to: its node address (host-gw), or its flannel.1 address
    /// (VXLAN: the network address of the node's pod CIDR).
    private func nodeOwning(_ hop: IPAddress, device: String) -> Int? {
        for (k, n) in cluster.nodes.enumerated() {
            if n.internalIPs.contains(hop) { return k }
            if device == NodeNetwork.vxlanDevice(hop.family), n.podCIDRs.contains(where: { $0.network == hop }) { return k }
        }
        return nil
    }
}
