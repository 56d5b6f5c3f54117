import Wire

extension ClusterBuilder {
    /// Node addresses against the pod ranges, once every node has its podCIDRs: an address in a
    /// node's podCIDR is routed to that node's pods; in a topology file, an address in the
    /// cluster CIDR (outside every podCIDR) is taken for a pod's by rules that match the range.
    /// And, where flannel's network is not the cluster CIDR, podCIDRs outside it.
    /// - Complexity: O(nodes²) in the worst case of one address per node and family; a scan
    ///   over the podCIDRs per address, once per load.
    static func addressInconsistencies(_ nodes: [Node], _ settings: ClusterSettings, dump: Bool) -> [ClusterInconsistency] {
        var out: [ClusterInconsistency] = []
        let podCIDRs = nodes.flatMap { n in n.podCIDRs.map { (prefix: $0, node: n.name) } }
        for node in nodes {
            for ip in node.internalIPs {
                if let owner = podCIDRs.first(where: { $0.prefix.contains(ip) }) {
                    out.append(ClusterInconsistency(.nodeIPInPodCIDR(node: node.name, ip: ip, owner: owner.node, podCIDR: owner.prefix), at: node.location))
                } else if !dump, let cidr = settings.clusterCIDRs.first(where: { $0.contains(ip) }) {
                    out.append(ClusterInconsistency(.nodeIPInClusterCIDR(node: node.name, ip: ip, clusterCIDR: cidr), at: node.location))
                }
            }
        }
        guard settings.flannel.ipMasq else { return out }
        for node in nodes {
            for p in node.podCIDRs {
                guard let network = settings.flannelNetwork(for: p.family), network != settings.clusterCIDR(for: p.family),
                      !network.contains(p) else { continue }
                out.append(ClusterInconsistency(.podCIDROutsideFlannelNetwork(node: node.name, podCIDR: p, network: network), at: node.location))
            }
        }
        return out
    }
}
