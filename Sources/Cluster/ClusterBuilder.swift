import Wire

/// Runs a cluster's controllers over the input, in the order a real cluster settles: node IPAM
/// (node addresses, pod CIDRs), scheduling and pod IPAM (host-local per node), the Service
/// registry (ClusterIPs, NodePorts, `default/kubernetes`), then the EndpointSlice controller.
/// Malformed input is an `InputError` naming the object and where it was written; a
/// well-formed cluster whose ranges contradict each other loads, each contradiction a
/// `ClusterInconsistency` (ClusterBuilder+Inconsistencies.swift).
public enum ClusterBuilder {
    public static func build(_ input: TopologyInput) throws(InputError) -> Cluster {
        let (settings, inferred) = try SettingsResolver.resolve(input)
        var notes = input.notes + inferred.map(\.note)
        let dump = input.isDump
        var found: [ClusterInconsistency] = []
        var nodes = try assignNodeAddresses(input.nodes, settings, dump: dump, notes: &notes, inconsistencies: &found)
        try allocatePodCIDRs(&nodes, settings, dump: dump, inconsistencies: &found)
        found += addressInconsistencies(nodes, settings, dump: dump)
        let pods = try placePods(input.pods, nodes: nodes, settings: settings, dump: dump, notes: &notes)
        var rng = SeededGenerator(seed: settings.seed)
        let services = try ServiceRegistry.allocate(input.services, nodes: nodes, settings: settings, dump: dump, notes: &notes, rng: &rng)
        let slices = try endpointSlices(input: input.endpointSlices, services: services, pods: pods,
                                        nodes: nodes, settings: settings, dump: dump, notes: &notes, rng: &rng)
        return Cluster(settings: settings, nodes: nodes, pods: pods, services: services,
                       endpointSlices: slices, notes: notes, inferred: inferred, inconsistencies: found)
    }

    /// Parses and builds in one step: what every command does with `--topology`.
    public static func load(paths: [String]) throws(InputError) -> Cluster {
        try build(TopologyLoader.load(paths: paths))
    }

    // MARK: Nodes

    /// A Node may list several InternalIPs of one family (multi-NIC, OpenStack): the first of
    /// each family is kube-proxy's node IP (`GetNodeHostIPs`); the others are local addresses too.
    /// A dump's Node IPs may lie inside the pod range (AWS VPC CNI gives pods and nodes one subnet).
    static func assignNodeAddresses(_ input: [Node], _ settings: ClusterSettings, dump: Bool = false,
                                    notes: inout [String], inconsistencies: inout [ClusterInconsistency]) throws(InputError) -> [Node] {
        var nodes = input
        var seenNames: [String: InputLocation?] = [:]
        var seenIPs: [IPAddress: String] = [:]
        for node in nodes {
            if let first = seenNames[node.name] {
                throw InputError("duplicate node \"\(node.name)\" (first at \(first?.description ?? "?"))", at: node.location)
            }
            seenNames[node.name] = node.location
            for ip in node.internalIPs {
                if let other = seenIPs[ip], other != node.name {
                    throw InputError("node \(node.name) has IP \(ip), already node \(other)'s", at: node.location)
                }
                if let cidr = settings.serviceCIDRs.first(where: { $0.contains(ip) }) {
                    inconsistencies.append(ClusterInconsistency(.nodeIPInServiceCIDR(node: node.name, ip: ip, serviceCIDR: cidr), at: node.location))
                }
                seenIPs[ip] = node.name
            }
        }
        // Nodes without an address per cluster family get the next free one on the node network,
        // from the address after the gateway, as docker (and kind) hand them out.
        for family in settings.families {
            guard nodes.contains(where: { $0.internalIP(family) == nil }) else { continue }
            guard let network = settings.nodeNetwork(for: family) else {
                let name = nodes.first { $0.internalIP(family) == nil }!.name
                throw InputError("node \(name) has no \(family.rawValue) address and the cluster has no \(family.rawValue) nodeNetwork to allocate from")
            }
            var next: UInt128 = 2
            for i in nodes.indices where nodes[i].internalIP(family) == nil {
                while true {
                    guard let ip = network.address(at: next), ip != network.lastAddress || family == .ipv6 else {
                        throw InputError("node network \(network) has no free address left for node \(nodes[i].name)", at: nodes[i].location)
                    }
                    next += 1
                    if seenIPs[ip] == nil {
                        seenIPs[ip] = nodes[i].name
                        nodes[i].internalIPs.append(ip)
                        nodes[i].internalIPs.sort { $0.family == settings.families.first && $1.family != $0.family }
                        if dump {
                            notes.append("node \(nodes[i].name) has no \(family.rawValue) InternalIP in the dump; kdp gave it \(ip), the next free address of the node network \(network)")
                        }
                        break
                    }
                }
            }
        }
        return nodes
    }

