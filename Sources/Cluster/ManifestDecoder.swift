import Wire
import Yams

/// Reads Kubernetes objects (Node, Pod, Service, EndpointSlice, Namespace) from YAML or JSON
/// as `kubectl get -o yaml` writes them. Unknown fields are ignored, as the API's clients do;
/// fields kdp reads are checked for type and value.
enum ManifestDecoder {
    static func decode(_ doc: YAMLValue, into input: inout TopologyInput) throws(InputError) {
        let obj = try doc.object("document")
        guard let kindValue = obj["kind"] else {
            throw doc.error("document has no \"kind\" (expected a Kubernetes object or kind: Topology)")
        }
        let kind = try kindValue.string("kind")
        switch kind {
        case "List", "NodeList", "PodList", "ServiceList", "EndpointSliceList", "NamespaceList", "ConfigMapList", "DaemonSetList":
            for item in try obj["items"]?.sequence("items") ?? [] { try decode(item, into: &input) }
        case "Topology":
            try TopologyDecoder.decode(obj, into: &input)
        case "Node", "Pod", "Service", "EndpointSlice", "ConfigMap":
            input.hasPlainObjects = true
            try object(kind, obj, into: &input)
        case "Namespace": break  // namespaces carry nothing the data plane uses
        case "DaemonSet":
            // flannel's DaemonSet states flanneld's flags; every other DaemonSet is ignored.
            let meta = try metadata(obj, kind: "DaemonSet", namespaced: true)
            if meta.name == FlannelDaemonSetDecoder.name, let flags = try FlannelDaemonSetDecoder.decode(obj, meta: meta) {
                if let first = input.flannelFlags {
                    throw InputError("DaemonSet \(FlannelDaemonSetDecoder.name) given twice (first at \(first.location?.description ?? "?")); keep one", at: obj.location)
                }
                input.flannelFlags = flags
            } else {
                input.notes.append("\(obj.location): ignoring kind \(kind) (kdp reads Node, Pod, Service, EndpointSlice, Namespace)")
            }
        default:
            input.notes.append("\(obj.location): ignoring kind \(kind) (kdp reads Node, Pod, Service, EndpointSlice, Namespace)")
        }
    }

    static func object(_ kind: String, _ obj: YAMLObject, into input: inout TopologyInput) throws(InputError) {
        switch kind {
        case "Node": input.nodes.append(try node(obj))
        case "Pod":
            var p = try pod(obj)
            p.fromDump = true
            input.pods.append(p)
        case "Service": input.services.append(try service(obj))
        case "EndpointSlice": input.endpointSlices.append(try endpointSlice(obj))
        default:
            // kube-proxy's and flannel's configuration; every other ConfigMap is ignored quietly.
            try ConfigMapDecoder.decode(obj, meta: try metadata(obj, kind: "ConfigMap", namespaced: true), into: &input)
        }
    }

    struct Meta {
        var name: String
        var namespace: String
        var labels: [String: String]
        var deleting: Bool
    }

    static func metadata(_ obj: YAMLObject, kind: String, namespaced: Bool) throws(InputError) -> Meta {
        guard let meta = try obj.object("metadata", in: kind) else { throw obj.value.error("\(kind) has no metadata") }
        let name = try meta.required("name", in: "\(kind) metadata").string("metadata.name")
        try checkName(name, at: meta["name"]!, what: "\(kind) name")
        let namespace = namespaced ? try meta["namespace"]?.string("metadata.namespace") ?? "default" : ""
        return Meta(
            name: name, namespace: namespace,
            labels: try meta["labels"]?.stringMap("metadata.labels") ?? [:],
            deleting: meta["deletionTimestamp"] != nil)
    }

    /// Object names must be DNS-1123 subdomains (lower-case alphanumerics, '-' and '.').
    static func checkName(_ name: String, at v: YAMLValue, what: String) throws(InputError) {
        let ok = !name.isEmpty && name.count <= 253 && name.utf8.allSatisfy {
            ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46
        } && name.first != "-" && name.last != "-"
        if !ok { throw v.error("\(what) \"\(name)\" is not a valid name (lower-case letters, digits, '-' and '.')") }
    }

