import Cluster
import Wire

/// `kdp cluster -o dot|svg|mermaid`: the cluster as the seed documents draw it. The control
/// plane (its nodes, etcd, and the API servers behind `kubernetes.default`), the workers with
/// their pods grouped by node and labelled with the node's pod CIDR, the Services with an arrow
/// to each endpoint (port and traffic policy on it), and the node network with its overlay.
///
/// One typed model, two renderings (`dot`, `mermaid`) that mirror each other: what one draws,
/// the other draws. Built once per command, O(pods + endpoints).
struct ClusterPicture {
    enum BoxKind { case host, pod, hostNetworkPod, notReadyPod, service, outside, network }

    struct Box {
        var id: String
        var lines: [String]
        var kind: BoxKind
    }

    /// A node: its host (interfaces) and its pods.
    struct Group {
        var id: String
        var title: [String]
        var controlPlane: Bool
        var boxes: [Box]
    }

    struct Edge {
        var from: String
        var to: String
        var label: String
        /// Not-ready or terminating endpoints: drawn dashed.
        var dashed: Bool
    }

    var title: String
    var groups: [Group] = []
    var services: [Box] = []
    var outside: [Box] = []
    var network: Box
    var edges: [Edge] = []
    /// Host boxes joined to the node network.
    var uplinks: [String] = []

    init(_ cluster: Cluster) {
        let s = cluster.settings
        let overlay = s.cni == .vxlan ? "VXLAN overlay (flannel.1)" : "host-gw routes"
        title = "\(s.name): \(cluster.nodes.count) nodes, \(cluster.pods.count) pods, \(cluster.services.count) Services"
            + " · kube-proxy \(s.kubeProxy.mode.rawValue)"
        network = Box(id: "net", lines: ["node network " + s.nodeNetworks.map(\.description).joined(separator: ", "), overlay,
                                         "pods " + s.clusterCIDRs.map(\.description).joined(separator: ", ")], kind: .network)

        // Where an endpoint address lands: a pod's own IP, else a host-network pod (the API
        // server first) or the host of the node that owns the address.
        var byPodIP: [IPAddress: String] = [:]
        var hostOf: [IPAddress: String] = [:]
        var hostPods: [String: [(pod: Pod, id: String)]] = [:]
        for (i, node) in cluster.nodes.enumerated() {
            let gid = "n\(i)"
            var title = ["\(node.name) (\(node.role))", node.internalIPs.map(\.description).joined(separator: ", ")]
            if !node.podCIDRs.isEmpty { title.append("pod CIDR " + node.podCIDRs.map(\.description).joined(separator: ", ")) }
            if let zone = node.zone { title.append("zone \(zone)") }
            var host = ["host"]
            host.append("eth0 " + node.internalIPs.map(\.description).joined(separator: ", "))
            if s.cni == .vxlan { host.append("flannel.1") }
            if !node.podCIDRs.isEmpty { host.append(s.kubeProxy.bridgeInterface) }
            var group = Group(id: gid, title: title, controlPlane: node.isControlPlane, boxes: [Box(id: gid + "h", lines: host, kind: .host)])
            for ip in node.internalIPs { hostOf[ip] = gid + "h" }
            uplinks.append(gid + "h")
            let pods = cluster.pods.enumerated().filter { $0.element.nodeName == node.name }
                .sorted { ($0.element.namespace, $0.element.name) < ($1.element.namespace, $1.element.name) }
            for (k, pod) in pods {
                let id = "p\(k)"
                let kind: BoxKind = pod.hostNetwork ? .hostNetworkPod : (pod.ready && !pod.terminating ? .pod : .notReadyPod)
                var lines = [pod.key]
                if pod.hostNetwork { lines.append("hostNetwork") } else if !pod.ips.isEmpty { lines.append(pod.ips.map(\.description).joined(separator: ", ")) }
                if !pod.ready { lines.append("not ready") } else if pod.terminating { lines.append("terminating") }
                group.boxes.append(Box(id: id, lines: lines, kind: kind))
                if pod.hostNetwork { hostPods[node.name, default: []].append((pod, id)) } else { for ip in pod.ips { byPodIP[ip] = id } }
            }
            groups.append(group)
        }
        // Control-plane nodes first, as the seeds draw them (above the workers).
        groups.sort { $0.controlPlane && !$1.controlPlane }

        var outsideIDs: [IPAddress: String] = [:]
        func target(_ address: IPAddress, node: String?, port: UInt16?) -> String {
            if let id = byPodIP[address] { return id }
            if let hostID = hostOf[address] {
                let name = cluster.nodes.first { $0.internalIPs.contains(address) }?.name ?? node ?? ""
                let candidates = hostPods[name] ?? []
                // The pod serving that port on the host's network: the API server for 6443.
                if let port, let p = candidates.first(where: { c in c.pod.ports.contains { $0.containerPort == port } }) { return p.id }
                if let p = candidates.first(where: { $0.pod.labels["component"] == "kube-apiserver" }), port == 6443 { return p.id }
                return hostID
            }
            if let id = outsideIDs[address] { return id }
            let id = "x\(outsideIDs.count)"
            outsideIDs[address] = id
            outside.append(Box(id: id, lines: [address.description, "not in the cluster"], kind: .outside))
            return id
        }

        for (i, svc) in cluster.services.enumerated() {
            let id = "s\(i)"
            services.append(Box(id: id, lines: Self.serviceLines(svc), kind: .service))
            var labels: [String: (text: [String], dashed: Bool)] = [:]
            var order: [String] = []
            for slice in cluster.endpointSlices(for: svc) {
                for e in slice.endpoints {
                    let ready = e.conditions.isReady && !e.conditions.isTerminating
                    for address in e.addresses {
                        for port in slice.ports {
                            let to = target(address, node: e.nodeName, port: port.port)
                            let servicePort = svc.ports.first { $0.name == (port.name ?? "") } ?? (svc.ports.count == 1 ? svc.ports[0] : nil)
                            let proto = (port.protocol ?? servicePort?.protocol ?? .tcp).name.uppercased()
                            let text = servicePort.map { "\($0.port)→\(port.port.map(String.init) ?? "?")/\(proto)" }
                                ?? "\(port.port.map(String.init) ?? "?")/\(proto)"
                            if labels[to] == nil { order.append(to) }
                            var l = labels[to] ?? ([], !ready)
                            if !l.text.contains(text) { l.text.append(text) }
                            l.dashed = l.dashed && !ready
                            labels[to] = l
                        }
                    }
                }
            }
            // One label per distinct text: a Service's arrows mostly carry the same ports, and
            // repeating them on each arrow buries the picture. The first arrow also names the
            // policy that decides which of them a packet takes.
            let policy = Self.edgePolicy(svc)
            var said = Set<String>()
            for to in order {
                let l = labels[to]!
                let text = l.text.joined(separator: ", ") + (l.dashed ? " (not ready)" : "")
                let label = said.insert(text).inserted ? text + (said.count == 1 && !policy.isEmpty ? " · " + policy : "") : ""
                edges.append(Edge(from: id, to: to, label: label, dashed: l.dashed))
            }
        }
    }

