import Wire

/// The EndpointSlice controller (pkg/controller/endpointslice, staging endpointslice/utils.go):
/// for every Service with a selector, one endpoint per matching pod in the Service's namespace
/// for each of the Service's IP families, grouped into slices by their resolved port set and
/// cut at 100 endpoints per slice.
struct EndpointSliceController {
    /// Pods by namespace, then by one `key=value` label, for selector lookups that do not scan
    /// every pod per Service.
    private let podsByLabel: [String: [String: [Int]]]
    private let podsByNamespace: [String: [Int]]
    private let pods: [Pod]
    private let zones: [String: String]

    init(pods: [Pod], nodes: [Node]) {
        self.pods = pods
        var byLabel: [String: [String: [Int]]] = [:]
        var byNamespace: [String: [Int]] = [:]
        for (i, pod) in pods.enumerated() {
            byNamespace[pod.namespace, default: []].append(i)
            for (k, v) in pod.labels { byLabel[pod.namespace, default: [:]]["\(k)=\(v)", default: []].append(i) }
        }
        podsByLabel = byLabel
        podsByNamespace = byNamespace
        var zones: [String: String] = [:]
        for n in nodes { if let z = n.zone { zones[n.name] = z } }
        self.zones = zones
    }

    /// Pods the selector matches, in input order.
    func selectedPods(namespace: String, selector: [String: String]) -> [Int] {
        guard let (firstKey, firstValue) = selector.min(by: { $0.key < $1.key }) else { return [] }
        var candidates = podsByLabel[namespace]?["\(firstKey)=\(firstValue)"] ?? []
        for (k, v) in selector where k != firstKey {
            guard let list = podsByLabel[namespace]?["\(k)=\(v)"] else { return [] }
            if list.count < candidates.count { candidates = list }
        }
        return candidates.filter { i in selector.allSatisfy { pods[i].labels[$0.key] == $0.value } }
    }

    /// `FindPort` (pkg/api/v1/pod/util.go): a numeric targetPort is used as is; a named one is the
    /// container port with that name and the Service port's protocol.
    static func findPort(_ pod: Pod, _ port: ServicePort) -> UInt16? {
        switch port.targetPort {
        case .number(let n): return n
        case .name(let name):
            return pod.ports.first { $0.name == name && $0.protocol == port.protocol }?.containerPort
        }
    }

    func slices(for service: Service, families: [IPFamily], rng: inout SeededGenerator) -> [EndpointSlice] {
        guard let selector = service.selector, !selector.isEmpty, service.type != .externalName else { return [] }
        let matched = selectedPods(namespace: service.namespace, selector: selector)
        var out: [EndpointSlice] = []
        for family in families {
            // Group by resolved port list; keep first-seen group order.
            var groups: [[EndpointPort]] = []
            var members: [[Endpoint]] = []
            for i in matched {
                let pod = pods[i]
                // ShouldPodBeInEndpoints(pod, includeTerminating: true): needs an IP, not terminal.
                guard !pod.isTerminal, let ip = pod.ip(family) else { continue }
                var ports: [EndpointPort] = []
                for sp in service.ports {
                    guard let n = Self.findPort(pod, sp) else { continue }
                    ports.append(EndpointPort(name: sp.name, protocol: sp.protocol, port: n, appProtocol: sp.appProtocol))
                }
                let serving = pod.ready
                let ready = service.publishNotReadyAddresses || (serving && !pod.terminating)
                let hostname = (pod.hostname != nil && pod.subdomain == service.name) ? pod.hostname : nil
                let endpoint = Endpoint(
                    addresses: [ip],
                    conditions: EndpointConditions(ready: ready, serving: serving, terminating: pod.terminating),
                    hostname: hostname, nodeName: pod.nodeName, zone: pod.nodeName.flatMap { zones[$0] },
                    targetRef: ObjectReference(kind: "Pod", namespace: pod.namespace, name: pod.name))
                if let g = groups.firstIndex(of: ports) {
                    members[g].append(endpoint)
                } else {
                    groups.append(ports)
                    members.append([endpoint])
                }
            }
            if groups.isEmpty {
                // The controller keeps one empty slice per family so consumers see "no endpoints".
                groups = [service.ports.map { EndpointPort(name: $0.name, protocol: $0.protocol, port: nil) }]
                members = [[]]
            }
            for (g, ports) in groups.enumerated() {
                var chunkStart = 0
                repeat {
                    let chunk = Array(members[g][chunkStart..<min(chunkStart + EndpointSlice.maxEndpoints, members[g].count)])
                    out.append(EndpointSlice(
                        namespace: service.namespace, name: Self.generateName(service.name, rng: &rng),
                        serviceName: service.name, addressType: EndpointAddressType(family), ports: ports,
                        endpoints: chunk, managedBy: EndpointSlice.controllerName))
                    chunkStart += EndpointSlice.maxEndpoints
                } while chunkStart < members[g].count
            }
        }
        return out
    }

    /// `<service>-` plus five characters from the API server's generateName alphabet
    /// (staging apimachinery util/rand: consonants and digits without look-alikes).
    static func generateName(_ service: String, rng: inout SeededGenerator) -> String {
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        let prefix = service.count <= 57 ? service + "-" : "endpointslice-"
        return prefix + String((0..<5).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
    }
}
