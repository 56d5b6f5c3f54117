import Wire
import Yams

/// What a dump's `kube-system/kube-proxy` ConfigMap says (its `config.conf`, a
/// KubeProxyConfiguration of `kubeproxy.config.k8s.io/v1alpha1`, as kubeadm writes it). Only the
/// data-plane fields kdp models are read; each is nil when the file leaves it out (or empty, as
/// kubeadm writes `mode: ""`), so kube-proxy's own default applies. Unknown fields are ignored,
/// as kube-proxy's decoder only warns about them.
public struct KubeProxyConfigMap: Sendable, Equatable {
    public var mode: ProxyMode?
    /// A mode `ProxyMode` does not hold: `nftables` (which the cluster follows through
    /// `KubeProxySettings.nftablesModeSource`) or one kdp does not emulate (`kernelspace`).
    public var unsupportedMode: String?
    public var clusterCIDRs: [Prefix]?
    public var detectLocalMode: LocalDetectorMode?
    public var bridgeInterface: String?
    public var interfaceNamePrefix: String?
    public var ipvsScheduler: String?
    public var nodePortAddresses: [Prefix]?
    /// `nodePortAddresses: [primary]`: only the node's primary IPs accept NodePorts.
    public var nodePortAddressesPrimary = false
    public var masqueradeAll: Bool?
    public var masqueradeBit: Int?
    public var localhostNodePorts: Bool?
    public var location: InputLocation?

    public init() {}

    /// The fields it sets and their values, as `kdp cluster` and the notes show them
    /// (`mode ipvs, clusterCIDR 10.85.0.0/16, …`).
    public var fieldsText: String {
        var out: [String] = []
        func cidrs(_ p: [Prefix]) -> String { p.map(\.description).joined(separator: ",") }
        if let mode { out.append("mode \(mode.rawValue)") } else if let unsupportedMode { out.append("mode \(unsupportedMode)") }
        if let clusterCIDRs { out.append("clusterCIDR \(cidrs(clusterCIDRs))") }
        if let detectLocalMode { out.append("detectLocalMode \(detectLocalMode.rawValue)") }
        if let bridgeInterface { out.append("detectLocal.bridgeInterface \(bridgeInterface)") }
        if let interfaceNamePrefix { out.append("detectLocal.interfaceNamePrefix \(interfaceNamePrefix)") }
        if let ipvsScheduler { out.append("ipvs.scheduler \(ipvsScheduler)") }
        if nodePortAddressesPrimary { out.append("nodePortAddresses primary") }
        if let nodePortAddresses { out.append("nodePortAddresses \(cidrs(nodePortAddresses))") }
        if let masqueradeAll { out.append("iptables.masqueradeAll \(masqueradeAll)") }
        if let masqueradeBit { out.append("iptables.masqueradeBit \(masqueradeBit)") }
        if let localhostNodePorts { out.append("iptables.localhostNodePorts \(localhostNodePorts)") }
        return out.joined(separator: ", ")
    }

    /// Applies what the file sets to kube-proxy's settings.
    public func apply(to k: inout KubeProxySettings) {
        if let mode { k.mode = mode }
        if let clusterCIDRs { k.clusterCIDRs = clusterCIDRs }
        if let detectLocalMode { k.detectLocalMode = detectLocalMode }
        if let bridgeInterface { k.bridgeInterface = bridgeInterface }
        if let interfaceNamePrefix { k.interfaceNamePrefix = interfaceNamePrefix }
        if let ipvsScheduler { k.ipvsScheduler = ipvsScheduler }
        if let nodePortAddresses { k.nodePortAddresses = nodePortAddresses }
        if nodePortAddressesPrimary { k.nodePortAddressesPrimary = true }
        if let masqueradeAll { k.masqueradeAll = masqueradeAll }
        if let masqueradeBit { k.masqueradeBit = masqueradeBit }
        if let localhostNodePorts { k.localhostNodePorts = localhostNodePorts }
    }
}

/// What flannel's `kube-flannel-cfg` ConfigMap says in `net-conf.json`: the cluster network
/// (`Network`, and `IPv6Network` when `EnableIPv6`) and the backend (`Backend.Type`).
public struct FlannelNetConf: Sendable, Equatable {
    public var networks: [Prefix] = []
    public var backend: CNIMode?
    /// A backend kdp does not emulate (udp, wireguard, ipip, …).
    public var unsupportedBackend: String?
    public var location: InputLocation?

