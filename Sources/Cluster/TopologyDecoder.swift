import Wire

/// Reads a kdp topology file (`kind: Topology`): cluster settings plus compact nodes, pods and
/// services, and Kubernetes objects inline under `objects`. Unlike manifests, every key is
/// checked: a misspelt setting is an error, never a silent default. Format: topologies/README.md.
enum TopologyDecoder {
    static let apiVersion = "kdp.dev/v1alpha1"

    static func decode(_ doc: YAMLObject, into input: inout TopologyInput) throws(InputError) {
        try doc.rejectUnknownKeys(["kind", "apiVersion", "cluster", "nodes", "pods", "services", "objects"], in: "Topology")
        if let v = doc["apiVersion"], try v.string("apiVersion") != apiVersion {
            throw v.error("Topology apiVersion must be \(apiVersion)")
        }
        var part = TopologyInput()
        let clusterObject = try doc.object("cluster", in: "Topology")
        part.settings = try settings(clusterObject)
        part.settingsLocation = doc["cluster"]?.location ?? doc.location
        part.givenSettings = try givenKeys(clusterObject)
        for v in try doc["nodes"]?.sequence("nodes") ?? [] { part.nodes.append(try node(v)) }
        for v in try doc["pods"]?.sequence("pods") ?? [] { part.pods.append(try pod(v)) }
        for v in try doc["services"]?.sequence("services") ?? [] { part.services.append(try service(v)) }
        for v in try doc["objects"]?.sequence("objects") ?? [] { try ManifestDecoder.decode(v, into: &part) }
        part.hasPlainObjects = false  // written into the topology: requests, not a dump
        for i in part.pods.indices { part.pods[i].fromDump = false }
        try input.merge(part)
    }

    static func settings(_ obj: YAMLObject?) throws(InputError) -> ClusterSettings {
        var s = ClusterSettings()
        guard let obj else { return s }
        try obj.rejectUnknownKeys([
            "name", "clusterCIDR", "clusterCIDRs", "serviceCIDR", "serviceCIDRs", "nodeCIDRMaskSize",
            "nodeCIDRMaskSizeIPv4", "nodeCIDRMaskSizeIPv6", "nodeNetwork", "nodeNetworks", "cni", "clusterDomain",
            "nodePortRange", "seed", "kubeProxy", "serviceAllocation", "flannel",
        ], in: "cluster")
        if let v = obj["name"] { s.name = try v.string("cluster.name") }
        if let v = obj["clusterCIDRs"] ?? obj["clusterCIDR"] { s.clusterCIDRs = try cidrs(v, "cluster.clusterCIDR") }
        if let v = obj["serviceCIDRs"] ?? obj["serviceCIDR"] { s.serviceCIDRs = try cidrs(v, "cluster.serviceCIDR") }
        if let v = obj["nodeNetworks"] ?? obj["nodeNetwork"] { s.nodeNetworks = try cidrs(v, "cluster.nodeNetwork") }
        if let v = obj["nodeCIDRMaskSize"] ?? obj["nodeCIDRMaskSizeIPv4"] {
            s.nodeCIDRMaskSizeIPv4 = try v.int("nodeCIDRMaskSize", in: 8...30)
        }
        if let v = obj["nodeCIDRMaskSizeIPv6"] { s.nodeCIDRMaskSizeIPv6 = try v.int("nodeCIDRMaskSizeIPv6", in: 16...126) }
        if let v = obj["cni"] { s.cni = try ManifestDecoder.enumValue(v, "cluster.cni", as: CNIMode.self) }
        if let v = obj["clusterDomain"] { s.clusterDomain = try v.string("cluster.clusterDomain") }
        if let v = obj["nodePortRange"] {
            let text = try v.string("nodePortRange")
            do { s.nodePortRange = try PortRange(parsing: text) } catch { throw v.error("cluster.nodePortRange: \(error)") }
        }
        if let v = obj["serviceAllocation"] { s.serviceAllocation = try v.bool("cluster.serviceAllocation") }
        if let v = obj["seed"] { s.seed = UInt64(try v.int("cluster.seed", in: 0...Int.max)) }
        if let kp = try obj.object("kubeProxy", in: "cluster") { s.kubeProxy = try kubeProxy(kp) }
        if let f = try obj.object("flannel", in: "cluster") { s.flannel = try flannel(f) }
        for v in [obj["clusterCIDRs"] ?? obj["clusterCIDR"], obj["serviceCIDRs"] ?? obj["serviceCIDR"]] {
            guard let v else { continue }
            let list = try cidrs(v, "CIDR")
            if list.count > 2 || (list.count == 2 && list[0].family == list[1].family) {
                throw v.error("at most one CIDR per family (IPv4 and IPv6) may be given")
            }
        }
        if s.clusterCIDRs.map(\.family) != s.serviceCIDRs.map(\.family) && s.serviceCIDRs.count == s.clusterCIDRs.count {
            throw obj.value.error("clusterCIDR and serviceCIDR must list the same families in the same order")
        }
        return s
    }