    /// In a dump, podCIDRs are taken as they are and none is allocated: a Node without one
    /// belongs to a cluster whose CNI assigns pod addresses itself.
    static func allocatePodCIDRs(_ nodes: inout [Node], _ settings: ClusterSettings, dump: Bool = false,
                                 inconsistencies: inout [ClusterInconsistency]) throws(InputError) {
        for cidr in settings.clusterCIDRs {
            for service in settings.serviceCIDRs where service.contains(cidr) {
                inconsistencies.append(ClusterInconsistency(.clusterCIDRInsideServiceCIDR(clusterCIDR: cidr, serviceCIDR: service)))
            }
            let mask = settings.nodeCIDRMaskSize(for: cidr.family)
            var owners: [(Prefix, String)] = []
            // A podCIDR a node already has is kept as given; where it overlaps another node's or
            // a service range, or lies outside the cluster CIDR (`inRange`, asked last; when
            // allocating, it also claims the subnet), that is an inconsistency.
            func checkGiven(_ node: Node, _ given: Prefix, inRange: () -> Bool) {
                for clash in owners where clash.0.overlaps(given) {
                    inconsistencies.append(ClusterInconsistency(
                        .podCIDRsOverlap(node: node.name, podCIDR: given, other: clash.1, otherPodCIDR: clash.0), at: node.location))
                }
                if let service = settings.serviceCIDRs.first(where: { $0.overlaps(given) }) {
                    inconsistencies.append(ClusterInconsistency(
                        .podCIDROverlapsServiceCIDR(node: node.name, podCIDR: given, serviceCIDR: service), at: node.location))
                }
                if !inRange() {
                    inconsistencies.append(ClusterInconsistency(
                        .podCIDROutsideClusterCIDR(node: node.name, podCIDR: given, clusterCIDR: cidr), at: node.location))
                }
                owners.append((given, node.name))
            }
            if dump {
                // Nothing to allocate: only check the podCIDRs the dump gives against each other.
                for node in nodes {
                    guard let given = node.podCIDR(cidr.family) else { continue }
                    checkGiven(node, given) { cidr.contains(given) }
                }
                continue
            }
            var allocator = try NodeCIDRAllocator(clusterCIDR: cidr, maskSize: mask, serviceCIDRs: settings.serviceCIDRs)
            for node in nodes {
                guard let given = node.podCIDR(cidr.family) else { continue }
                checkGiven(node, given) { allocator.occupy(given) }
            }
            for i in nodes.indices where nodes[i].podCIDR(cidr.family) == nil {
                guard let subnet = allocator.allocateNext() else {
                    throw InputError(
                        "no free /\(mask) left in cluster CIDR \(cidr) for node \(nodes[i].name) (\(allocator.capacity) node subnets, all taken)",
                        at: nodes[i].location)
                }
                nodes[i].podCIDRs.append(subnet)
            }
        }
        for node in nodes {
            for p in node.podCIDRs where !settings.clusterCIDRs.contains(where: { $0.family == p.family }) {
                throw InputError("node \(node.name) podCIDR \(p) is \(p.family.rawValue) but the cluster has no \(p.family.rawValue) cluster CIDR", at: node.location)
            }
        }
    }

    // MARK: Pods

