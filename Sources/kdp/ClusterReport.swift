import Cluster
import Wire

/// The stable JSON/YAML shape of `kdp cluster` (keys scripts rely on are listed in README).
struct ClusterReport: Encodable {
    struct SettingsOut: Encodable {
        var name: String
        var clusterCIDRs: [String]
        var serviceCIDRs: [String]
        var nodeNetworks: [String]
        var cni: String
        var clusterDomain: String
        var nodePortRange: String
        var proxyMode: String
    }

    struct NodeOut: Encodable {
        var name: String
        var role: String
        var internalIPs: [String]
        var podCIDRs: [String]
        var zone: String?
        var labels: [String: String]
    }

    struct PodOut: Encodable {
        var namespace: String
        var name: String
        var node: String?
        var ips: [String]
        var hostNetwork: Bool
        var ready: Bool
        var terminating: Bool
        var labels: [String: String]
    }

    /// A port number, or a port name when the targetPort names a container port.
    enum PortValue: Encodable {
        case number(Int)
        case name(String)
        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .number(let n): try c.encode(n)
            case .name(let s): try c.encode(s)
            }
        }
    }

    struct ServicePortOut: Encodable {
        var name: String
        var `protocol`: String
        var port: Int
        var targetPort: PortValue
        var nodePort: Int?
    }

    struct ServiceOut: Encodable {
        var namespace: String
        var name: String
        var type: String
        var clusterIPs: [String]
        var headless: Bool
        var ipFamilies: [String]
        var ports: [ServicePortOut]
        var selector: [String: String]?
        var externalIPs: [String]
        var loadBalancerIPs: [String]
        var loadBalancerSourceRanges: [String]
        var externalTrafficPolicy: String
        var internalTrafficPolicy: String
        var healthCheckNodePort: Int?
        var sessionAffinity: String
        var sessionAffinityTimeoutSeconds: Int?
        var externalName: String?
    }

    struct EndpointPortOut: Encodable {
        var name: String?
        var `protocol`: String?
        var port: Int?
    }

    struct EndpointOut: Encodable {
        var addresses: [String]
        var nodeName: String?
        var zone: String?
        var hostname: String?
        var ready: Bool
        var serving: Bool
        var terminating: Bool
        var targetRef: String?
    }

    struct SliceOut: Encodable {
        var namespace: String
        var name: String
        var service: String
        var addressType: String
        var ports: [EndpointPortOut]
        var endpoints: [EndpointOut]
    }

    /// A setting kdp inferred from a dump, read from its ConfigMaps, or assumed.
    struct InferredOut: Encodable {
        var setting: String
        var value: String
        /// inferred, configmap, assumed or flag.
        var basis: String
        var from: String
    }

    var cluster: SettingsOut
    /// Absent when the input said everything (a topology file).
    var inferred: [InferredOut]?
    var nodes: [NodeOut]
    var pods: [PodOut]
    var services: [ServiceOut]
    var endpointSlices: [SliceOut]

    init(_ c: Cluster) {
        let s = c.settings
        cluster = SettingsOut(
            name: s.name, clusterCIDRs: s.clusterCIDRs.map(\.description), serviceCIDRs: s.serviceCIDRs.map(\.description),
            nodeNetworks: s.nodeNetworks.map(\.description), cni: s.cni.rawValue, clusterDomain: s.clusterDomain,
            nodePortRange: s.nodePortRange.description, proxyMode: s.kubeProxy.nftablesModeSource != nil ? "nftables" : s.kubeProxy.mode.rawValue)
        inferred = c.inferred.isEmpty ? nil : c.inferred.map {
            InferredOut(setting: $0.setting, value: $0.value, basis: $0.basis.rawValue, from: $0.from)
        }
        nodes = c.nodes.map {
            NodeOut(name: $0.name, role: $0.role, internalIPs: $0.internalIPs.map(\.description),
                    podCIDRs: $0.podCIDRs.map(\.description), zone: $0.zone, labels: $0.labels)
        }
        pods = c.pods.map {
            PodOut(namespace: $0.namespace, name: $0.name, node: $0.nodeName, ips: $0.ips.map(\.description),
                   hostNetwork: $0.hostNetwork, ready: $0.ready, terminating: $0.terminating, labels: $0.labels)
        }
        services = c.services.map { svc in
            ServiceOut(
                namespace: svc.namespace, name: svc.name, type: svc.type.rawValue, clusterIPs: svc.clusterIPs.map(\.description),
                headless: svc.headless, ipFamilies: svc.ipFamilies.map(\.rawValue),
                ports: svc.ports.map { p in
                    let target: PortValue = switch p.targetPort {
                    case .number(let n): .number(Int(n))
                    case .name(let s): .name(s)
                    }
                    return ServicePortOut(name: p.name, protocol: p.protocol.kubernetesName, port: Int(p.port),
                                          targetPort: target, nodePort: p.nodePort.map(Int.init))
                },
                selector: svc.selector, externalIPs: svc.externalIPs.map(\.description),
                loadBalancerIPs: svc.loadBalancerIPs.map(\.description),
                loadBalancerSourceRanges: svc.loadBalancerSourceRanges.map(\.description),
                externalTrafficPolicy: svc.externalTrafficPolicy.rawValue, internalTrafficPolicy: svc.internalTrafficPolicy.rawValue,
                healthCheckNodePort: svc.needsHealthCheck ? svc.healthCheckNodePort.map(Int.init) : nil,
                sessionAffinity: svc.sessionAffinity.rawValue,
                sessionAffinityTimeoutSeconds: svc.sessionAffinity == .clientIP ? svc.sessionAffinityTimeoutSeconds : nil,
                externalName: svc.externalName)
        }
        endpointSlices = c.endpointSlices.map { slice in
            SliceOut(
                namespace: slice.namespace, name: slice.name, service: slice.serviceName, addressType: slice.addressType.rawValue,
                ports: slice.ports.map { EndpointPortOut(name: $0.name, protocol: $0.protocol?.kubernetesName, port: $0.port.map(Int.init)) },
                endpoints: slice.endpoints.map { e in
                    EndpointOut(addresses: e.addresses.map(\.description), nodeName: e.nodeName, zone: e.zone, hostname: e.hostname,
                                ready: e.conditions.isReady, serving: e.conditions.isServing, terminating: e.conditions.isTerminating,
                                targetRef: e.targetRef.map { "\($0.kind.lowercased())/\($0.namespace)/\($0.name)" })
                })
        }
    }

    func text(_ c: Cluster) -> String {
        let s = c.settings
        var out = "Cluster \(s.name): \(nodes.count) nodes, \(pods.count) pods, \(services.count) services"
        out += " (cni \(s.cni.rawValue), pods \(cluster.clusterCIDRs.joined(separator: ",")), services \(cluster.serviceCIDRs.joined(separator: ",")), kube-proxy \(cluster.proxyMode))\n\n"
        if !c.inferred.isEmpty {
            // One sentence each (values can be long): what, how it was settled, from what.
            out += "INFERRED\n" + c.inferred.map { "  \($0.note)" }.joined(separator: "\n") + "\n\n"
        }
        out += "NODES\n" + Render.table(
            ["NAME", "ROLE", "INTERNAL-IP", "POD-CIDR", "ZONE"],
            nodes.map { [$0.name, $0.role, $0.internalIPs.joined(separator: ","), $0.podCIDRs.joined(separator: ","), $0.zone ?? "<none>"] })
        out += "\n\nPODS\n" + Render.table(
            ["NAMESPACE", "NAME", "NODE", "IP", "READY"],
            pods.map { [$0.namespace, $0.name, $0.node ?? "<none>",
                        $0.ips.isEmpty ? "<none>" : $0.ips.joined(separator: ",") + ($0.hostNetwork ? " (host)" : ""),
                        $0.node == nil ? "pending" : ($0.terminating ? "terminating" : ($0.ready ? "yes" : "no"))] })
        out += "\n\nSERVICES\n" + Render.table(
            ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"],
            c.services.map { svc in
                let cip = svc.type == .externalName ? "<none>" : (svc.headless ? "None" : svc.clusterIPs.map(\.description).joined(separator: ","))
                var ext = (svc.loadBalancerIPs + svc.externalIPs).map(\.description).joined(separator: ",")
                if svc.type == .externalName { ext = svc.externalName ?? "" }
                if ext.isEmpty { ext = svc.type == .loadBalancer ? "<pending>" : "<none>" }
                let ports = svc.ports.map { p in
                    "\(p.port)\(p.nodePort.map { ":\($0)" } ?? "")/\(p.protocol.kubernetesName)"
                }.joined(separator: ",")
                return [svc.namespace, svc.name, svc.type.rawValue, cip, ext, ports.isEmpty ? "<none>" : ports]
            })
        out += "\n\nENDPOINTS\n" + Render.table(
            ["NAMESPACE", "SERVICE", "SLICE", "TYPE", "PORTS", "ENDPOINTS"],
            c.endpointSlices.map { slice in
                let ports = slice.ports.map { p in
                    "\(p.port.map(String.init) ?? "<unset>")/\(p.protocol?.kubernetesName ?? "TCP")"
                }.joined(separator: ",")
                let eps = slice.endpoints.map { e -> String in
                    let state = e.conditions.isReady ? "" : (e.conditions.isTerminating ? " (terminating)" : " (not ready)")
                    return (e.addresses.first?.description ?? "?") + state
                }
                return [slice.namespace, slice.serviceName, slice.name, slice.addressType.rawValue,
                        ports.isEmpty ? "<none>" : ports, eps.isEmpty ? "<none>" : eps.joined(separator: ",")]
            })
        return out
    }
}