    static func node(_ obj: YAMLObject) throws(InputError) -> Node {
        let meta = try metadata(obj, kind: "Node", namespaced: false)
        var node = Node(name: meta.name, labels: meta.labels, location: obj.location)
        if let spec = try obj.object("spec", in: "Node") {
            if let list = spec["podCIDRs"] {
                node.podCIDRs = try list.sequence("spec.podCIDRs").map { v throws(InputError) in try v.prefix("spec.podCIDRs") }
            } else if let one = spec["podCIDR"] {
                node.podCIDRs = [try one.prefix("spec.podCIDR")]
            }
        }
        if let status = try obj.object("status", in: "Node") {
            for a in try status["addresses"]?.sequence("status.addresses") ?? [] {
                let addr = try a.object("status.addresses[]")
                guard try addr["type"]?.string("type") == "InternalIP", let v = addr["address"] else { continue }
                // Several InternalIPs are kept in order (the first of each family is the node IP).
                let ip = try v.ip("InternalIP address")
                if !node.internalIPs.contains(ip) { node.internalIPs.append(ip) }
            }
        }
        return node
    }

    static func pod(_ obj: YAMLObject) throws(InputError) -> Pod {
        let meta = try metadata(obj, kind: "Pod", namespaced: true)
        var pod = Pod(namespace: meta.namespace, name: meta.name, labels: meta.labels,
                      terminating: meta.deleting, location: obj.location)
        if let spec = try obj.object("spec", in: "Pod") {
            pod.nodeName = try spec["nodeName"]?.string("spec.nodeName")
            pod.hostNetwork = try spec["hostNetwork"]?.bool("spec.hostNetwork") ?? false
            pod.hostname = try spec["hostname"]?.string("spec.hostname")
            pod.subdomain = try spec["subdomain"]?.string("spec.subdomain")
            for c in try spec["containers"]?.sequence("spec.containers") ?? [] {
                let container = try c.object("spec.containers[]")
                for p in try container["ports"]?.sequence("ports") ?? [] {
                    pod.ports.append(try containerPort(p))
                }
            }
        }
        if let status = try obj.object("status", in: "Pod") {
            if let ips = status["podIPs"] {
                pod.ips = try ips.sequence("status.podIPs").map { v throws(InputError) in
                    try v.object("status.podIPs[]").required("ip", in: "podIPs entry").ip("status.podIPs[].ip")
                }
            } else if let ip = status["podIP"] {
                pod.ips = [try ip.ip("status.podIP")]
            }
            pod.phase = try status["phase"]?.string("status.phase")
            // A pod that reports conditions is Ready only with Ready=True; one written without
            // a status (a plain manifest) is taken as started and ready, as the emulator runs it.
            if let conditions = status["conditions"] {
                pod.ready = false
                for c in try conditions.sequence("status.conditions") {
                    let cond = try c.object("status.conditions[]")
                    if try cond["type"]?.string("type") == "Ready" {
                        pod.ready = try cond["status"]?.string("status") == "True"
                    }
                }
            }
        }
        return pod
    }

    static func containerPort(_ v: YAMLValue) throws(InputError) -> ContainerPort {
        let p = try v.object("container port")
        return ContainerPort(
            name: try p["name"]?.string("port name"),
            containerPort: try p.required("containerPort", in: "container port").port("containerPort"),
            protocol: try p["protocol"].map { v throws(InputError) in try l4Protocol(v) } ?? .tcp)
    }

    static func l4Protocol(_ v: YAMLValue) throws(InputError) -> IPProtocol {
        let text = try v.string("protocol")
        switch text {
        case "TCP", "tcp": return .tcp
        case "UDP", "udp": return .udp
        case "SCTP", "sctp": return .sctp
        default: throw v.error("protocol must be TCP, UDP or SCTP, found \"\(text)\"")
        }
    }

    static func enumValue<E: RawRepresentable & CaseIterable>(_ v: YAMLValue, _ what: String, as: E.Type) throws(InputError) -> E
    where E.RawValue == String {
        let text = try v.string(what)
        guard let e = E(rawValue: text) else {
            throw v.error("\(what) must be one of \(E.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(text)\"")
        }
        return e
    }

    static func servicePort(_ v: YAMLValue) throws(InputError) -> ServicePort {
        let p = try v.object("service port")
        let port: UInt16 = try p.required("port", in: "service port").port("port")
        var target: TargetPort?
        if let t = p["targetPort"] {
            if case .scalar(let s) = t.node, let n = Int(s.string) {
                guard (1...65535).contains(n) else { throw t.error("targetPort must be 1-65535, found \(n)") }
                target = .number(UInt16(n))
            } else {
                let name = try t.string("targetPort")
                guard !name.isEmpty else { throw t.error("targetPort is empty") }
                target = .name(name)
            }
        }
        return ServicePort(
            name: try p["name"]?.string("port name") ?? "",
            protocol: try p["protocol"].map { v throws(InputError) in try l4Protocol(v) } ?? .tcp,
            port: port, targetPort: target,
            nodePort: try p["nodePort"]?.port("nodePort"),
            appProtocol: try p["appProtocol"]?.string("appProtocol"))
    }

