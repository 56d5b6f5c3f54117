import Wire

/// The node IPAM controller's range allocator for one cluster CIDR (kube-controller-manager,
/// pkg/controller/nodeipam/ipam/cidrset): the cluster CIDR is cut into subnets of the node mask
/// size; subnets overlapping the service range are taken up front (`filterOutServiceRange`);
/// nodes that already have a podCIDR occupy it; every other node gets the next free subnet,
/// searching forward from the one after the last allocation, in the order nodes are listed.
/// With nothing ever released that is the lowest free subnet.
struct NodeCIDRAllocator {
    let clusterCIDR: Prefix
    let maskSize: Int
    private var used: Set<UInt128> = []
    private var nextCandidate: UInt128 = 0
    private let subnetCount: UInt128

    init(clusterCIDR: Prefix, maskSize: Int, serviceCIDRs: [Prefix]) throws(InputError) {
        guard maskSize >= clusterCIDR.length, maskSize <= clusterCIDR.family.bitWidth else {
            throw InputError("node CIDR mask size /\(maskSize) does not fit in cluster CIDR \(clusterCIDR)")
        }
        guard maskSize - clusterCIDR.length <= 32 else {
            throw InputError("cluster CIDR \(clusterCIDR) split at /\(maskSize) gives more than 2^32 node subnets; use a larger mask size")
        }
        self.clusterCIDR = clusterCIDR
        self.maskSize = maskSize
        subnetCount = clusterCIDR.subnetCount(newLength: maskSize) ?? 0
        for service in serviceCIDRs where service.overlaps(clusterCIDR) {
            occupyOverlapping(service)
        }
    }

    /// Marks every node subnet that overlaps `prefix` as taken.
    private mutating func occupyOverlapping(_ prefix: Prefix) {
        if prefix.length >= maskSize {
            let containing = Prefix(containing: prefix.network, length: maskSize)
            if let i = clusterCIDR.subnetIndex(of: containing) { used.insert(i) }
        } else if let first = clusterCIDR.subnetIndex(of: Prefix(containing: prefix.network, length: maskSize)) {
            let count = prefix.subnetCount(newLength: maskSize) ?? 0
            var i: UInt128 = 0
            while i < count && first + i < subnetCount { used.insert(first + i); i += 1 }
        } else if prefix.contains(clusterCIDR) {
            var i: UInt128 = 0
            while i < subnetCount { used.insert(i); i += 1 }
        }
    }

    /// Records a podCIDR a node brings. Returns false when it is outside the cluster CIDR.
    mutating func occupy(_ podCIDR: Prefix) -> Bool {
        guard clusterCIDR.contains(podCIDR) else { return false }
        occupyOverlapping(podCIDR)
        return true
    }

    /// The next free subnet, or nil when the range is exhausted.
    mutating func allocateNext() -> Prefix? {
        var tried: UInt128 = 0
        var candidate = nextCandidate
        while tried < subnetCount {
            if !used.contains(candidate) {
                used.insert(candidate)
                nextCandidate = (candidate + 1) % subnetCount
                return clusterCIDR.subnet(candidate, newLength: maskSize)
            }
            candidate = (candidate + 1) % subnetCount
            tried += 1
        }
        return nil
    }

    var capacity: UInt128 { subnetCount }
}
