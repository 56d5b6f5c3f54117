import Wire

/// The API server's Service registry: validation, IP families, ClusterIP and NodePort allocation
/// (explicit values honoured when free and in range, the rest drawn by `RangeAllocator`), the
/// health-check NodePort of LoadBalancer Services with externalTrafficPolicy Local, and
/// `default/kubernetes` on the first address of the primary service range.
enum ServiceRegistry {
    /// For a dump (`dump`), nothing is added and only what an object lacks is allocated: no
    /// `default/kubernetes` is added; a Service that carries ClusterIPs has been through the API
    /// server and is taken as it is (a missing NodePort stays missing, a NodePort outside the
    /// assumed range is kept); a Service without any ClusterIP has not, and gets what it lacks.
    static func allocate(
        _ input: [Service], nodes: [Node], settings: ClusterSettings, dump: Bool = false, notes: inout [String],
        rng: inout SeededGenerator
    ) throws(InputError) -> [Service] {
        var services = input
        var seen: [String: InputLocation?] = [:]
        for s in services {
            if let first = seen[s.key] {
                throw InputError("duplicate service \(s.key) (first at \(first?.description ?? "?"))", at: s.location)
            }
            seen[s.key] = s.location
        }
        guard settings.serviceAllocation else {
            for i in services.indices { try validatePorts(services[i]); try resolveFamilies(&services[i], settings) }
            return services
        }
        if seen["default/kubernetes"] == nil && !dump {
            services.insert(Service(
                namespace: "default", name: "kubernetes",
                ports: [ServicePort(name: "https", protocol: .tcp, port: 443, targetPort: .number(6443))]), at: 0)
        }
        for i in services.indices { try validatePorts(services[i]); try resolveFamilies(&services[i], settings) }

        // ClusterIPs: one allocator per service CIDR; index k is the address network+1+k.
        var ipAllocators: [IPFamily: RangeAllocator] = [:]
        for cidr in settings.serviceCIDRs {
            // kube-apiserver refuses ranges smaller than /28 (IPv4) and /124 (IPv6) too.
            guard cidr.hostBits >= 2 else { throw InputError("service CIDR \(cidr) is too small to allocate from") }
            let hostCount = cidr.addressCount.map { Int(min($0, 1 << 24)) } ?? 1 << 24
            let size = hostCount - (cidr.family == .ipv4 ? 2 : 1)
            ipAllocators[cidr.family] = RangeAllocator(
                size: size, offset: RangeAllocator.rangeOffset(size: hostCount, minimum: 16, maximum: 256, step: 16))
        }
        var ipOwner: [IPAddress: String] = [:]
        func index(of ip: IPAddress, _ s: Service) throws(InputError) -> Int {
            guard let cidr = settings.serviceCIDR(for: ip.family), cidr.contains(ip) else {
                let range = settings.serviceCIDRs.map(\.description).joined(separator: ",")
                throw InputError("service \(s.key) clusterIP \(ip) is outside the service CIDR \(range)", at: s.location)
            }
            let k = Int(ip.bits - cidr.network.bits) - 1
            guard k >= 0, k < ipAllocators[ip.family]!.size else {
                throw InputError("service \(s.key) clusterIP \(ip) is the network or broadcast address of \(cidr)", at: s.location)
            }
            return k
        }
        // The first address belongs to default/kubernetes, claimed before anything else.
        if let k8s = services.firstIndex(where: { $0.key == "default/kubernetes" }), services[k8s].clusterIPs.isEmpty,
           let family = services[k8s].ipFamilies.first, let cidr = settings.serviceCIDR(for: family),
           let first = cidr.address(at: 1), cidr.hostBits >= 2 {
            services[k8s].clusterIPs = [first]
        }
        for s in services {
            for ip in s.clusterIPs {
                let k = try index(of: ip, s)
                if let owner = ipOwner[ip] {
                    throw InputError("service \(s.key) clusterIP \(ip) is already allocated to \(owner)", at: s.location)
                }
                ipAllocators[ip.family]!.take(k)
                ipOwner[ip] = s.key
            }
        }
        // A dump's Services that came with ClusterIPs: allocated by the API server already.
        let asGiven = Set(dump ? services.indices.filter { !services[$0].clusterIPs.isEmpty } : [])
        var allocated: [String] = []
        for i in services.indices where !services[i].headless && services[i].type != .externalName {
            for family in services[i].ipFamilies where services[i].clusterIP(family) == nil {
                if dump { allocated.append("\(services[i].key) \(family.rawValue)") }
                guard let k = ipAllocators[family]!.allocateNext(using: &rng) else {
                    throw InputError("service CIDR \(settings.serviceCIDR(for: family)!) is exhausted: no ClusterIP left for \(services[i].key)", at: services[i].location)
                }
                services[i].clusterIPs.append(settings.serviceCIDR(for: family)!.address(at: UInt128(k + 1))!)
            }
        }

        // NodePorts, including health-check ports, from one range shared by every protocol.
        let range = settings.nodePortRange
        var ports = RangeAllocator(size: range.count, offset: RangeAllocator.rangeOffset(size: range.count, minimum: 16, maximum: 128, step: 32))
        var portOwner: [UInt16: String] = [:]
        func claim(_ port: UInt16, _ s: Service, _ what: String) throws(InputError) {
            // A dump's NodePorts were allocated by its API server, from its own range.
            guard range.contains(port) || dump else {
                throw InputError("service \(s.key) \(what) \(port) is outside the node port range \(range)", at: s.location)
            }
            if let owner = portOwner[port], owner != s.key {
                throw InputError("service \(s.key) \(what) \(port) is already allocated to \(owner)", at: s.location)
            }
            portOwner[port] = s.key
            if range.contains(port) { ports.take(Int(port - range.lower)) }
        }
        for s in services {
            for p in s.ports {
                if let n = p.nodePort {
                    guard s.usesNodePorts else {
                        throw InputError("service \(s.key) port \(p.port) sets nodePort but type \(s.type.rawValue) has no node ports", at: s.location)
                    }
                    try claim(n, s, "nodePort")
                }
            }
            if s.needsHealthCheck, let hc = s.healthCheckNodePort { try claim(hc, s, "healthCheckNodePort") }
        }
        func next(_ s: Service) throws(InputError) -> UInt16 {
            guard let k = ports.allocateNext(using: &rng) else {
                throw InputError("node port range \(range) is exhausted: no port left for \(s.key)", at: s.location)
            }
            let port = range.lower + UInt16(k)
            portOwner[port] = s.key
            return port
        }
        var missingPorts: [String] = []
        for i in services.indices where services[i].usesNodePorts {
            if asGiven.contains(i) {
                for p in services[i].ports where p.nodePort == nil { missingPorts.append("\(services[i].key):\(p.name.isEmpty ? String(p.port) : p.name)") }
                continue
            }
            for j in services[i].ports.indices where services[i].ports[j].nodePort == nil {
                // Ports of one Service that share a number (53/TCP and 53/UDP) share a NodePort.
                // (initNodePorts in pkg/registry/core/service/storage/alloc.go).
                if let twin = services[i].ports.first(where: { $0.port == services[i].ports[j].port && $0.nodePort != nil })?.nodePort {
                    services[i].ports[j].nodePort = twin
                } else {
                    services[i].ports[j].nodePort = try next(services[i])
                }
            }
            if services[i].needsHealthCheck && services[i].healthCheckNodePort == nil {
                services[i].healthCheckNodePort = try next(services[i])
            }
        }
        if !allocated.isEmpty {
            notes.append("\(allocated.count) ClusterIP\(allocated.count == 1 ? "" : "s") missing from the dump's Services, allocated as the API server would (with their NodePorts): \(allocated.prefix(5).joined(separator: ", "))\(allocated.count > 5 ? ", …" : "")")
        }
        if !missingPorts.isEmpty {
            notes.append("\(missingPorts.count) port\(missingPorts.count == 1 ? " of a NodePort/LoadBalancer Service carries" : "s of NodePort/LoadBalancer Services carry") no nodePort in the dump: taken as given, no NodePort rules for \(missingPorts.prefix(5).joined(separator: ", "))\(missingPorts.count > 5 ? ", …" : "")")
        }
        return services
    }

