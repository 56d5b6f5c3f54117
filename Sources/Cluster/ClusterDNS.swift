import Wire

/// One resource record of an answer.
public struct DNSRecord: Sendable, Equatable, Codable {
    public var name: String
    public var ttl: Int
    public var type: String
    public var data: String
}

/// What a pod's resolver gets back for a name: every name it tried along its search path, the
/// name that answered, and the records.
public struct DNSAnswer: Sendable, Equatable, Codable {
    public var query: String
    public var namespace: String
    public var tried: [String]
    /// The fully qualified name that answered; nil with NXDOMAIN.
    public var name: String?
    public var rcode: String
    public var records: [DNSRecord]
}

/// Cluster DNS as CoreDNS's kubernetes plugin answers it (kubeadm's Corefile: `pods insecure`,
/// `ttl 30`), seen through a pod's resolv.conf as kubelet writes it for dnsPolicy ClusterFirst:
/// `search <ns>.svc.<domain> svc.<domain> <domain>` with `options ndots:5`.
public struct ClusterDNS: Sendable {
    public static let ttl = 30
    public static let ndots = 5

    let cluster: Cluster
    let domain: String
    private let namespaces: Set<String>

    public init(cluster: Cluster) {
        self.cluster = cluster
        domain = cluster.settings.clusterDomain.lowercased()
        namespaces = Set(cluster.pods.map(\.namespace) + cluster.services.map(\.namespace))
            .union(["default", "kube-system", "kube-public", "kube-node-lease"])
    }

    /// The pod resolver's search list for a pod in `namespace`.
    public func searchList(namespace: String) -> [String] {
        ["\(namespace).svc.\(domain)", "svc.\(domain)", domain]
    }

    /// Resolves `name` as a pod in `namespace` would (A and AAAA, following the search list).
    public func resolve(_ name: String, namespace: String = "default") -> DNSAnswer {
        let query = name.lowercased()
        var candidates: [String]
        if query.hasSuffix(".") {
            candidates = [String(query.dropLast())]
        } else {
            let searched = searchList(namespace: namespace).map { "\(query).\($0)" }
            let dots = query.filter { $0 == "." }.count
            // With ndots:5 a name with fewer dots tries the search list first, then as given.
            candidates = dots >= Self.ndots ? [query] + searched : searched + [query]
        }
        var tried: [String] = []
        for fqdn in candidates {
            tried.append(fqdn + ".")
            if let records = lookup(fqdn: fqdn) {
                return DNSAnswer(query: name, namespace: namespace, tried: tried, name: fqdn + ".", rcode: "NOERROR", records: records)
            }
        }
        return DNSAnswer(query: name, namespace: namespace, tried: tried, name: nil, rcode: "NXDOMAIN", records: [])
    }

    /// Records for a fully qualified name (without the trailing dot); nil when it does not exist.
    ///
    /// - Complexity: O(1) to find a Service; headless names then scan its EndpointSlices, O(*e*)
    ///   in its endpoints.
    public func lookup(fqdn: String) -> [DNSRecord]? {
        let suffix = "." + domain
        guard fqdn.hasSuffix(suffix) else { return nil }
        let labels = fqdn.dropLast(suffix.count).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let owner = fqdn + "."
        guard let zone = labels.last else { return nil }
        switch zone {
        case "svc":
            switch labels.count {
            case 3: return serviceRecords(owner, service: labels[0], namespace: labels[1])
            case 4: return endpointRecords(owner, host: labels[0], service: labels[1], namespace: labels[2])
            case 5 where labels[0].hasPrefix("_") && labels[1].hasPrefix("_"):
                return srvRecords(owner, port: String(labels[0].dropFirst()), proto: String(labels[1].dropFirst()),
                                  service: labels[2], namespace: labels[3])
            default: return nil
            }
        case "pod":
            // `pods insecure`: the name is the address with '-' for '.' (or ':'), answered without
            // looking for the pod, as long as the namespace exists (CoreDNS `namespaceExposed`).
            guard labels.count == 3, namespaces.contains(labels[1]) else { return nil }
            let text = labels[0]
            if let v4 = try? IPv4Address(parsing: text.replacingDashes(with: ".")) {
                return [DNSRecord(name: owner, ttl: Self.ttl, type: "A", data: v4.description)]
            }
            if let v6 = try? IPv6Address(parsing: text.replacingDashes(with: ":")) {
                return [DNSRecord(name: owner, ttl: Self.ttl, type: "AAAA", data: v6.description)]
            }
            return nil
        default:
            return nil
        }
    }

