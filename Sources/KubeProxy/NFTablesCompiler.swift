import Cluster
import Netfilter
import Crypto
import Wire

/// kube-proxy's nftables mode for one node and family: `setupNFTables` and `syncProxyRules`
/// of pkg/proxy/nftables/proxier.go as one full sync, in the shape of the generation
/// (`NFTablesGeneration`; where upstream's proxier_test.go at 81810de6 and the older stored
/// proxier.go differ, the test's expected text is followed). Services are taken in the
/// cluster's order (upstream iterates a Go map); endpoint categories are shared with iptables
/// mode (`EndpointCategories`), as upstream shares `CategorizeEndpoints`.
///
/// Cost: one pass over the Service ports and their endpoints; a SHA-256 per chain name.
public enum NFTablesCompiler {
    /// The rest of a proxier's configuration nftables mode reads beside `ProxierConfig`.
    public struct Options: Sendable {
        /// The Service CIDRs of this family (`--service-cluster-ip-range`, or the ServiceCIDR
        /// objects); `cluster-ips-check` drops traffic to their unallocated addresses.
        public var serviceCIDRs: [Prefix]
        public var generation: NFTablesGeneration

        public init(serviceCIDRs: [Prefix], generation: NFTablesGeneration = .current) {
            self.serviceCIDRs = serviceCIDRs
            self.generation = generation
        }
    }

    /// The node's kube-proxy in nftables mode with the cluster's settings: as `ProxierConfig
    /// .forNode`, except that nftables mode defaults `--nodeport-addresses` to `primary`
    /// (cmd/kube-proxy `platformApplyDefaults`). The note says so when it applied.
    public static func config(for node: Node, in cluster: Cluster, family: IPFamily) -> (ProxierConfig, Options, notes: [String]) {
        var config = ProxierConfig.forNode(node, in: cluster, family: family)
        var notes: [String] = []
        let kp = cluster.settings.kubeProxy
        if kp.nodePortAddresses.isEmpty && !kp.nodePortAddressesPrimary {
            config.nodePortAddresses = IPFamily.allCases.compactMap { f in
                node.internalIP(f).map { Prefix(containing: $0, length: f.bitWidth) }
            }
            notes.append("kube-proxy nftables mode: nodePortAddresses unset, so NodePorts are accepted on the node's primary IPs only (kube-proxy's default in this mode)")
        }
        let options = Options(serviceCIDRs: cluster.settings.serviceCIDRs.filter { $0.family == family })
        return (config, options, notes)
    }

    public static func compile(_ cluster: Cluster, config: ProxierConfig, options: Options) -> NFTablesRuleset {
        var w = NFTablesWriter(config: config, options: options)
        w.writeSetup()
        let zone = config.nodeLabels[Node.zoneLabel]
        for svc in cluster.services {
            for port in svc.ports {
                guard let info = ServicePortInfo(service: svc, port: port, family: config.family) else { continue }
                let eps = info.endpoints(in: cluster, nodeName: config.nodeName, family: config.family)
                w.writeServicePort(info, EndpointCategories(eps, port: info, nodeName: config.nodeName, zone: zone))
            }
        }
        return w.ruleset
    }
}

// MARK: - The writer

/// One sync's transaction, written into an `NFTablesRuleset`: named writers as proxier.go's
/// `setupNFTables` and `syncProxyRules` have them.
struct NFTablesWriter {
    let config: ProxierConfig
    let options: NFTablesCompiler.Options
    var ruleset: NFTablesRuleset
    /// `ip` or `ip6` before `daddr`/`saddr`.
    let ipX: String
    /// `ipv4_addr` or `ipv6_addr`.
    let addrType: String
    let mark: String
    let generation: NFTablesGeneration
    /// The positions of the sets and maps every Service port writes into, found once after
    /// `writeSetup` (nil: the set does not exist in this configuration).
    var clusterIPsAt: Int?, serviceIPsAt: Int?, noEndpointServicesAt: Int?, firewallIPsAt: Int?,
        serviceNodePortsAt: Int?, noEndpointNodePortsAt: Int?

    static let clusterIPsSet = "cluster-ips"
    static let nodePortIPsSet = "nodeport-ips"
    static let serviceIPsMap = "service-ips"
    static let serviceNodePortsMap = "service-nodeports"
    static let firewallIPsMap = "firewall-ips"
    static let noEndpointServicesMap = "no-endpoint-services"
    static let noEndpointNodePortsMap = "no-endpoint-nodeports"
    static let servicesChain = "services"
    static let clusterIPsCheckChain = "cluster-ips-check"
    static let masqueradingChain = "masquerading"
    static let markMasqChain = "mark-for-masquerade"
    static let rejectChain = "reject-chain"
    static let firewallCheckChain = "firewall-check"
    static let serviceEndpointsCheckChain = "service-endpoints-check"
    static let nodePortEndpointsCheckChain = "nodeport-endpoints-check"
    static let jumpMarkMasq = "jump \(markMasqChain)"