    /// The settings a `cluster:` mapping writes, by one name per setting (`clusterCIDR` for
    /// `clusterCIDR` and `clusterCIDRs`, `kubeProxy.mode`, …).
    static func givenKeys(_ obj: YAMLObject?) throws(InputError) -> Set<String> {
        guard let obj else { return [] }
        var keys: Set<String> = []
        for e in obj.entries where !e.value.isNull {
            let key = e.key.hasSuffix("CIDRs") || e.key == "nodeNetworks" ? String(e.key.dropLast()) : e.key
            keys.insert(key)
        }
        if let kp = try obj.object("kubeProxy", in: "cluster") {
            for e in kp.entries where !e.value.isNull { keys.insert("kubeProxy.\(e.key)") }
        }
        if let f = try obj.object("flannel", in: "cluster") {
            for e in f.entries where !e.value.isNull { keys.insert("flannel.\(e.key.hasSuffix("networks") ? "network" : e.key)") }
        }
        return keys
    }

    static func cidrs(_ v: YAMLValue, _ what: String) throws(InputError) -> [Prefix] {
        let list = try v.stringList(what)
        guard !list.isEmpty else { throw v.error("\(what) is empty") }
        var out: [Prefix] = []
        for text in list {
            do { out.append(try Prefix(parsing: text, sloppy: true)) } catch { throw v.error("\(what): \(error)") }
        }
        return out
    }

    static func kubeProxy(_ obj: YAMLObject) throws(InputError) -> KubeProxySettings {
        try obj.rejectUnknownKeys([
            "mode", "detectLocalMode", "clusterCIDR", "masqueradeAll", "masqueradeBit", "nodePortAddresses",
            "localhostNodePorts", "bridgeInterface", "interfaceNamePrefix", "ipvsScheduler",
        ], in: "kubeProxy")
        var k = KubeProxySettings()
        if let v = obj["mode"], (try? v.string("kubeProxy.mode")) == "nftables" {
            k.nftablesModeSource = v.location
        } else if let v = obj["mode"] { k.mode = try ManifestDecoder.enumValue(v, "kubeProxy.mode", as: ProxyMode.self) }
        if let v = obj["detectLocalMode"] {
            k.detectLocalMode = try ManifestDecoder.enumValue(v, "kubeProxy.detectLocalMode", as: LocalDetectorMode.self)
        }
        if let v = obj["clusterCIDR"] { k.clusterCIDRs = try cidrs(v, "kubeProxy.clusterCIDR") }
        if let v = obj["masqueradeAll"] { k.masqueradeAll = try v.bool("kubeProxy.masqueradeAll") }
        if let v = obj["masqueradeBit"] { k.masqueradeBit = try v.int("kubeProxy.masqueradeBit", in: 0...31) }
        if let v = obj["nodePortAddresses"], try v.stringList("kubeProxy.nodePortAddresses") == ["primary"] {
            k.nodePortAddressesPrimary = true  // each node's own IPs, as kube-proxy reads the word
        } else if let v = obj["nodePortAddresses"] {
            k.nodePortAddresses = try v.stringList("kubeProxy.nodePortAddresses").map { t throws(InputError) in
                do { return try Prefix(parsing: t, sloppy: true) } catch { throw v.error("kubeProxy.nodePortAddresses: \(error)") }
            }
        }
        if let v = obj["localhostNodePorts"] { k.localhostNodePorts = try v.bool("kubeProxy.localhostNodePorts") }
        if let v = obj["bridgeInterface"] { k.bridgeInterface = try v.string("kubeProxy.bridgeInterface") }
        if let v = obj["interfaceNamePrefix"] { k.interfaceNamePrefix = try v.string("kubeProxy.interfaceNamePrefix") }
        if let v = obj["ipvsScheduler"] {
            let s = try v.string("kubeProxy.ipvsScheduler")
            let known = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"]
            guard known.contains(s) else { throw v.error("kubeProxy.ipvsScheduler must be one of \(known.joined(separator: ", "))") }
            k.ipvsScheduler = s
        }
        return k
    }

