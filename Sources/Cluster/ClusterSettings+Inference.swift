import Wire

/// One cluster setting kdp did not read from a setting, with where its value came from:
/// inferred from the dump's objects, read from a ConfigMap, or assumed (a default the dump says
/// nothing against). `kdp cluster` lists them and each is a note on stderr.
public struct InferredSetting: Sendable, Equatable {
    public enum Basis: String, Sendable { case inferred, configMap = "configmap", daemonSet = "daemonset", assumed, flag }
    public var setting: String
    public var value: String
    public var basis: Basis
    /// From what, in a sentence: "the smallest prefix holding the 12 ClusterIPs, …".
    public var from: String

    public var note: String {
        switch basis {
        case .inferred: "\(setting) \(value) inferred from \(from)"
        case .configMap, .daemonSet: "\(setting) \(value) read from \(from)"
        case .assumed: "\(setting) \(value) assumed: \(from)"
        case .flag: "\(setting) \(value) from \(from)"
        }
    }
}

/// Settles the cluster's settings from everything the input says, strongest first:
/// `--cluster-cidr`/`--service-cidr`, a topology file's `cluster:` keys, the dump's kube-proxy
/// and flannel ConfigMaps, what the dump's objects imply (ranges and families), and kubeadm's
/// defaults only where the dump says nothing against them. Topology files keep their settings
/// as written; only plain manifests (a dump) have their ranges inferred.
enum SettingsResolver {
    static let defaultClusterCIDRv6 = try! Prefix(parsing: "fd00:10:244::/56")
    static let defaultServiceCIDRv6 = try! Prefix(parsing: "fd00:10:96::/112")
    static let defaultNodeNetworkv6 = try! Prefix(parsing: "fd00:18::/64")