    static func service(_ obj: YAMLObject) throws(InputError) -> Service {
        let meta = try metadata(obj, kind: "Service", namespaced: true)
        var svc = Service(namespace: meta.namespace, name: meta.name, location: obj.location)
        if let spec = try obj.object("spec", in: "Service") {
            try ServiceFields.read(spec, into: &svc, compact: false)
        }
        if let status = try obj.object("status", in: "Service"),
           let lb = try status.object("loadBalancer", in: "status"),
           let ingress = lb["ingress"] {
            svc.loadBalancerIngress += try loadBalancerIngress(ingress)
        }
        return svc
    }

    /// `status.loadBalancer.ingress` entries (also the compact form's `loadBalancerIngress`).
    static func loadBalancerIngress(_ v: YAMLValue) throws(InputError) -> [LoadBalancerIngress] {
        try v.sequence("loadBalancer ingress").map { i throws(InputError) in
            let ing = try i.object("ingress entry")
            var mode: String?
            if let m = ing["ipMode"] {
                mode = try m.string("ipMode")
                guard mode == "VIP" || mode == "Proxy" else { throw m.error("ipMode must be VIP or Proxy, found \"\(mode!)\"") }
            }
            return LoadBalancerIngress(
                ip: try ing["ip"]?.ip("ingress ip"), hostname: try ing["hostname"]?.string("ingress hostname"), ipMode: mode)
        }
    }

    static func endpointSlice(_ obj: YAMLObject) throws(InputError) -> EndpointSlice {
        let meta = try metadata(obj, kind: "EndpointSlice", namespaced: true)
        guard let serviceName = meta.labels[EndpointSlice.serviceNameLabel] else {
            throw obj.value.error("EndpointSlice \(meta.namespace)/\(meta.name) has no \(EndpointSlice.serviceNameLabel) label")
        }
        let typeValue = try obj.required("addressType", in: "EndpointSlice")
        let addressType = try enumValue(typeValue, "addressType", as: EndpointAddressType.self)
        var slice = EndpointSlice(
            namespace: meta.namespace, name: meta.name, serviceName: serviceName, addressType: addressType,
            ports: [], endpoints: [], managedBy: meta.labels[EndpointSlice.managedByLabel], location: obj.location)
        for p in try obj["ports"]?.sequence("ports") ?? [] {
            let port = try p.object("ports[]")
            slice.ports.append(EndpointPort(
                name: try port["name"]?.string("port name"),
                protocol: try port["protocol"].map { v throws(InputError) in try l4Protocol(v) } ?? .tcp,
                port: try port["port"]?.port("port"),
                appProtocol: try port["appProtocol"]?.string("appProtocol")))
        }
        for e in try obj["endpoints"]?.sequence("endpoints") ?? [] {
            let ep = try e.object("endpoints[]")
            var endpoint = Endpoint(addresses: [])
            for a in try ep.required("addresses", in: "endpoint").sequence("addresses") {
                guard let family = addressType.family else { break }  // FQDN slices carry names
                let ip = try a.ip("endpoint address")
                guard ip.family == family else { throw a.error("address \(ip) is not \(addressType.rawValue)") }
                endpoint.addresses.append(ip)
            }
            if let c = try ep.object("conditions", in: "endpoint") {
                endpoint.conditions = EndpointConditions(
                    ready: try c["ready"]?.bool("conditions.ready"),
                    serving: try c["serving"]?.bool("conditions.serving"),
                    terminating: try c["terminating"]?.bool("conditions.terminating"))
            }
            endpoint.hostname = try ep["hostname"]?.string("hostname")
            endpoint.nodeName = try ep["nodeName"]?.string("nodeName")
            endpoint.zone = try ep["zone"]?.string("zone")
            if let hints = try ep.object("hints", in: "endpoint") {
                endpoint.hintsForZones = try hints["forZones"]?.sequence("forZones").map { v throws(InputError) in
                    try v.object("forZones[]").required("name", in: "zone hint").string("name")
                } ?? []
                endpoint.hintsForNodes = try hints["forNodes"]?.sequence("forNodes").map { v throws(InputError) in
                    try v.object("forNodes[]").required("name", in: "node hint").string("name")
                } ?? []
            }
            if let ref = try ep.object("targetRef", in: "endpoint") {
                endpoint.targetRef = ObjectReference(
                    kind: try ref["kind"]?.string("kind") ?? "Pod",
                    namespace: try ref["namespace"]?.string("namespace") ?? meta.namespace,
                    name: try ref["name"]?.string("name") ?? "")
            }
            slice.endpoints.append(endpoint)
        }
        return slice
    }
}