    public init() {}
}

/// Reads the two ConfigMaps kdp understands; every other ConfigMap is ignored without a note.
enum ConfigMapDecoder {
    static let kubeProxyIPVSSchedulers = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"]

    static func decode(_ obj: YAMLObject, meta: ManifestDecoder.Meta, into input: inout TopologyInput) throws(InputError) {
        let data = try obj.object("data", in: "ConfigMap")
        if meta.namespace == "kube-system" && meta.name == "kube-proxy" {
            guard let conf = data?["config.conf"] else { return }
            let config = try kubeProxy(conf, name: "ConfigMap kube-system/kube-proxy config.conf")
            if let first = input.kubeProxyConfig {
                throw InputError("ConfigMap kube-system/kube-proxy given twice (first at \(first.location?.description ?? "?")); keep one", at: obj.location)
            }
            input.kubeProxyConfig = config
        } else if meta.name == "kube-flannel-cfg" {
            guard let conf = data?["net-conf.json"] else { return }
            let net = try flannel(conf, name: "ConfigMap \(meta.namespace)/kube-flannel-cfg net-conf.json")
            if let first = input.flannelConfig {
                throw InputError("ConfigMap kube-flannel-cfg given twice (first at \(first.location?.description ?? "?")); keep one", at: obj.location)
            }
            input.flannelConfig = net
        }
    }

    /// Parses an embedded document (the text of a ConfigMap key). Errors name the key's place in
    /// the dump and the line inside the embedded text.
    /// An empty text is an empty document: kube-proxy's and flannel's defaults.
    static func embedded(_ v: YAMLValue, name: String) throws(InputError) -> YAMLValue {
        let text = try v.string(name)
        do {
            let node = try Yams.compose(yaml: text, .basic) ?? Yams.Node.mapping(Yams.Node.Mapping([]))
            return YAMLValue(node: node, file: "\(v.location.description): \(name)")
        } catch let e as InputError {
            throw e
        } catch let e as YamlError {
            let inner = TopologyLoader.yamlError(e, file: name)
            throw v.error("\(inner.location.map { $0.line > 0 ? "\(name) line \($0.line)" : name } ?? name): \(inner.message)")
        } catch {
            throw v.error("\(name): cannot parse: \(error)")
        }
    }

    /// Errors inside the embedded text are reported at the ConfigMap key, naming the field.
    static func field<T>(_ v: YAMLValue, at key: YAMLValue, _ name: String, _ read: (YAMLValue) throws(InputError) -> T) throws(InputError) -> T {
        do { return try read(v) } catch {
            let line = v.node.mark.map { " line \($0.line)" } ?? ""
            throw key.error("\(name)\(line): \(error.message)")
        }
    }