    static func resolve(_ input: TopologyInput) throws(InputError) -> (ClusterSettings, [InferredSetting]) {
        var s = input.settings ?? ClusterSettings()
        var out: [InferredSetting] = []
        let given = input.givenSettings

        if let f = input.flannelConfig {
            let name = "flannel's ConfigMap kube-flannel-cfg (net-conf.json)"
            if !given.contains("cni") {
                if let b = f.backend {
                    s.cni = b
                    out.append(InferredSetting(setting: "cni", value: b.rawValue, basis: .configMap, from: "\(name) Backend.Type"))
                } else if let u = f.unsupportedBackend {
                    out.append(InferredSetting(setting: "cni", value: s.cni.rawValue, basis: .assumed,
                                               from: "\(name) names backend \(u), which kdp does not emulate"))
                }
            }
            if !given.contains("clusterCIDR") && !f.networks.isEmpty && input.flagClusterCIDRs == nil {
                s.clusterCIDRs = f.networks
                out.append(InferredSetting(setting: "clusterCIDR", value: list(f.networks), basis: .configMap, from: "\(name) Network"))
            }
        }
        if let f = input.flannelConfig, !f.networks.isEmpty, !given.contains("flannel.network") {
            // flanneld's own network, whatever the cluster CIDR is said to be: its rules use it.
            s.flannel.networks = f.networks
        }

        if var k = input.kubeProxyConfig {
            let name = "ConfigMap kube-system/kube-proxy (config.conf)"
            if given.contains("kubeProxy.mode") { k.mode = nil; k.unsupportedMode = nil }
            if given.contains("kubeProxy.clusterCIDR") { k.clusterCIDRs = nil }
            if given.contains("kubeProxy.detectLocalMode") { k.detectLocalMode = nil }
            if given.contains("kubeProxy.bridgeInterface") { k.bridgeInterface = nil }
            if given.contains("kubeProxy.interfaceNamePrefix") { k.interfaceNamePrefix = nil }
            if given.contains("kubeProxy.ipvsScheduler") { k.ipvsScheduler = nil }
            if given.contains("kubeProxy.nodePortAddresses") { k.nodePortAddresses = nil; k.nodePortAddressesPrimary = false }
            if given.contains("kubeProxy.masqueradeAll") { k.masqueradeAll = nil }
            if given.contains("kubeProxy.masqueradeBit") { k.masqueradeBit = nil }
            if given.contains("kubeProxy.localhostNodePorts") { k.localhostNodePorts = nil }
            k.apply(to: &s.kubeProxy)
            let fields = k.fieldsText
            if !fields.isEmpty {
                out.append(InferredSetting(setting: "kubeProxy", value: fields, basis: .configMap, from: name))
            }
            if k.unsupportedMode == "nftables" {
                // kube-proxy's nftables mode: followed, as a topology's `kubeProxy.mode` is.
                s.kubeProxy.nftablesModeSource = k.location ?? InputLocation(file: name)
            } else if let m = k.unsupportedMode {
                out.append(InferredSetting(setting: "kubeProxy.mode", value: s.kubeProxy.mode.rawValue, basis: .assumed,
                                           from: "\(name) says mode \(m), which kdp does not emulate (it emulates iptables, ipvs and nftables)"))
            }
        }

        // The flags first, so that inference works around them (it infers only what they leave).
        if let flag = input.flagClusterCIDRs { s.clusterCIDRs = flag }
        if let flag = input.flagServiceCIDRs { s.serviceCIDRs = flag }
        // A dump's ranges; beside a topology file, only those it leaves unset.
        if input.isDump || input.hasPlainObjects {
            try inferRanges(input, &s, &out)
        }
        if let flag = input.flagClusterCIDRs {
            s.clusterCIDRs = ordered(flag, primary: s.families.first)
            // kube-proxy's --cluster-cidr follows the cluster's: kubeadm gives both the same podSubnet.
            s.kubeProxy.clusterCIDRs = s.clusterCIDRs
            out.append(InferredSetting(setting: "clusterCIDR", value: list(flag), basis: .flag, from: "--cluster-cidr (kube-proxy's clusterCIDR too)"))
        }
        if let flag = input.flagServiceCIDRs {
            s.serviceCIDRs = ordered(flag, primary: s.clusterCIDRs.first?.family)
            out.append(InferredSetting(setting: "serviceCIDR", value: list(flag), basis: .flag, from: "--service-cidr"))
        }
        if let flags = input.flannelFlags {
            // The DaemonSet states flanneld's flags; a topology file's own keys still win.
            var f = s.flannel
            flags.apply(to: &f)
            if !given.contains("flannel.ipMasq") { s.flannel.ipMasq = f.ipMasq }
            if !given.contains("flannel.ipMasqRandomFullyDisable") { s.flannel.ipMasqRandomFullyDisable = f.ipMasqRandomFullyDisable }
            if !given.contains("flannel.iptablesForwardRules") { s.flannel.iptablesForwardRules = f.iptablesForwardRules }
            out.append(InferredSetting(setting: "flannel", value: flags.fieldsText, basis: .daemonSet,
                                       from: "DaemonSet \(flags.name) (flanneld's command and args)"))
        } else if (input.isDump || input.flannelConfig != nil) && !given.contains("flannel.ipMasq") {
            out.append(InferredSetting(setting: "flannel.ipMasq", value: "true", basis: .assumed,
                                       from: "kube-flannel.yml runs flanneld with --ip-masq; the input has no DaemonSet kube-flannel-ds to show flanneld's flags"))
        }
        if input.flagClusterCIDRs != nil || input.flagServiceCIDRs != nil {
            // Families must pair up: a family with a pod range needs a service range and back.
            for p in s.clusterCIDRs where s.serviceCIDR(for: p.family) == nil {
                throw InputError("cluster CIDR \(p) is \(p.family.rawValue) but there is no \(p.family.rawValue) service CIDR: give --service-cidr for it too")
            }
            for p in s.serviceCIDRs where s.clusterCIDR(for: p.family) == nil {
                throw InputError("service CIDR \(p) is \(p.family.rawValue) but there is no \(p.family.rawValue) cluster CIDR: give --cluster-cidr for it too")
            }
        }
        return (s, out)
    }