    private func addressRecord(_ owner: String, _ ip: IPAddress) -> DNSRecord {
        DNSRecord(name: owner, ttl: Self.ttl, type: ip.family == .ipv4 ? "A" : "AAAA", data: ip.description)
    }

    /// Headless endpoints that DNS publishes: ready ones, or all with publishNotReadyAddresses.
    private func publishedEndpoints(_ service: Service) -> [Endpoint] {
        var seen: Set<IPAddress> = []
        var out: [Endpoint] = []
        for slice in cluster.endpointSlices(for: service) {
            for e in slice.endpoints where service.publishNotReadyAddresses || e.conditions.isReady {
                guard let ip = e.addresses.first, seen.insert(ip).inserted else { continue }
                out.append(e)
            }
        }
        return out
    }

    private func serviceRecords(_ owner: String, service name: String, namespace: String) -> [DNSRecord]? {
        guard let service = cluster.service(namespace: namespace, name: name) else { return nil }
        if service.type == .externalName, let target = service.externalName {
            return [DNSRecord(name: owner, ttl: Self.ttl, type: "CNAME", data: target.hasSuffix(".") ? target : target + ".")]
        }
        if service.headless {
            return publishedEndpoints(service).compactMap { $0.addresses.first.map { addressRecord(owner, $0) } }
        }
        return service.clusterIPs.map { addressRecord(owner, $0) }
    }

    /// The name CoreDNS gives a headless endpoint: its hostname, else its address with dashes.
    private func endpointLabel(_ e: Endpoint) -> String {
        if let h = e.hostname { return h }
        guard let ip = e.addresses.first else { return "" }
        return ip.description.map { $0 == "." || $0 == ":" ? "-" : $0 }.reduce(into: "") { $0.append($1) }
    }

    private func endpointRecords(_ owner: String, host: String, service name: String, namespace: String) -> [DNSRecord]? {
        guard let service = cluster.service(namespace: namespace, name: name), service.headless else { return nil }
        let matches = publishedEndpoints(service).filter { endpointLabel($0) == host }
        guard !matches.isEmpty else { return nil }
        return matches.compactMap { $0.addresses.first.map { addressRecord(owner, $0) } }
    }

    private func srvRecords(_ owner: String, port: String, proto: String, service name: String, namespace: String) -> [DNSRecord]? {
        guard let service = cluster.service(namespace: namespace, name: name),
              let sp = service.ports.first(where: { $0.name == port && $0.protocol.name == proto }) else { return nil }
        let target = "\(name).\(namespace).svc.\(domain)."
        if service.headless {
            return publishedEndpoints(service).map { e in
                let portNumber = cluster.endpointSlices(for: service).lazy
                    .first { $0.endpoints.contains(e) }?.ports.first { $0.name == sp.name }?.port ?? sp.port
                return DNSRecord(name: owner, ttl: Self.ttl, type: "SRV", data: "0 100 \(portNumber) \(endpointLabel(e)).\(target)")
            }
        }
        return [DNSRecord(name: owner, ttl: Self.ttl, type: "SRV", data: "0 100 \(sp.port) \(target)")]
    }
}

extension String {
    fileprivate func replacingDashes(with c: Character) -> String { String(map { $0 == "-" ? c : $0 }) }
}