    init(config: ProxierConfig, options: NFTablesCompiler.Options) {
        self.config = config
        self.options = options
        let v6 = config.family == .ipv6
        ruleset = NFTablesRuleset(family: v6 ? .ip6 : .ip, tableComment: "rules for kube-proxy")
        ipX = v6 ? "ip6" : "ip"
        addrType = v6 ? "ipv6_addr" : "ipv4_addr"
        // proxier.go's masqueradeMark: `%#08x` of 1 << bit, or the spelling the caller gave.
        mark = config.masqueradeMark
        generation = options.generation
        localDetector = Self.localDetector(config, ipX: ipX)
    }

    /// `--nodeport-addresses` of this family; nil when it matches every local address
    /// (`NodePortAddresses.MatchAll`: none of this family, or a zero-length prefix).
    var nodePortCIDRs: [Prefix]? {
        let cidrs = config.familyNodePortAddresses
        if cidrs.isEmpty || cidrs.contains(where: { $0.length == 0 }) { return nil }
        return cidrs
    }

    /// The local-traffic detector's nft words (pkg/proxy/util/localdetector.go
    /// `ifLocalNFT`/`ifNotLocalNFT`), nil for the no-op detector. Spelled once per sync: every
    /// Service port's masquerade rule carries them.
    let localDetector: (ifLocal: String, ifNotLocal: String)?

    static func localDetector(_ config: ProxierConfig, ipX: String) -> (ifLocal: String, ifNotLocal: String)? {
        switch config.detectLocalMode {
        case .clusterCIDR:
            guard let cidr = config.clusterCIDRs.first(where: { $0.family == config.family }) else { return nil }
            return ("\(ipX) saddr \(cidr)", "\(ipX) saddr != \(cidr)")
        case .nodeCIDR:
            guard let cidr = config.nodePodCIDRs.first(where: { $0.family == config.family }) else { return nil }
            return ("\(ipX) saddr \(cidr)", "\(ipX) saddr != \(cidr)")
        case .bridgeInterface:
            return ("iifname \(config.bridgeInterface)", "iifname != \(config.bridgeInterface)")
        case .interfaceNamePrefix:
            return ("iifname \(config.interfaceNamePrefix)*", "iifname != \(config.interfaceNamePrefix)*")
        case .none:
            return nil
        }
    }

    mutating func rule(_ chain: String, _ text: String, comment: String? = nil) {
        ruleset.addRule(chain, .init(text, comment: comment))
    }

    mutating func chain(_ name: String) { ruleset.addChain(.init(name: name)) }

    /// The chain's position (added if missing), for `rule(at:_:)`.
    mutating func chainAt(_ name: String) -> Int { ruleset.chainPosition(name) }

    mutating func rule(at chain: Int, _ text: String, comment: String? = nil) {
        ruleset.addRule(at: chain, .init(text, comment: comment))
    }

    /// Adds `element` to the container at `position`, if it exists.
    mutating func element(_ position: Int?, _ element: NFTablesRuleset.Element) {
        if let position { ruleset.addElement(at: position, element) }
    }

    /// Adds the element `address . proto . port` (`proto . port` without an address) to the
    /// container at `position`, if it exists, written as bytes into the ruleset.
    mutating func element(_ position: Int?, _ address: IPAddress?, _ proto: String, _ port: String, value: String?, comment: String? = nil) {
        guard let position else { return }
        ruleset.addElement(at: position, value: value, comment: comment) { t in
            if let address {
                t.add(address)
                t.add(" . ")
            }
            t.add(proto)
            t.add(" . ")
            t.add(port)
        }
    }

    /// Appends a rule whose text `write` writes as bytes (the per-endpoint rules: no `String`
    /// each).
    mutating func rule(at chain: Int, comment: String? = nil, _ write: (inout TextBuffer) -> Void) {
        ruleset.addRule(at: chain, comment: comment, write)
    }