    /// Whose default a range is: kubeadm's (IPv4); kubeadm has none for IPv6, so kind's.
    static func defaultName(_ f: IPFamily) -> String { f == .ipv4 ? "kubeadm's default" : "kind's IPv6 default" }

    static func list(_ p: [Prefix]) -> String { p.map(\.description).joined(separator: ",") }

    static func ordered(_ p: [Prefix], primary: IPFamily?) -> [Prefix] {
        guard let primary else { return p }
        return p.filter { $0.family == primary } + p.filter { $0.family != primary }
    }

    // MARK: Ranges from a dump

    static func inferRanges(_ input: TopologyInput, _ s: inout ClusterSettings, _ out: inout [InferredSetting]) throws(InputError) {
        let given = input.givenSettings
        let kubernetes = input.services.first { $0.namespace == "default" && $0.name == "kubernetes" }

        // Families: what the dump's Services, Nodes' podCIDRs and pods' IPs use; the primary one
        // is default/kubernetes's (the API server's primary range), else the first Node's.
        var families: [IPFamily] = []
        func add(_ f: IPFamily) { if !families.contains(f) { families.append(f) } }
        if let k = kubernetes { (k.clusterIPs.map(\.family) + k.ipFamilies).forEach(add) }
        for n in input.nodes { n.podCIDRs.map(\.family).forEach(add) }
        for svc in input.services where svc.type != .externalName { (svc.clusterIPs.map(\.family) + svc.ipFamilies).forEach(add) }
        for p in input.pods where !p.hostNetwork { p.ips.map(\.family).forEach(add) }
        input.flannelConfig?.networks.map(\.family).forEach(add)
        input.flagClusterCIDRs?.map(\.family).forEach(add)
        if families.isEmpty { families = [.ipv4] }

        // Service CIDRs.
        if !given.contains("serviceCIDR") && input.flagServiceCIDRs == nil {
            var ranges: [Prefix] = []
            for f in families {
                let ips = input.services.flatMap { svc in svc.type == .externalName ? [] : svc.clusterIPs.filter { $0.family == f } }
                let first = kubernetes?.clusterIP(f)
                let fallback = f == .ipv4 ? ClusterSettings().serviceCIDRs[0] : defaultServiceCIDRv6
                let (range, setting) = serviceRange(f, ips: ips, kubernetes: first, fallback: fallback)
                ranges.append(range)
                out.append(setting)
            }
            s.serviceCIDRs = ranges
        }

        // Cluster CIDRs (flannel's Network or a topology's key already settled them).
        let settled = given.contains("clusterCIDR") || input.flagClusterCIDRs != nil
            || (input.flannelConfig.map { !$0.networks.isEmpty } ?? false)
        if !settled {
            var ranges: [Prefix] = []
            for f in families {
                let (range, setting) = clusterRange(f, input: input, serviceCIDRs: s.serviceCIDRs)
                ranges.append(range)
                out.append(setting)
            }
            s.clusterCIDRs = ranges
        } else {
            s.clusterCIDRs = ordered(s.clusterCIDRs, primary: families.first)
        }
        // One service range per cluster family, and back (a topology may have set one side).
        for p in s.clusterCIDRs where s.serviceCIDR(for: p.family) == nil {
            let fallback = p.family == .ipv4 ? ClusterSettings().serviceCIDRs[0] : defaultServiceCIDRv6
            s.serviceCIDRs.append(fallback)
            out.append(InferredSetting(setting: "serviceCIDR", value: fallback.description, basis: .assumed,
                                       from: "the dump has no \(p.family.rawValue) ClusterIP (\(defaultName(p.family)))"))
        }
        s.serviceCIDRs = ordered(s.serviceCIDRs, primary: s.clusterCIDRs.first?.family)

        // The node networks eth0 sits on: the default when it holds the Nodes' addresses, else
        // the smallest /24 (/64) or wider prefix holding them.
        if !given.contains("nodeNetwork") {
            var networks: [Prefix] = []
            for f in s.families {
                let ips = input.nodes.compactMap { $0.internalIP(f) }
                let fallback = f == .ipv4 ? ClusterSettings().nodeNetworks[0] : defaultNodeNetworkv6
                if ips.isEmpty || ips.allSatisfy(fallback.contains) {
                    networks.append(fallback)
                    continue
                }
                var p = covering(ips)
                let widest = f == .ipv4 ? 24 : 64
                if p.length > widest { p = Prefix(containing: p.network, length: widest) }
                networks.append(p)
                out.append(InferredSetting(setting: "nodeNetwork", value: p.description, basis: .inferred,
                                           from: "the Nodes' InternalIPs (the smallest /\(widest) or wider prefix holding them; its first address taken as the gateway)"))
            }
            s.nodeNetworks = networks
        }
    }