    /// The API's own checks on `spec.ports`.
    static func validatePorts(_ s: Service) throws(InputError) {
        if s.type != .externalName && s.ports.isEmpty && !s.headless {
            throw InputError("service \(s.key) has no ports", at: s.location)
        }
        var names: Set<String> = []
        var numbers: Set<String> = []
        for p in s.ports {
            if s.ports.count > 1 && p.name.isEmpty {
                throw InputError("service \(s.key) has \(s.ports.count) ports: each needs a name", at: s.location)
            }
            if !p.name.isEmpty && !names.insert(p.name).inserted {
                throw InputError("service \(s.key) has two ports named \"\(p.name)\"", at: s.location)
            }
            if !numbers.insert("\(p.port)/\(p.protocol.kubernetesName)").inserted {
                throw InputError("service \(s.key) lists port \(p.port)/\(p.protocol.kubernetesName) twice", at: s.location)
            }
        }
    }

    /// `spec.ipFamilies` as the API server defaults them from clusterIPs, ipFamilies and the policy.
    static func resolveFamilies(_ s: inout Service, _ settings: ClusterSettings) throws(InputError) {
        guard s.type != .externalName else { s.ipFamilies = []; s.clusterIPs = []; return }
        let clusterFamilies = settings.serviceCIDRs.map(\.family)
        var families = s.ipFamilies
        if families.isEmpty { families = s.clusterIPs.map(\.family) }
        if families.isEmpty {
            switch s.ipFamilyPolicy {
            case .requireDualStack:
                guard clusterFamilies.count == 2 else {
                    throw InputError("service \(s.key) requires dual-stack but the cluster has one service CIDR", at: s.location)
                }
                families = clusterFamilies
            case .preferDualStack: families = clusterFamilies
            case .singleStack, nil: families = [clusterFamilies[0]]
            }
        }
        if Set(families).count != families.count {
            throw InputError("service \(s.key) lists an IP family twice", at: s.location)
        }
        for f in families where !clusterFamilies.contains(f) {
            throw InputError("service \(s.key) wants \(f.rawValue) but the cluster has no \(f.rawValue) service CIDR", at: s.location)
        }
        for (i, ip) in s.clusterIPs.enumerated() where i < families.count && families[i] != ip.family {
            throw InputError("service \(s.key) clusterIPs[\(i)] \(ip) does not match ipFamilies[\(i)] \(families[i].rawValue)", at: s.location)
        }
        s.ipFamilies = families
    }
}
