import Wire

/// A fact of a well-formed cluster that contradicts another: the cluster still loads (a dump of
/// a real, broken cluster is what it is), each one is a warning on stderr, and `kdp verify`'s
/// `routing` invariant reports them. The CNI emulator keeps every given range as it is: two
/// nodes with overlapping podCIDRs each route their own, so their routes conflict as they would.
public struct ClusterInconsistency: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Two nodes' podCIDRs overlap (`node`'s is `podCIDR`, found after `other`'s `otherPodCIDR`).
        case podCIDRsOverlap(node: String, podCIDR: Prefix, other: String, otherPodCIDR: Prefix)
        /// A node's podCIDR is not inside the cluster CIDR of its family.
        case podCIDROutsideClusterCIDR(node: String, podCIDR: Prefix, clusterCIDR: Prefix)
        /// A node's podCIDR overlaps the Service range.
        case podCIDROverlapsServiceCIDR(node: String, podCIDR: Prefix, serviceCIDR: Prefix)
        /// The whole cluster CIDR lies inside the Service range (the node IPAM controller then
        /// hands out no subnet: every one overlaps a Service address).
        case clusterCIDRInsideServiceCIDR(clusterCIDR: Prefix, serviceCIDR: Prefix)
        /// A node's address lies in a node's podCIDR (its own or another's).
        case nodeIPInPodCIDR(node: String, ip: IPAddress, owner: String, podCIDR: Prefix)
        /// A node's address lies in the cluster CIDR (topology files only: a dump's nodes may
        /// share the pods' subnet, as the AWS VPC CNI gives them).
        case nodeIPInClusterCIDR(node: String, ip: IPAddress, clusterCIDR: Prefix)
        /// A node's address lies in the Service range.
        case nodeIPInServiceCIDR(node: String, ip: IPAddress, serviceCIDR: Prefix)
        /// A node's podCIDR (flannel's subnet lease) is outside flannel's network (when that
        /// differs from the cluster CIDR), so flannel's masquerade rules treat its pods as
        /// outside the overlay.
        case podCIDROutsideFlannelNetwork(node: String, podCIDR: Prefix, network: Prefix)
    }

    public var kind: Kind
    /// Where the input says it (the node, or the cluster settings); nil when unknown.
    public var location: InputLocation?

    public init(_ kind: Kind, at location: InputLocation? = nil) {
        self.kind = kind
        self.location = location
    }

    /// One sentence, as the warning says it (without the location).
    public var description: String {
        switch kind {
        case .podCIDRsOverlap(let node, let p, let other, let q):
            "node \(node) podCIDR \(p) overlaps node \(other)'s \(q): both nodes claim those pod addresses and their routes conflict"
        case .podCIDROutsideClusterCIDR(let node, let p, let cidr):
            "node \(node) podCIDR \(p) is outside the cluster CIDR \(cidr): rules that match the cluster CIDR do not see its pods as pods"
        case .podCIDROverlapsServiceCIDR(let node, let p, let service):
            "node \(node) podCIDR \(p) overlaps the service CIDR \(service): pod addresses and Service addresses collide"
        case .clusterCIDRInsideServiceCIDR(let cidr, let service):
            "cluster CIDR \(cidr) lies inside the service CIDR \(service): every pod address is also a Service address"
        case .nodeIPInPodCIDR(let node, let ip, let owner, let p):
            owner == node
                ? "node \(node) IP \(ip) is inside its own podCIDR \(p)"
                : "node \(node) IP \(ip) is inside node \(owner)'s podCIDR \(p): that address is routed to \(owner)'s pods"
        case .nodeIPInClusterCIDR(let node, let ip, let cidr):
            "node \(node) IP \(ip) is inside the pod range \(cidr): rules that match the cluster CIDR take the node's traffic for pod traffic"
        case .nodeIPInServiceCIDR(let node, let ip, let service):
            "node \(node) IP \(ip) is inside the service range \(service)"
        case .podCIDROutsideFlannelNetwork(let node, let p, let network):
            "node \(node) podCIDR \(p) is outside flannel's network \(network): flannel's ip-masq rules masquerade other pods' traffic to its pods"
        }
    }

    /// `FILE:LINE:COL: sentence` (or the sentence alone), as the warning line shows it.
    public var message: String { location.map { "\($0): \(description)" } ?? description }
}