    /// `cluster.flannel`: flanneld's flags and net-conf.json `Network` (topologies/README.md).
    static func flannel(_ obj: YAMLObject) throws(InputError) -> FlannelSettings {
        try obj.rejectUnknownKeys(["ipMasq", "ipMasqRandomFullyDisable", "iptablesForwardRules", "network", "networks"], in: "flannel")
        var f = FlannelSettings()
        if let v = obj["ipMasq"] { f.ipMasq = try v.bool("flannel.ipMasq") }
        if let v = obj["ipMasqRandomFullyDisable"] { f.ipMasqRandomFullyDisable = try v.bool("flannel.ipMasqRandomFullyDisable") }
        if let v = obj["iptablesForwardRules"] { f.iptablesForwardRules = try v.bool("flannel.iptablesForwardRules") }
        if let v = obj["networks"] ?? obj["network"] {
            let list = try cidrs(v, "flannel.network")
            if list.count > 2 || (list.count == 2 && list[0].family == list[1].family) {
                throw v.error("flannel.network: at most one CIDR per family (IPv4 and IPv6) may be given")
            }
            f.networks = list
        }
        return f
    }

    static func ips(_ obj: YAMLObject, one: String, many: String, what: String) throws(InputError) -> [IPAddress] {
        if let v = obj[many] { return try v.sequence("\(what).\(many)").map { x throws(InputError) in try x.ip("\(what).\(many)") } }
        if let v = obj[one] { return [try v.ip("\(what).\(one)")] }
        return []
    }

    static func node(_ v: YAMLValue) throws(InputError) -> Node {
        let obj = try v.object("node")
        try obj.rejectUnknownKeys(["name", "ip", "ips", "podCIDR", "podCIDRs", "role", "zone", "labels", "sysctls", "hairpinMode",
                                  "extraRules", "extraRules6"], in: "node")
        let nameValue = try obj.required("name", in: "node")
        let name = try nameValue.string("node name")
        try ManifestDecoder.checkName(name, at: nameValue, what: "node name")
        var node = Node(name: name, labels: try obj["labels"]?.stringMap("labels") ?? [:], location: obj.location)
        node.internalIPs = try ips(obj, one: "ip", many: "ips", what: "node")
        if let list = obj["podCIDRs"] {
            node.podCIDRs = try list.sequence("podCIDRs").map { x throws(InputError) in try x.prefix("podCIDRs") }
        } else if let one = obj["podCIDR"] {
            node.podCIDRs = [try one.prefix("podCIDR")]
        }
        if let r = obj["role"] {
            switch try r.string("role") {
            case "control-plane": node.labels[Node.controlPlaneLabel] = ""
            case "worker": break
            default: throw r.error("role must be control-plane or worker")
            }
        }
        if let z = obj["zone"] { node.labels[Node.zoneLabel] = try z.string("zone") }
        if let v = obj["sysctls"] { node.kernel.sysctls = try sysctls(v) }
        if let v = obj["hairpinMode"] { node.kernel.hairpinMode = try v.bool("node.hairpinMode") }
        for family in IPFamily.allCases {
            guard let v = obj[NodeExtraRules.key(family)] else { continue }
            var extra = try extraRules(v, family)
            extra.keyLocation = obj.entries.first { $0.key == NodeExtraRules.key(family) }?.keyValue.location
            node.extraRules.append(extra)
        }
        return node
    }