    static func placePods(_ input: [Pod], nodes: [Node], settings: ClusterSettings, dump: Bool = false,
                          notes: inout [String]) throws(InputError) -> [Pod] {
        var pods = input
        var nodeIndex: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { nodeIndex[n.name] = i }
        var seen: [String: InputLocation?] = [:]
        for pod in pods {
            if let first = seen[pod.key] {
                throw InputError("duplicate pod \(pod.key) (first at \(first?.description ?? "?"))", at: pod.location)
            }
            seen[pod.key] = pod.location
        }
        guard !pods.isEmpty else { return pods }
        if dump { return try podsAsGiven(pods, nodes: nodes, nodeIndex: nodeIndex, notes: &notes) }
        // Beside a topology file, a dump's pods are still facts: never scheduled nor addressed.
        let fromDump = pods.indices.filter { pods[$0].fromDump }
        guard fromDump.isEmpty else {
            let given = try podsAsGiven(fromDump.map { pods[$0] }, nodes: nodes, nodeIndex: nodeIndex, notes: &notes)
            let requested = pods.indices.filter { !pods[$0].fromDump }
            let placed = try placePods(requested.map { pods[$0] }, nodes: nodes, settings: settings, taken: given, notes: &notes)
            for (k, i) in fromDump.enumerated() { pods[i] = given[k] }
            for (k, i) in requested.enumerated() { pods[i] = placed[k] }
            return pods
        }
        return try placePods(pods, nodes: nodes, settings: settings, taken: [], notes: &notes)
    }

    /// Schedules and addresses the pods a topology file asks for, around the addresses and
    /// nodes `taken` (a dump's pods beside it) already hold.
    static func placePods(_ input: [Pod], nodes: [Node], settings: ClusterSettings, taken: [Pod],
                          notes: inout [String]) throws(InputError) -> [Pod] {
        var pods = input
        guard !pods.isEmpty else { return pods }
        var nodeIndex: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { nodeIndex[n.name] = i }
        guard !nodes.isEmpty else { throw InputError("pod \(pods[0].key) has no node to run on: the cluster has no nodes", at: pods[0].location) }

        // Pods without spec.nodeName are scheduled as a plain spread would: the worker with the
        // fewest pods, the first listed on a tie (control-plane nodes only when no worker exists).
        var load = Array(repeating: 0, count: nodes.count)
        for pod in taken { if let n = pod.nodeName.flatMap({ nodeIndex[$0] }) { load[n] += 1 } }
        for pod in pods {
            if let name = pod.nodeName {
                guard let i = nodeIndex[name] else {
                    let known = nodes.prefix(8).map(\.name).joined(separator: ", ")
                    throw InputError("pod \(pod.key) is on unknown node \"\(name)\" (nodes: \(known)\(nodes.count > 8 ? ", …" : ""))", at: pod.location)
                }
                load[i] += 1
            }
        }
        let workers = nodes.indices.filter { !nodes[$0].isControlPlane }
        let candidates = workers.isEmpty ? Array(nodes.indices) : workers
        for i in pods.indices where pods[i].nodeName == nil {
            let pick = candidates.min { load[$0] < load[$1] }!
            load[pick] += 1
            pods[i].nodeName = nodes[pick].name
            notes.append("pod \(pods[i].key) had no nodeName; scheduled on \(nodes[pick].name)")
        }

        // host-local IPAM, one allocator per node and family.
        var ipam: [[IPFamily: HostLocalIPAM]] = nodes.map { node in
            var m: [IPFamily: HostLocalIPAM] = [:]
            for p in node.podCIDRs { m[p.family] = HostLocalIPAM(range: p) }
            return m
        }
        for pod in pods where !pod.hostNetwork {
            let n = nodeIndex[pod.nodeName!]!
            for ip in pod.ips { ipam[n][ip.family]?.claim(ip) }
        }
        var owners: [IPAddress: String] = [:]
        for pod in taken where !pod.hostNetwork && !pod.isTerminal {
            guard let n = pod.nodeName.flatMap({ nodeIndex[$0] }) else { continue }
            for ip in pod.ips where ipam[n][ip.family]?.problem(reserving: ip) == nil {
                ipam[n][ip.family]!.reserve(ip)
                owners[ip] = pod.key
            }
        }
        for i in pods.indices {
            let n = nodeIndex[pods[i].nodeName!]!
            let node = nodes[n]
            if pods[i].hostNetwork {
                if let stray = pods[i].ips.first(where: { !node.internalIPs.contains($0) }) {
                    throw InputError("hostNetwork pod \(pods[i].key) names IP \(stray) but runs with node \(node.name)'s \(node.internalIPs.map(\.description).joined(separator: ","))", at: pods[i].location)
                }
                // kubelet reports the node's IPs: the first of each family (GetNodeHostIPs).
                if pods[i].ips.isEmpty { pods[i].ips = IPFamily.allCases.compactMap { node.internalIP($0) } }
                continue
            }
            var ips: [IPAddress] = []
            for ip in pods[i].ips {
                guard var alloc = ipam[n][ip.family] else {
                    throw InputError("pod \(pods[i].key) names \(ip.family.rawValue) address \(ip) but node \(node.name) has no \(ip.family.rawValue) pod CIDR", at: pods[i].location)
                }
                if let problem = alloc.problem(reserving: ip) {
                    let who = owners[ip].map { " by pod \($0)" } ?? ""
                    throw InputError("pod \(pods[i].key) on node \(node.name): \(problem)\(who)", at: pods[i].location)
                }
                alloc.reserve(ip)
                ipam[n][ip.family] = alloc
                ips.append(ip)
            }
            for cidr in node.podCIDRs where !ips.contains(where: { $0.family == cidr.family }) {
                guard let ip = ipam[n][cidr.family]!.allocateNext() else {
                    throw InputError("node \(node.name) pod range \(cidr) is exhausted: no address left for pod \(pods[i].key)", at: pods[i].location)
                }
                ips.append(ip)
            }
            // Primary family first, as status.podIPs lists them.
            ips.sort { settings.families.firstIndex(of: $0.family) ?? 9 < settings.families.firstIndex(of: $1.family) ?? 9 }
            for ip in ips { owners[ip] = pods[i].key }
            pods[i].ips = ips
        }
        return pods
    }