/// Service fields shared by the Kubernetes `spec` and the compact kdp form, which spells
/// the same fields the same way (plus a few shorthands).
enum ServiceFields {
    static let compactKeys: Set<String> = [
        "name", "namespace", "type", "clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "selector",
        "ports", "externalIPs", "loadBalancerIP", "loadBalancerIPs", "loadBalancerIngress", "loadBalancerSourceRanges",
        "externalTrafficPolicy", "internalTrafficPolicy", "healthCheckNodePort", "sessionAffinity",
        "sessionAffinityTimeout", "sessionAffinityConfig", "publishNotReadyAddresses", "externalName",
    ]

    static func read(_ spec: YAMLObject, into svc: inout Service, compact: Bool) throws(InputError) {
        if let t = spec["type"] { svc.type = try ManifestDecoder.enumValue(t, "type", as: ServiceType.self) }
        var ips: [IPAddress] = []
        if let list = spec["clusterIPs"] {
            for v in try list.sequence("clusterIPs") {
                if try v.string("clusterIPs") == "None" { svc.headless = true } else { ips.append(try v.ip("clusterIPs")) }
            }
        } else if let one = spec["clusterIP"] {
            let text = try one.string("clusterIP")
            if text == "None" { svc.headless = true } else if !text.isEmpty { ips = [try one.ip("clusterIP")] }
        }
        svc.clusterIPs = ips
        if let fams = spec["ipFamilies"] {
            svc.ipFamilies = try fams.sequence("ipFamilies").map { v throws(InputError) in
                try ManifestDecoder.enumValue(v, "ipFamilies", as: IPFamily.self)
            }
        }
        if let p = spec["ipFamilyPolicy"] {
            svc.ipFamilyPolicy = try ManifestDecoder.enumValue(p, "ipFamilyPolicy", as: IPFamilyPolicy.self)
        }
        svc.selector = try spec["selector"]?.stringMap("selector")
        svc.ports = try spec["ports"]?.sequence("ports").map { v throws(InputError) in try ManifestDecoder.servicePort(v) } ?? []
        svc.externalIPs = try spec["externalIPs"]?.sequence("externalIPs").map { v throws(InputError) in try v.ip("externalIPs") } ?? []
        // The cloud's controller publishes a requested loadBalancerIP as the ingress VIP.
        if let lbIP = spec["loadBalancerIP"] {
            let ip = try lbIP.ip("loadBalancerIP")
            svc.loadBalancerIngress.append(LoadBalancerIngress(ip: ip))
        }
        if compact, let list = spec["loadBalancerIngress"] {
            svc.loadBalancerIngress += try ManifestDecoder.loadBalancerIngress(list)
        }
        if compact, let list = spec["loadBalancerIPs"] {
            for v in try list.sequence("loadBalancerIPs") {
                svc.loadBalancerIngress.append(LoadBalancerIngress(ip: try v.ip("loadBalancerIPs")))
            }
        }
        svc.loadBalancerSourceRanges = try spec["loadBalancerSourceRanges"]?.sequence("loadBalancerSourceRanges").map {
            v throws(InputError) in try v.prefix("loadBalancerSourceRanges", allowHostBits: true)
        } ?? []
        if let p = spec["externalTrafficPolicy"] {
            svc.externalTrafficPolicy = try ManifestDecoder.enumValue(p, "externalTrafficPolicy", as: TrafficPolicy.self)
        }
        if let p = spec["internalTrafficPolicy"] {
            svc.internalTrafficPolicy = try ManifestDecoder.enumValue(p, "internalTrafficPolicy", as: TrafficPolicy.self)
        }
        svc.healthCheckNodePort = try spec["healthCheckNodePort"]?.port("healthCheckNodePort")
        if let a = spec["sessionAffinity"] {
            svc.sessionAffinity = try ManifestDecoder.enumValue(a, "sessionAffinity", as: SessionAffinity.self)
        }
        if let cfg = try spec.object("sessionAffinityConfig", in: "spec"),
           let cip = try cfg.object("clientIP", in: "sessionAffinityConfig"),
           let t = cip["timeoutSeconds"] {
            svc.sessionAffinityTimeoutSeconds = try t.int("timeoutSeconds", in: 1...86400)
        }
        if compact, let t = spec["sessionAffinityTimeout"] {
            svc.sessionAffinityTimeoutSeconds = try t.int("sessionAffinityTimeout", in: 1...86400)
        }
        svc.publishNotReadyAddresses = try spec["publishNotReadyAddresses"]?.bool("publishNotReadyAddresses") ?? false
        svc.externalName = try spec["externalName"]?.string("externalName")
        if svc.type == .externalName && svc.externalName == nil {
            throw spec.value.error("Service \(svc.key) of type ExternalName needs externalName")
        }
    }
}