    /// `extraRules: |` (or `extraRules6`): iptables-restore text in a literal block, so that each
    /// of its lines is a line of the file (the block starts on the line after the `|`; its
    /// indentation is found by `TopologyLoader`, which has the file's text).
    static func extraRules(_ v: YAMLValue, _ family: IPFamily) throws(InputError) -> NodeExtraRules {
        let key = "node.\(NodeExtraRules.key(family))"
        guard case .scalar(let s) = v.node, s.style == .literal else {
            throw v.error("\(key) must be iptables-restore text in a literal block (\(NodeExtraRules.key(family)): | then the lines, indented)")
        }
        return NodeExtraRules(family: family, text: s.string,
                              location: InputLocation(file: v.file, line: v.location.line + 1, column: 0))
    }

    /// `sysctls:` on a node: sysctl names (dots or slashes) to 0 or 1.
    static func sysctls(_ v: YAMLValue) throws(InputError) -> [Sysctl: Bool] {
        var out: [Sysctl: Bool] = [:]
        for e in try v.object("node.sysctls").entries {
            guard let sysctl = Sysctl(name: e.key) else {
                throw e.keyValue.error("node.sysctls: unknown sysctl \"\(e.key.prefix(60))\"; kdp knows \(Sysctl.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let text = (try? e.value.string("node.sysctls.\(e.key)"))?.trimmingSpaces ?? ""
            guard let on = Sysctl.bool(text) else { throw e.value.error("node.sysctls.\(sysctl.rawValue) must be 0 or 1") }
            out[sysctl] = on
        }
        return out
    }

    static func pod(_ v: YAMLValue) throws(InputError) -> Pod {
        let obj = try v.object("pod")
        try obj.rejectUnknownKeys([
            "name", "namespace", "node", "labels", "ip", "ips", "hostNetwork", "ports", "ready", "terminating",
            "phase", "hostname", "subdomain",
        ], in: "pod")
        let nameValue = try obj.required("name", in: "pod")
        let name = try nameValue.string("pod name")
        try ManifestDecoder.checkName(name, at: nameValue, what: "pod name")
        var pod = Pod(
            namespace: try obj["namespace"]?.string("namespace") ?? "default", name: name,
            labels: try obj["labels"]?.stringMap("labels") ?? [:], location: obj.location)
        pod.nodeName = try obj["node"]?.string("node")
        pod.ips = try ips(obj, one: "ip", many: "ips", what: "pod")
        pod.hostNetwork = try obj["hostNetwork"]?.bool("hostNetwork") ?? false
        pod.ports = try obj["ports"]?.sequence("ports").map { x throws(InputError) in try ManifestDecoder.containerPort(x) } ?? []
        pod.ready = try obj["ready"]?.bool("ready") ?? true
        pod.terminating = try obj["terminating"]?.bool("terminating") ?? false
        pod.phase = try obj["phase"]?.string("phase")
        pod.hostname = try obj["hostname"]?.string("hostname")
        pod.subdomain = try obj["subdomain"]?.string("subdomain")
        return pod
    }

    static func service(_ v: YAMLValue) throws(InputError) -> Service {
        let obj = try v.object("service")
        try obj.rejectUnknownKeys(ServiceFields.compactKeys, in: "service")
        let nameValue = try obj.required("name", in: "service")
        let name = try nameValue.string("service name")
        try ManifestDecoder.checkName(name, at: nameValue, what: "service name")
        var svc = Service(namespace: try obj["namespace"]?.string("namespace") ?? "default", name: name, location: obj.location)
        try ServiceFields.read(obj, into: &svc, compact: true)
        return svc
    }
}