    /// The traffic policies that change which endpoints a Service's arrows reach, short.
    static func edgePolicy(_ svc: Service) -> String {
        var parts: [String] = []
        if svc.externallyAccessible, svc.externalTrafficPolicy == .local { parts.append("eTP Local") }
        if svc.internalTrafficPolicy == .local { parts.append("iTP Local") }
        if svc.sessionAffinity == .clientIP { parts.append("ClientIP affinity") }
        return parts.joined(separator: ", ")
    }

    /// A Service's box: name and type, its addresses and node ports, and the policies that
    /// change where its traffic goes.
    static func serviceLines(_ svc: Service) -> [String] {
        var lines = [svc.key, svc.type.rawValue]
        if svc.type == .externalName { lines.append("→ " + (svc.externalName ?? "?")) }
        if svc.headless { lines.append("headless") } else if !svc.clusterIPs.isEmpty {
            lines.append("ClusterIP " + svc.clusterIPs.map(\.description).joined(separator: ", "))
        }
        if !svc.externalIPs.isEmpty { lines.append("externalIPs " + svc.externalIPs.map(\.description).joined(separator: ", ")) }
        if !svc.loadBalancerIPs.isEmpty { lines.append("LB " + svc.loadBalancerIPs.map(\.description).joined(separator: ", ")) }
        let nodePorts = svc.ports.compactMap(\.nodePort)
        if !nodePorts.isEmpty { lines.append("NodePort " + nodePorts.map(String.init).joined(separator: ", ")) }
        var policy: [String] = []
        if svc.externallyAccessible, svc.externalTrafficPolicy == .local { policy.append("externalTrafficPolicy Local") }
        if svc.internalTrafficPolicy == .local { policy.append("internalTrafficPolicy Local") }
        if svc.sessionAffinity == .clientIP { policy.append("affinity ClientIP \(svc.sessionAffinityTimeoutSeconds)s") }
        if !svc.loadBalancerSourceRanges.isEmpty { policy.append("from " + svc.loadBalancerSourceRanges.map(\.description).joined(separator: ", ")) }
        return lines + policy
    }
}