    /// `setupNFTables`: the table, the base chains and their jumps, the masquerading chains,
    /// the sets and maps and the dispatch rules.
    mutating func writeSetup() {
        for (name, base) in generation.baseChains { ruleset.addChain(.init(name: name, base: base)) }
        for j in generation.jumps {
            chain(j.chain)
            rule(j.from, j.condition.isEmpty ? "jump \(j.chain)" : "\(j.condition) jump \(j.chain)")
        }
        for c in [Self.servicesChain, Self.clusterIPsCheckChain, Self.masqueradingChain, Self.markMasqChain] { chain(c) }
        rule(Self.markMasqChain, "mark set mark or \(mark)")
        rule(Self.masqueradingChain, "mark and \(mark) == 0 return")
        rule(Self.masqueradingChain, "mark set mark xor \(mark)")
        rule(Self.masqueradingChain, "masquerade fully-random")

        ruleset.addContainer(.init(.set, name: Self.clusterIPsSet, type: addrType, comment: "Active ClusterIPs"))
        rule(Self.clusterIPsCheckChain, "\(ipX) daddr @\(Self.clusterIPsSet) reject", comment: "Reject traffic to invalid ports of ClusterIPs")
        if !options.serviceCIDRs.isEmpty {
            let cidrs = options.serviceCIDRs.map(\.description).joined(separator: ",")
            rule(Self.clusterIPsCheckChain, "\(ipX) daddr { \(cidrs) } drop", comment: "Drop traffic to unallocated ClusterIPs")
        }

        let nodePortCIDRs = self.nodePortCIDRs
        if let nodePortCIDRs {
            ruleset.addContainer(.init(.set, name: Self.nodePortIPsSet, type: addrType, comment: "IPs that accept NodePort traffic"))
            // GetNodeIPs: the local addresses inside the CIDRs, loopback left out.
            for ip in config.localAddresses where !ip.isLoopback && nodePortCIDRs.contains(where: { $0.contains(ip) }) {
                ruleset.addElement(Self.nodePortIPsSet, .init(key: [ip.description]))
            }
        }

        ruleset.addContainer(.init(.map, name: Self.noEndpointServicesMap, type: "\(addrType) . inet_proto . inet_service : verdict",
                                   comment: "vmap to drop or reject packets to services with no endpoints"))
        ruleset.addContainer(.init(.map, name: Self.noEndpointNodePortsMap, type: "inet_proto . inet_service : verdict",
                                   comment: "vmap to drop or reject packets to service nodeports with no endpoints"))
        ruleset.addChain(.init(name: Self.rejectChain, comment: "helper for @no-endpoint-services / @no-endpoint-nodeports"))
        rule(Self.rejectChain, "reject")
        rule(Self.serviceEndpointsCheckChain, "\(ipX) daddr . meta l4proto . th dport vmap @\(Self.noEndpointServicesMap)")
        let noLocalhost = config.family == .ipv6 ? "ip6 daddr != ::1" : "ip daddr != 127.0.0.0/8"
        if nodePortCIDRs == nil {
            rule(Self.nodePortEndpointsCheckChain, "\(noLocalhost) meta l4proto . th dport vmap @\(Self.noEndpointNodePortsMap)")
        } else {
            rule(Self.nodePortEndpointsCheckChain,
                 "\(ipX) daddr @\(Self.nodePortIPsSet) meta l4proto . th dport vmap @\(Self.noEndpointNodePortsMap)")
        }

        ruleset.addContainer(.init(.map, name: Self.firewallIPsMap, type: "\(addrType) . inet_proto . inet_service : verdict",
                                   comment: "destinations that are subject to LoadBalancerSourceRanges"))
        chain(Self.firewallCheckChain)
        rule(Self.firewallCheckChain, "\(ipX) daddr . meta l4proto . th dport vmap @\(Self.firewallIPsMap)")

        ruleset.addContainer(.init(.map, name: Self.serviceIPsMap, type: "\(addrType) . inet_proto . inet_service : verdict",
                                   comment: "ClusterIP, ExternalIP and LoadBalancer IP traffic"))
        ruleset.addContainer(.init(.map, name: Self.serviceNodePortsMap, type: "inet_proto . inet_service : verdict",
                                   comment: "NodePort traffic"))
        rule(Self.servicesChain, "\(ipX) daddr . meta l4proto . th dport vmap @\(Self.serviceIPsMap)")
        if nodePortCIDRs == nil {
            rule(Self.servicesChain, "fib daddr type local \(noLocalhost) meta l4proto . th dport vmap @\(Self.serviceNodePortsMap)")
        } else {
            rule(Self.servicesChain, "\(ipX) daddr @\(Self.nodePortIPsSet) meta l4proto . th dport vmap @\(Self.serviceNodePortsMap)")
        }
        clusterIPsAt = ruleset.containerPosition(Self.clusterIPsSet)
        serviceIPsAt = ruleset.containerPosition(Self.serviceIPsMap)
        noEndpointServicesAt = ruleset.containerPosition(Self.noEndpointServicesMap)
        firewallIPsAt = ruleset.containerPosition(Self.firewallIPsMap)
        serviceNodePortsAt = ruleset.containerPosition(Self.serviceNodePortsMap)
        noEndpointNodePortsAt = ruleset.containerPosition(Self.noEndpointNodePortsMap)
    }