    /// A dump's pods, as the API server holds them: a pod without `spec.nodeName` is Pending (no
    /// node, no address, no endpoint) and kdp never schedules it or gives it an IP; a pod whose
    /// addresses lie outside its node's podCIDR (Calico IPAM blocks, Cilium cluster-pool, the AWS
    /// VPC CNI) keeps them, and each such address is routed to its node (`Cluster.podAddressRoutes`).
    static func podsAsGiven(_ input: [Pod], nodes: [Node], nodeIndex: [String: Int], notes: inout [String]) throws(InputError) -> [Pod] {
        var pods = input
        var owners: [IPAddress: String] = [:]
        var pending: [String] = []
        var noIP: [String] = []
        var outside: [String] = []
        for i in pods.indices {
            guard let name = pods[i].nodeName else {
                pending.append(pods[i].key)
                continue
            }
            guard let n = nodeIndex[name] else {
                let known = nodes.prefix(8).map(\.name).joined(separator: ", ")
                throw InputError("pod \(pods[i].key) is on node \"\(name)\", which the input does not have (nodes: \(known.isEmpty ? "none" : known)\(nodes.count > 8 ? ", …" : ""))", at: pods[i].location)
            }
            let node = nodes[n]
            if pods[i].hostNetwork {
                // kubelet reports a host-network pod's IPs as the node's (first of each family).
                let nodeIPs = IPFamily.allCases.compactMap { node.internalIP($0) }
                if let stray = pods[i].ips.first(where: { !node.internalIPs.contains($0) }) {
                    throw InputError("hostNetwork pod \(pods[i].key) names IP \(stray) but runs with node \(node.name)'s \(node.internalIPs.map(\.description).joined(separator: ","))", at: pods[i].location)
                }
                if pods[i].ips.isEmpty { pods[i].ips = nodeIPs }
                continue
            }
            if pods[i].ips.isEmpty { noIP.append(pods[i].key) }
            // A finished pod's address may already be someone else's: only running pods own one.
            guard !pods[i].isTerminal else { continue }
            for ip in pods[i].ips {
                if let other = owners[ip] {
                    throw InputError("pod \(pods[i].key) has IP \(ip), already pod \(other)'s", at: pods[i].location)
                }
                owners[ip] = pods[i].key
                if !(node.podCIDR(ip.family)?.contains(ip) ?? false) { outside.append("\(pods[i].key) \(ip) on \(node.name)") }
            }
        }
        func sample(_ list: [String]) -> String { list.prefix(5).joined(separator: ", ") + (list.count > 5 ? ", … (\(list.count) in all)" : "") }
        if !pending.isEmpty {
            notes.append("\(pending.count) pod\(pending.count == 1 ? " is" : "s are") Pending (no nodeName): no node, no address, no endpoint: \(sample(pending))")
        }
        if !noIP.isEmpty {
            notes.append("\(noIP.count) scheduled pod\(noIP.count == 1 ? " has" : "s have") no IP yet: no address, no endpoint: \(sample(noIP))")
        }
        if !outside.isEmpty {
            notes.append("\(outside.count) pod address\(outside.count == 1 ? " lies" : "es lie") outside \(outside.count == 1 ? "its" : "their") node's podCIDR (the CNI's own IPAM, as Calico, Cilium or the AWS VPC CNI assign them): kdp routes each such address to the node that runs the pod: \(sample(outside))")
        }
        return pods
    }