    static func kubeProxy(_ conf: YAMLValue, name: String) throws(InputError) -> KubeProxyConfigMap {
        let doc = try embedded(conf, name: name)
        let obj = try field(doc, at: conf, name) { v throws(InputError) in try v.object("KubeProxyConfiguration") }
        var c = KubeProxyConfigMap()
        c.location = conf.location
        func read<T>(_ v: YAMLValue?, _ r: (YAMLValue) throws(InputError) -> T) throws(InputError) -> T? {
            guard let v else { return nil }
            return try field(v, at: conf, name, r)
        }
        if let m = try read(obj["mode"], { v throws(InputError) in try v.string("mode") }), !m.isEmpty {
            if let mode = ProxyMode(rawValue: m) { c.mode = mode } else { c.unsupportedMode = m }
        }
        if let text = try read(obj["clusterCIDR"], { v throws(InputError) in try v.string("clusterCIDR") }), !text.trimmingSpaces.isEmpty {
            c.clusterCIDRs = try field(obj["clusterCIDR"]!, at: conf, name) { v throws(InputError) in
                try text.split(separator: ",").map { part throws(InputError) in
                    do { return try Prefix(parsing: String(part).trimmingSpaces, sloppy: true) } catch { throw v.error("clusterCIDR: \(error)") }
                }
            }
        }
        if let m = try read(obj["detectLocalMode"], { v throws(InputError) in try v.string("detectLocalMode") }), !m.isEmpty {
            c.detectLocalMode = try field(obj["detectLocalMode"]!, at: conf, name) { v throws(InputError) in
                try ManifestDecoder.enumValue(v, "detectLocalMode", as: LocalDetectorMode.self)
            }
        }
        if let d = obj["detectLocal"] {
            let detect = try field(d, at: conf, name) { v throws(InputError) in try v.object("detectLocal") }
            if let b = try read(detect["bridgeInterface"], { v throws(InputError) in try v.string("detectLocal.bridgeInterface") }), !b.isEmpty {
                c.bridgeInterface = b
            }
            if let p = try read(detect["interfaceNamePrefix"], { v throws(InputError) in try v.string("detectLocal.interfaceNamePrefix") }), !p.isEmpty {
                c.interfaceNamePrefix = p
            }
        }
        if let i = obj["ipvs"] {
            let ipvs = try field(i, at: conf, name) { v throws(InputError) in try v.object("ipvs") }
            if let s = try read(ipvs["scheduler"], { v throws(InputError) in try v.string("ipvs.scheduler") }), !s.isEmpty {
                guard kubeProxyIPVSSchedulers.contains(s) else {
                    throw conf.error("\(name): ipvs.scheduler must be one of \(kubeProxyIPVSSchedulers.joined(separator: ", ")), found \"\(s)\"")
                }
                c.ipvsScheduler = s
            }
        }
        if let list = try read(obj["nodePortAddresses"], { v throws(InputError) in try v.stringList("nodePortAddresses") }), !list.isEmpty {
            if list == ["primary"] {
                c.nodePortAddressesPrimary = true
            } else {
                c.nodePortAddresses = try field(obj["nodePortAddresses"]!, at: conf, name) { v throws(InputError) in
                    try list.map { t throws(InputError) in
                        do { return try Prefix(parsing: t, sloppy: true) } catch { throw v.error("nodePortAddresses: \(error)") }
                    }
                }
            }
        }
        if let t = obj["iptables"] {
            let ipt = try field(t, at: conf, name) { v throws(InputError) in try v.object("iptables") }
            c.masqueradeAll = try read(ipt["masqueradeAll"], { v throws(InputError) in try v.bool("iptables.masqueradeAll") })
            c.masqueradeBit = try read(ipt["masqueradeBit"], { v throws(InputError) in try v.int("iptables.masqueradeBit", in: 0...31) })
            c.localhostNodePorts = try read(ipt["localhostNodePorts"], { v throws(InputError) in try v.bool("iptables.localhostNodePorts") })
        }
        return c
    }

    static func flannel(_ conf: YAMLValue, name: String) throws(InputError) -> FlannelNetConf {
        let doc = try embedded(conf, name: name)
        let obj = try field(doc, at: conf, name) { v throws(InputError) in try v.object("net-conf.json") }
        var net = FlannelNetConf()
        net.location = conf.location
        func read<T>(_ v: YAMLValue?, _ r: (YAMLValue) throws(InputError) -> T) throws(InputError) -> T? {
            guard let v else { return nil }
            return try field(v, at: conf, name, r)
        }
        let v4 = try read(obj["EnableIPv4"], { v throws(InputError) in try v.bool("EnableIPv4") }) ?? true
        let v6 = try read(obj["EnableIPv6"], { v throws(InputError) in try v.bool("EnableIPv6") }) ?? false
        if v4, let n = try read(obj["Network"], { v throws(InputError) in try v.prefix("Network") }) { net.networks.append(n) }
        if v6, let n = try read(obj["IPv6Network"], { v throws(InputError) in try v.prefix("IPv6Network") }) { net.networks.append(n) }
        if let b = obj["Backend"] {
            let backend = try field(b, at: conf, name) { v throws(InputError) in try v.object("Backend") }
            if let t = try read(backend["Type"], { v throws(InputError) in try v.string("Backend.Type") }) {
                if let mode = CNIMode(rawValue: t) { net.backend = mode } else { net.unsupportedBackend = t }
            }
        }
        return net
    }
}
