import Cluster
import Wire

/// What a Service port is meant to reach, from the Service, its EndpointSlices and the pods
/// themselves, never from the compiled rules: a compiler bug or a foreign rule then shows as
/// a difference.
///
/// Readiness comes from the pod an endpoint names (ready, serving, terminating), so a slice
/// that lists a not-ready pod as ready does not make it intended, and so does its port: the
/// Service's targetPort resolved on the pod. Endpoints that are not pods keep their slice's
/// conditions and port. The choice follows upstream's `CategorizeEndpoints`
/// (pkg/proxy/topology.go): the ready endpoints, else the serving and terminating ones; for a
/// Local policy, the node's own, with the same fallback.
struct IntendedEndpoints {
    struct Endpoint: Hashable {
        var address: IPAddress
        var port: UInt16
        var node: String?
        var ready: Bool
        var serving: Bool
        var terminating: Bool
    }

    /// Every endpoint of the port, with the readiness kdp believes.
    var all: [Endpoint] = []
    /// Endpoint addresses inside the pod range that no pod holds (a stale hand-written slice).
    var stale: [IPAddress] = []

    init(service: Service, port: ServicePort, family: IPFamily, cluster: Cluster, podByIP: [IPAddress: Pod]) {
        let podRange = cluster.settings.clusterCIDRs
        for slice in cluster.endpointSlices(for: service) where slice.addressType.family == family {
            // The slice's port for this Service port: by name (and protocol).
            guard let p = slice.ports.first(where: { ($0.name ?? "") == port.name && ($0.protocol ?? .tcp) == port.protocol }),
                  let number = p.port else { continue }
            for e in slice.endpoints {
                guard let address = e.addresses.first else { continue }
                var pod: Pod?
                if let ref = e.targetRef, ref.kind == "Pod" { pod = cluster.pod(namespace: ref.namespace, name: ref.name) }
                if pod == nil { pod = podByIP[address] }
                var ep = Endpoint(address: address, port: number, node: e.nodeName ?? pod?.nodeName,
                                  ready: e.conditions.isReady, serving: e.conditions.isServing, terminating: e.conditions.isTerminating)
                if let pod, pod.ips.contains(address) {
                    if !service.publishNotReadyAddresses {
                        ep.ready = pod.ready && !pod.terminating
                        ep.serving = pod.ready
                        ep.terminating = pod.terminating
                    }
                    ep.node = pod.nodeName
                    // A Service that selects its pods means the port its targetPort names on
                    // the pod (a selectorless Service's slices are the only word on ports).
                    if service.selector != nil { ep.port = Self.targetPort(port, on: pod) ?? number }
                } else if pod == nil || !pod!.ips.contains(address), podRange.contains(where: { $0.contains(address) }) {
                    stale.append(address)
                    continue
                }
                all.append(ep)
            }
        }
    }

    /// The container port `port.targetPort` means on `pod`: the number itself, or the pod's
    /// port of that name and protocol; nil when the pod has no such port.
    static func targetPort(_ port: ServicePort, on pod: Pod) -> UInt16? {
        switch port.targetPort {
        case .number(let n): n
        case .name(let name): pod.ports.first { $0.name == name && $0.protocol == port.protocol }?.containerPort
        }
    }

    /// The endpoints traffic should reach: all of the cluster's, or with `localTo` only those
    /// on that node (a Local traffic policy).
    func chosen(localTo node: String? = nil) -> [Endpoint] {
        let pool = node.map { n in all.filter { $0.node == n } } ?? all
        let ready = pool.filter(\.ready)
        if !ready.isEmpty { return ready }
        return pool.filter { $0.serving && $0.terminating }
    }

    /// Whether any endpoint would serve at all (cluster-wide).
    var hasAny: Bool { !chosen().isEmpty }
}