    // MARK: EndpointSlices

    static func endpointSlices(
        input: [EndpointSlice], services: [Service], pods: [Pod], nodes: [Node], settings: ClusterSettings,
        dump: Bool = false, notes: inout [String], rng: inout SeededGenerator
    ) throws(InputError) -> [EndpointSlice] {
        var seen: [String: InputLocation?] = [:]
        var given: Set<String> = []
        for slice in input {
            if let first = seen[slice.key] {
                throw InputError("duplicate EndpointSlice \(slice.key) (first at \(first?.description ?? "?"))", at: slice.location)
            }
            seen[slice.key] = slice.location
            given.insert("\(slice.namespace)/\(slice.serviceName)")
        }
        var out: [EndpointSlice] = []
        var derived: [String] = []
        let controller = EndpointSliceController(pods: pods, nodes: nodes)
        for service in services {
            if service.key == "default/kubernetes" && !given.contains(service.key) {
                out.append(kubernetesSlice(service, nodes: nodes))
                derived.append("\(service.key) (the control-plane nodes on 6443)")
                continue
            }
            // Slices the input brings (a dump of a real cluster) are what its controller wrote:
            // they win over regenerating them from pods.
            if given.contains(service.key) { continue }
            let made = controller.slices(for: service, families: service.ipFamilies, rng: &rng)
            if !made.isEmpty { derived.append(service.key) }
            out += made
        }
        if dump && !derived.isEmpty {
            notes.append("the dump has no EndpointSlice for \(derived.count) Service\(derived.count == 1 ? "" : "s"); kdp derived them as the EndpointSlice controller would, from the pods: \(derived.prefix(5).joined(separator: ", "))\(derived.count > 5 ? ", …" : "")")
        }
        return out + input
    }

    /// The API server's own endpoints for `default/kubernetes`: every control-plane node on 6443.
    static func kubernetesSlice(_ service: Service, nodes: [Node]) -> EndpointSlice {
        let family = service.ipFamilies.first ?? .ipv4
        let endpoints = nodes.filter(\.isControlPlane).compactMap { node in
            node.internalIP(family).map { Endpoint(addresses: [$0], conditions: EndpointConditions(ready: true, serving: true, terminating: false)) }
        }
        return EndpointSlice(
            namespace: "default", name: "kubernetes", serviceName: "kubernetes", addressType: EndpointAddressType(family),
            ports: [EndpointPort(name: "https", protocol: .tcp, port: 6443)], endpoints: endpoints)
    }
}