    /// The service range of one family, from the ClusterIPs. kube-apiserver gives
    /// `default/kubernetes` the first address after the range's network address, so when that
    /// Service is in the dump the range starts just below it; otherwise it is the smallest prefix
    /// holding every ClusterIP (none of them its network or broadcast address). kubeadm's default
    /// stays when it holds them all.
    static func serviceRange(_ f: IPFamily, ips: [IPAddress], kubernetes: IPAddress?, fallback: Prefix) -> (Prefix, InferredSetting) {
        let setting = "serviceCIDR"
        if ips.isEmpty {
            return (fallback, InferredSetting(setting: setting, value: fallback.description, basis: .assumed,
                                              from: "the dump has no \(f.rawValue) ClusterIP (\(defaultName(f)))"))
        }
        let count = "\(ips.count) \(f.rawValue) ClusterIP\(ips.count == 1 ? "" : "s")"
        if usable(fallback, ips, kubernetes: nil) && (kubernetes == nil || kubernetes == fallback.address(at: 1)) {
            return (fallback, InferredSetting(setting: setting, value: fallback.description, basis: .assumed,
                                              from: "\(defaultName(f)), which holds the dump's \(count)"))
        }
        if let k = kubernetes, k.bits > 0 {
            let network = IPAddress(family: f, bits: k.bits - 1)
            var p = covering(ips + [network])
            while p.length > 0 && !usable(p, ips, kubernetes: k) { p = Prefix(containing: network, length: p.length - 1) }
            if p.network == network && usable(p, ips, kubernetes: k) {
                return (p, InferredSetting(setting: setting, value: p.description, basis: .inferred,
                                           from: "the dump's \(count): the smallest prefix holding them whose first address, \(k), is default/kubernetes's"))
            }
        }
        var p = covering(ips)
        while p.length > 0 && !usable(p, ips, kubernetes: nil) { p = Prefix(containing: p.network, length: p.length - 1) }
        let why = kubernetes.map { ", as default/kubernetes's \($0) is the first address of no prefix holding them" } ?? " (no default/kubernetes to anchor it)"
        return (p, InferredSetting(setting: setting, value: p.description, basis: .inferred,
                                   from: "the dump's \(count): the smallest prefix holding them\(why)"))
    }

    /// A range the allocator can hold these addresses in: at least two host bits, and none of
    /// them its network (or, IPv4, broadcast) address; `kubernetes`, when given, right after the
    /// network address.
    static func usable(_ p: Prefix, _ ips: [IPAddress], kubernetes: IPAddress?) -> Bool {
        guard p.hostBits >= 2, ips.allSatisfy(p.contains) else { return false }
        if let k = kubernetes, p.address(at: 1) != k { return false }
        return !ips.contains { $0 == p.network || (p.family == .ipv4 && $0 == p.lastAddress) }
    }