    /// One Service port's elements, chains and rules (`syncProxyRules`' loop body).
    mutating func writeServicePort(_ svc: ServicePortInfo, _ eps: EndpointCategories) {
        let proto = svc.protocolName
        let base = NFTablesName.servicePortBase(svc.portName, protocolName: proto)
        let clusterPolicyChain = "service-" + base
        let localPolicyChain = "local-" + base
        let externalTrafficChain = "external-" + base
        let fwChain = "firewall-" + base
        let port = String(svc.port.port)
        let nameString = svc.name
        let affinity = svc.affinitySeconds
        // Each endpoint's name base once (a SHA-256 each), however many objects carry it.
        // (The closure captures the port's name, not the whole `ServicePortInfo`, which it
        // would copy.)
        let portName = svc.portName
        var bases: [String: String] = [:]
        for list in [eps.allReachable, eps.cluster, eps.local] {
            for e in list where bases[e.string] == nil {
                bases[e.string] = NFTablesName.endpointBase(portName, protocolName: proto, endpoint: e.string)
            }
        }
        let endpointBase = { (e: EndpointInfo) -> String in
            bases[e.string] ?? NFTablesName.endpointBase(portName, protocolName: proto, endpoint: e.string)
        }

        // The endpoint chains' positions, so their rules below need no lookup by name.
        let endpointChains = eps.allReachable.map { chainAt("endpoint-" + endpointBase($0)) }
        let usesClusterPolicyChain = !eps.cluster.isEmpty && svc.usesClusterEndpoints
        if usesClusterPolicyChain { chain(clusterPolicyChain) }
        let usesLocalPolicyChain = !eps.local.isEmpty && svc.usesLocalEndpoints
        if usesLocalPolicyChain { chain(localPolicyChain) }

        let hasEndpoints = eps.hasAny
        var internalTrafficChain = clusterPolicyChain
        var hasInternalEndpoints = hasEndpoints
        if svc.internalPolicyLocal {
            internalTrafficChain = localPolicyChain
            if eps.local.isEmpty { hasInternalEndpoints = false }
        }
        var externalPolicyChain = clusterPolicyChain
        var hasExternalEndpoints = hasEndpoints
        if svc.externalPolicyLocal {
            externalPolicyChain = localPolicyChain
            if eps.local.isEmpty { hasExternalEndpoints = false }
        }
        let usesExternalTrafficChain = hasEndpoints && svc.externallyAccessible
        if usesExternalTrafficChain { chain(externalTrafficChain) }

        var internalVerdict = "", externalVerdict = ""
        if !hasEndpoints {
            internalVerdict = "goto \(Self.rejectChain)"
            externalVerdict = "goto \(Self.rejectChain)"
        } else {
            if !hasInternalEndpoints { internalVerdict = "drop" }
            if !hasExternalEndpoints { externalVerdict = "drop" }
        }

        // The ClusterIP.
        let cip = svc.clusterIP
        if let clusterIPsAt { ruleset.addElement(at: clusterIPsAt, value: nil, comment: nil) { $0.add(cip) } }
        let gotoExternal = "goto " + externalTrafficChain
        if hasInternalEndpoints {
            element(serviceIPsAt, cip, proto, port, value: "goto " + internalTrafficChain)
        } else {
            element(noEndpointServicesAt, cip, proto, port, value: internalVerdict, comment: nameString)
        }
        // externalIPs.
        for ip in svc.externalIPs {
            if hasEndpoints {
                element(serviceIPsAt, ip, proto, port, value: gotoExternal)
            }
            if !hasExternalEndpoints {
                element(noEndpointServicesAt, ip, proto, port, value: externalVerdict, comment: nameString)
            }
        }
        // LoadBalancer VIPs.
        let usesFWChain = !svc.loadBalancerVIPs.isEmpty && !svc.loadBalancerSourceRanges.isEmpty
        if usesFWChain { chain(fwChain) }
        for ip in svc.loadBalancerVIPs {
            if hasEndpoints {
                element(serviceIPsAt, ip, proto, port, value: gotoExternal)
            }
            if usesFWChain {
                element(firewallIPsAt, ip, proto, port, value: "goto " + fwChain)
            }
        }
        if !hasExternalEndpoints {
            for ip in svc.loadBalancerVIPs {
                element(noEndpointServicesAt, ip, proto, port, value: externalVerdict, comment: nameString)
            }
        }
        // The NodePort: not subject to loadBalancerSourceRanges.
        if let np = svc.nodePort {
            if hasEndpoints {
                element(serviceNodePortsAt, nil, proto, String(np), value: gotoExternal)
            }
            if !hasExternalEndpoints {
                element(noEndpointNodePortsAt, nil, proto, String(np), value: externalVerdict, comment: nameString)
            }
        }

        // Internal traffic: masquerade what does not come from a pod.
        let masq = Self.jumpMarkMasq
        if hasInternalEndpoints && (config.masqueradeAll || localDetector != nil) {
            // `ip daddr VIP [proto dport PORT] [NOT-LOCAL] jump mark-for-masquerade`
            let detector = config.masqueradeAll ? nil : localDetector?.ifNotLocal
            let addressOnly = generation.clusterIPMasqueradeMatchesAddressOnly
            rule(at: chainAt(internalTrafficChain)) { [ipX] t in
                t.add(ipX)
                t.add(" daddr ")
                t.add(cip)
                if !addressOnly {
                    t.add(" ")
                    t.add(proto)
                    t.add(" dport ")
                    t.add(port)
                }
                if let detector {
                    t.add(" ")
                    t.add(detector)
                }
                t.add(" ")
                t.add(masq)
            }
        }
        // External traffic: the short-circuits, then the policy chain.
        if usesExternalTrafficChain {
            if !svc.externalPolicyLocal {
                rule(externalTrafficChain, masq)
            } else {
                if let detector = localDetector {
                    rule(externalTrafficChain, "\(detector.ifLocal) goto \(clusterPolicyChain)", comment: "short-circuit pod traffic")
                }
                rule(externalTrafficChain, "fib saddr type local \(masq)", comment: "masquerade local traffic")
                rule(externalTrafficChain, "fib saddr type local goto \(clusterPolicyChain)", comment: "short-circuit local traffic")
            }
            if hasExternalEndpoints { rule(externalTrafficChain, "goto \(externalPolicyChain)") }
        }
        if usesFWChain {
            var sources = svc.loadBalancerSourceRanges.map(\.description)
            if let nodeIP = config.nodeIP, svc.loadBalancerSourceRanges.contains(where: { $0.contains(nodeIP) }) {
                // A node reaching its own VIP loops back with the VIP as source.
                sources += svc.loadBalancerVIPs.map(\.description)
            }
            rule(fwChain, "\(ipX) saddr != { \(sources.joined(separator: " , ")) } drop")
        }
        if let affinity {
            for e in eps.allReachable {
                ruleset.addContainer(.init(.set, name: "affinity-" + endpointBase(e), type: addrType,
                                           flags: ["dynamic", "timeout"], timeoutSeconds: affinity))
            }
        }
        if usesClusterPolicyChain { writeServiceToEndpointRules(clusterPolicyChain, eps.cluster, affinity: affinity != nil, endpointBase) }
        if usesLocalPolicyChain { writeServiceToEndpointRules(localPolicyChain, eps.local, affinity: affinity != nil, endpointBase) }
        for (e, endpointChain) in zip(eps.allReachable, endpointChains) {
            rule(at: endpointChain) { [ipX] t in
                t.add(ipX)
                t.add(" saddr ")
                t.add(e.ip)
                t.add(" ")
                t.add(masq)
            }
            if affinity != nil { rule(at: endpointChain, "update @affinity-\(endpointBase(e)) { \(ipX) saddr }") }
            rule(at: endpointChain) { t in
                t.add("meta l4proto ")
                t.add(proto)
                t.add(" dnat to ")
                t.add(e.string)
            }
        }
    }

    /// The affinity rules, then the `numgen` dispatch to the endpoint chains.
    mutating func writeServiceToEndpointRules(_ chain: String, _ endpoints: [EndpointInfo], affinity: Bool, _ base: (EndpointInfo) -> String) {
        if affinity {
            for e in endpoints {
                let b = base(e)
                rule(chain, "\(ipX) saddr @affinity-\(b) goto endpoint-\(b)")
            }
        }
        // `numgen random mod N vmap { 0 : goto endpoint-… , 1 : goto endpoint-… }`
        rule(at: chainAt(chain)) { t in
            t.add("numgen random mod ")
            t.add(decimal: UInt64(endpoints.count))
            t.add(" vmap { ")
            for (i, e) in endpoints.enumerated() {
                if i > 0 { t.add(" , ") }
                t.add(decimal: UInt64(i))
                t.add(" : goto endpoint-")
                t.add(base(e))
            }
            t.add(" }")
        }
    }
}