    /// The pod range of one family: the kube-proxy ConfigMap's clusterCIDR when it holds every
    /// Node's podCIDR (kubeadm writes the same podSubnet there), kubeadm's default when it does,
    /// else the smallest prefix holding them, widened to 256 node subnets (kube-controller-
    /// manager's /16 for /24 nodes) when that overlaps no service range and no node address.
    /// Without podCIDRs (Calico, Cilium, AWS VPC CNI clusters that leave them unset), the pods'
    /// own addresses stand in for them.
    static func clusterRange(_ f: IPFamily, input: TopologyInput, serviceCIDRs: [Prefix]) -> (Prefix, InferredSetting) {
        let setting = "clusterCIDR"
        let fallback = f == .ipv4 ? ClusterSettings().clusterCIDRs[0] : defaultClusterCIDRv6
        let podCIDRs = input.nodes.flatMap { $0.podCIDRs.filter { $0.family == f } }
        let podIPs = input.pods.filter { !$0.hostNetwork && !$0.isTerminal }.flatMap { $0.ips.filter { $0.family == f } }
        let members: [Prefix] = podCIDRs.isEmpty ? podIPs.map { Prefix(containing: $0, length: f.bitWidth) } : podCIDRs
        let what = podCIDRs.isEmpty ? "the pods' \(f.rawValue) IPs (no Node has an \(f.rawValue) podCIDR)"
            : "the Nodes' \(podCIDRs.count) \(f.rawValue) podCIDR\(podCIDRs.count == 1 ? "" : "s")"
        if members.isEmpty {
            return (fallback, InferredSetting(setting: setting, value: fallback.description, basis: .assumed,
                                              from: "the dump has no \(f.rawValue) podCIDR or pod IP (\(defaultName(f)))"))
        }
        if let kp = input.kubeProxyConfig?.clusterCIDRs?.first(where: { $0.family == f }), members.allSatisfy(kp.contains) {
            return (kp, InferredSetting(setting: setting, value: kp.description, basis: .configMap,
                                        from: "the kube-proxy ConfigMap's clusterCIDR, which holds \(what)"))
        }
        if members.allSatisfy(fallback.contains) && !serviceCIDRs.contains(where: { $0.overlaps(fallback) }) {
            return (fallback, InferredSetting(setting: setting, value: fallback.description, basis: .assumed,
                                              from: "\(defaultName(f)), which holds \(what)"))
        }
        var p = members.dropFirst().reduce(members[0]) { covering($0, $1) }
        var widened = false
        if !podCIDRs.isEmpty {
            let nodeMask = podCIDRs.map(\.length).max()!
            let target = max(0, nodeMask - 8)
            if p.length > target {
                let wide = Prefix(containing: p.network, length: target)
                let nodeIPs = input.nodes.flatMap(\.internalIPs)
                if !serviceCIDRs.contains(where: { $0.overlaps(wide) }) && !nodeIPs.contains(where: wide.contains) {
                    p = wide
                    widened = true
                }
            }
        }
        let how = widened ? "the /\(p.length) (256 node subnets) holding them, as kube-controller-manager ranges are cut"
            : "the smallest prefix holding them"
        return (p, InferredSetting(setting: setting, value: p.description, basis: .inferred, from: "\(what): \(how)"))
    }

    static func covering(_ ips: [IPAddress]) -> Prefix {
        ips.dropFirst().reduce(Prefix(containing: ips[0], length: ips[0].family.bitWidth)) {
            covering($0, Prefix(containing: $1, length: $1.family.bitWidth))
        }
    }

    /// The smallest prefix holding both (same family).
    static func covering(_ a: Prefix, _ b: Prefix) -> Prefix {
        var length = min(a.length, b.length)
        while length > 0 && Prefix(containing: a.network, length: length) != Prefix(containing: b.network, length: length) { length -= 1 }
        return Prefix(containing: a.network, length: length)
    }
}
