import Cluster
import Foundation
import Netfilter
import Wire

/// kube-proxy's iptables mode for one node and family: `syncProxyRules` of
/// pkg/proxy/iptables/proxier.go, rule for rule, as kube-proxy-rules.md §1 restates it.
/// Services are taken in the cluster's order (upstream iterates a Go map).
public enum IPTablesCompiler {
    public static func compile(_ cluster: Cluster, config: ProxierConfig) -> IPTablesRuleset {
        var w = Writer(config: config)
        let ports: [ServicePortInfo] = cluster.services.flatMap { svc in
            svc.ports.compactMap { ServicePortInfo(service: svc, port: $0, family: config.family) }
        }
        let endpoints = ports.map { $0.endpoints(in: cluster, nodeName: config.nodeName, family: config.family) }
        w.largeClusterMode = endpoints.reduce(0) { $0 + $1.count } > config.largeClusterEndpointsThreshold
        w.writePreamble()
        for (info, eps) in zip(ports, endpoints) {
            w.writeServicePort(info, EndpointCategories(eps, port: info, nodeName: config.nodeName, zone: config.nodeLabels[Node.zoneLabel]))
        }
        w.writeTail()
        var ruleset = w.ruleset
        ruleset.largeClusterMode = w.largeClusterMode
        ruleset.jumps = jumps(config)
        ruleset.family = config.family
        return ruleset
    }

    /// kube-proxy's jumps from the built-in chains (`iptablesJumpChains`), installed after
    /// kubelet's (see `IPTablesRuleset.Jump.installed`).
    static func jumps(_ config: ProxierConfig) -> [IPTablesRuleset.Jump] {
        typealias J = IPTablesRuleset.Jump
        let new = ["-m", "conntrack", "--ctstate", "NEW"]
        func c(_ text: String) -> [String] { ["-m", "comment", "--comment", IPTablesQuoting.kubeProxyComment(text)] }
        func to(_ chain: ChainName) -> [String] { ["-j", chain.rawValue] }
        let proxyJumps: [J] = [
            J(table: .filter, chain: .input, words: new + c("kubernetes externally-visible service portals") + to(.externalServices)),
            J(table: .filter, chain: .forward, words: new + c("kubernetes externally-visible service portals") + to(.externalServices)),
            J(table: .filter, chain: .input, words: c("kubernetes health check service ports") + to(.nodePorts)),
            J(table: .filter, chain: .forward, words: new + c("kubernetes service portals") + to(.services)),
            J(table: .filter, chain: .output, words: new + c("kubernetes service portals") + to(.services)),
            J(table: .filter, chain: .forward, words: c("kubernetes forwarding rules") + to(.forward)),
            J(table: .filter, chain: .input, words: new + c("kubernetes load balancer firewall") + to(.proxyFirewall)),
            J(table: .filter, chain: .output, words: new + c("kubernetes load balancer firewall") + to(.proxyFirewall)),
            J(table: .filter, chain: .forward, words: new + c("kubernetes load balancer firewall") + to(.proxyFirewall)),
            J(table: .nat, chain: .output, words: c("kubernetes service portals") + to(.services)),
            J(table: .nat, chain: .prerouting, words: c("kubernetes service portals") + to(.services)),
            J(table: .nat, chain: .postrouting, words: c("kubernetes postrouting rules") + to(.postrouting)),
        ]
        return J.installed(proxyJumps, family: config.family)
    }
}

/// The four line buffers of one sync, and the per-port emission of §1.5. Every rule carries its
/// origin: the Service port it serves (if one) and why it exists.
struct Writer {
    let config: ProxierConfig
    var ruleset = IPTablesRuleset()
    var largeClusterMode = false
    let mark: String
    let isIPv6: Bool

    init(config: ProxierConfig) {
        self.config = config
        mark = config.masqueradeMark
        isIPv6 = config.family == .ipv6
    }

    mutating func filterChain(_ c: ChainName) { ruleset.filter.chains.append(c) }
    mutating func natChain(_ c: ChainName) { ruleset.nat.chains.append(c) }
    mutating func filterRule(_ chain: ChainName, _ words: [String], _ origin: RuleOrigin) {
        ruleset.filter.rules.append(.init(chain: chain, words: words, origin: origin))
    }
    mutating func natRule(_ chain: ChainName, _ words: [String], _ origin: RuleOrigin) {
        ruleset.nat.rules.append(.init(chain: chain, words: words, origin: origin))
    }

    /// A comment as kube-proxy writes it: always double-quoted.
    func quoted(_ text: String) -> String { IPTablesQuoting.kubeProxyComment(text) }
    /// `-j CHAIN`.
    func to(_ chain: ChainName) -> [String] { ["-j", chain.rawValue] }

    /// `appendServiceCommentLocked`: no comment in large-cluster mode.
    func comment(_ text: String) -> [String] { largeClusterMode ? [] : ["-m", "comment", "--comment", text] }

    mutating func writePreamble() {
        for c in [ChainName.services, .externalServices, .forward, .nodePorts, .proxyFirewall] { filterChain(c) }
        for c in [ChainName.services, .nodePorts, .postrouting, .markMasq] { natChain(c) }
        let snat = RuleOrigin(.masqueradeMarked)
        natRule(.postrouting, ["-m", "mark", "!", "--mark", "\(mark)/\(mark)", "-j", "RETURN"], snat)
        // Clear the mark so a packet that traverses the stack again is not masqueraded twice.
        natRule(.postrouting, ["-j", "MARK", "--xor-mark", mark], snat)
        natRule(.postrouting, ["-m", "comment", "--comment", quoted("kubernetes service traffic requiring SNAT"), "-j", "MASQUERADE"]
            + (config.randomFully ? ["--random-fully"] : []), snat)
        natRule(.markMasq, ["-j", "MARK", "--or-mark", mark], RuleOrigin(.markForMasquerade))
        if config.localhostNodePorts {
            // The anti-martian rule that goes with route_localnet=1 (issue 90259).
            filterChain(.firewall)
            filterRule(.firewall, ["-m", "comment", "--comment", quoted("block incoming localnet connections"),
                                   "-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8",
                                   "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"],
                       RuleOrigin(.localnetFirewall))
        }
    }

    mutating func writeServicePort(_ svc: ServicePortInfo, _ eps: EndpointCategories) {
        let n = svc.name
        let proto = svc.protocolName
        let p = ["-m", proto, "-p", proto]
        let port = String(svc.port.port)
        func origin(_ purpose: RuleOrigin.Purpose) -> RuleOrigin { RuleOrigin(purpose, servicePort: svc.portName) }
        let hasEndpoints = eps.hasAny
        var internalPolicyChain = svc.clusterChain
        var hasInternal = hasEndpoints
        if svc.internalPolicyLocal {
            internalPolicyChain = svc.localChain
            if eps.local.isEmpty { hasInternal = false }
        }
        var externalPolicyChain = svc.clusterChain
        var hasExternal = hasEndpoints
        if svc.externalPolicyLocal {
            externalPolicyChain = svc.localChain
            if eps.local.isEmpty { hasExternal = false }
        }
        // KUBE-EXT exists whenever there are endpoints: pods and the node are short-circuited
        // even when no endpoint serves external traffic.
        let usesEXT = hasEndpoints && svc.externallyAccessible
        let usesFW = hasEndpoints && !svc.loadBalancerVIPs.isEmpty && !svc.loadBalancerSourceRanges.isEmpty
        let lbChain = usesFW ? svc.firewallChain : svc.externalChain

        // What the internal (ClusterIP) and external (the rest) traffic gets without endpoints
        // to serve it: REJECT when there are none, DROP when the policy is Local and none is here.
        var internalTarget = "", internalComment = "", externalTarget = "", externalComment = ""
        var internalOrigin = origin(.noEndpoints), externalOrigin = origin(.noEndpoints)
        if !hasEndpoints {
            internalTarget = "REJECT"
            internalComment = quoted("\(n) has no endpoints")
            externalTarget = "REJECT"
            externalComment = internalComment
        } else {
            if !hasInternal {
                internalTarget = "DROP"; internalComment = quoted("\(n) has no local endpoints")
                internalOrigin = origin(.noLocalEndpoints(.internal))
            }
            if !hasExternal {
                externalTarget = "DROP"; externalComment = quoted("\(n) has no local endpoints")
                externalOrigin = origin(.noLocalEndpoints(.external))
            }
        }

        // The ClusterIP.
        if hasInternal {
            natRule(.services, ["-m", "comment", "--comment", quoted("\(n) cluster IP")] + p
                + ["-d", svc.clusterIP.description, "--dport", port] + to(internalPolicyChain), origin(.clusterIP))
        } else {
            filterRule(.services, ["-m", "comment", "--comment", internalComment] + p
                + ["-d", svc.clusterIP.description, "--dport", port, "-j", internalTarget], internalOrigin)
        }
        // externalIPs.
        for ip in svc.externalIPs {
            if hasEndpoints {
                natRule(.services, ["-m", "comment", "--comment", quoted("\(n) external IP")] + p
                    + ["-d", ip.description, "--dport", port] + to(svc.externalChain), origin(.externalIP))
            }
            if !hasExternal {
                filterRule(.externalServices, ["-m", "comment", "--comment", externalComment] + p
                    + ["-d", ip.description, "--dport", port, "-j", externalTarget], externalOrigin)
            }
        }
        // LoadBalancer VIPs.
        for ip in svc.loadBalancerVIPs {
            if hasEndpoints {
                natRule(.services, ["-m", "comment", "--comment", quoted("\(n) loadbalancer IP")] + p
                    + ["-d", ip.description, "--dport", port] + to(lbChain), origin(.loadBalancerIP))
            }
            if usesFW {
                filterRule(.proxyFirewall, ["-m", "comment", "--comment", quoted("\(n) traffic not accepted by \(svc.firewallChain)")] + p
                    + ["-d", ip.description, "--dport", port, "-j", "DROP"], origin(.loadBalancerFirewall))
            }
        }
        if !hasExternal {
            for ip in svc.loadBalancerVIPs {
                filterRule(.externalServices, ["-m", "comment", "--comment", externalComment] + p
                    + ["-d", ip.description, "--dport", port, "-j", externalTarget], externalOrigin)
            }
        }
        // The NodePort. NodePorts are not subject to loadBalancerSourceRanges: straight to KUBE-EXT.
        if let np = svc.nodePort {
            let npText = String(np)
            if hasEndpoints {
                if config.localhostNodePorts && config.nfacct {
                    natRule(.nodePorts, ["-m", "comment", "--comment", n] + p
                        + ["-d", "127.0.0.0/8", "--dport", npText, "-m", "nfacct", "--nfacct-name", "localhost_nps_accepted_pkts"]
                        + to(svc.externalChain), origin(.nodePort))
                }
                natRule(.nodePorts, ["-m", "comment", "--comment", n] + p + ["--dport", npText] + to(svc.externalChain), origin(.nodePort))
            }
            if !hasExternal {
                filterRule(.externalServices, ["-m", "comment", "--comment", externalComment, "-m", "addrtype", "--dst-type", "LOCAL"] + p
                    + ["--dport", npText, "-j", externalTarget], externalOrigin)
            }
        }
        // The health-check NodePort, whether or not there are local endpoints.
        if let hc = svc.healthCheckNodePort {
            filterRule(.nodePorts, ["-m", "comment", "--comment", quoted("\(n) health check node port"), "-m", "tcp", "-p", "tcp",
                                    "--dport", String(hc), "-j", "ACCEPT"], origin(.healthCheckNodePort))
        }

        // Internal traffic: masquerade what does not come from a pod.
        if hasInternal {
            let args = ["-m", "comment", "--comment", quoted("\(n) cluster IP")] + p + ["-d", svc.clusterIP.description, "--dport", port]
            if config.masqueradeAll {
                natRule(internalPolicyChain, args + to(.markMasq), origin(.clusterIP))
            } else if let detector = config.localDetector {
                natRule(internalPolicyChain, args + detector.ifNotLocal + to(.markMasq), origin(.clusterIP))
            }
        }
        if usesEXT {
            natChain(svc.externalChain)
            if !svc.externalPolicyLocal {
                natRule(svc.externalChain, ["-m", "comment", "--comment", quoted("masquerade traffic for \(n) external destinations")]
                    + to(.markMasq), origin(.masquerade))
            } else {
                if let detector = config.localDetector {
                    natRule(svc.externalChain, ["-m", "comment", "--comment", quoted("pod traffic for \(n) external destinations")]
                        + detector.ifLocal + to(svc.clusterChain), origin(.externalTraffic))
                }
                natRule(svc.externalChain, ["-m", "comment", "--comment", quoted("masquerade LOCAL traffic for \(n) external destinations"),
                                            "-m", "addrtype", "--src-type", "LOCAL"] + to(.markMasq), origin(.masquerade))
                natRule(svc.externalChain, ["-m", "comment", "--comment", quoted("route LOCAL traffic for \(n) external destinations"),
                                            "-m", "addrtype", "--src-type", "LOCAL"] + to(svc.clusterChain), origin(.externalTraffic))
            }
            if hasExternal { natRule(svc.externalChain, to(externalPolicyChain), origin(.externalTraffic)) }
        }
        if usesFW {
            natChain(svc.firewallChain)
            let args = ["-m", "comment", "--comment", quoted("\(n) loadbalancer IP")]
            var allowFromNode = false
            for cidr in svc.loadBalancerSourceRanges {
                natRule(svc.firewallChain, args + ["-s", cidr.description] + to(svc.externalChain), origin(.sourceRanges))
                if let ip = config.nodeIP, cidr.contains(ip) { allowFromNode = true }
            }
            // A node reaching its own VIP loops back with the VIP as source.
            if allowFromNode {
                for ip in svc.loadBalancerVIPs {
                    natRule(svc.firewallChain, args + ["-s", ip.description] + to(svc.externalChain), origin(.sourceRanges))
                }
            }
            natRule(svc.firewallChain, ["-m", "comment", "--comment", quoted("other traffic to \(n) will be dropped by KUBE-PROXY-FIREWALL")],
                    origin(.sourceRanges))
        }
        if !eps.cluster.isEmpty && svc.usesClusterEndpoints {
            natChain(svc.clusterChain)
            writeServiceToEndpointRules(svc, chain: svc.clusterChain, endpoints: eps.cluster)
        }
        if !eps.local.isEmpty && svc.usesLocalEndpoints {
            natChain(svc.localChain)
            writeServiceToEndpointRules(svc, chain: svc.localChain, endpoints: eps.local)
        }
        for e in eps.allReachable {
            natChain(e.chain)
            let head = comment(n)
            // Hairpin: a pod that reaches itself is masqueraded so the reply comes back via the node.
            natRule(e.chain, head + ["-s", e.ip.description] + to(.markMasq), origin(.hairpin))
            let affinity = svc.affinitySeconds != nil ? ["-m", "recent", "--name", e.chain.rawValue, "--set"] : []
            natRule(e.chain, head + affinity + p + ["-j", "DNAT", "--to-destination", e.string], origin(.endpointDNAT))
        }
    }

    /// `writeServiceToEndpointRules`: affinity checks first, then 1/(n-i) probabilities with the
    /// last rule unconditional.
    mutating func writeServiceToEndpointRules(_ svc: ServicePortInfo, chain: ChainName, endpoints: [EndpointInfo]) {
        if let seconds = svc.affinitySeconds {
            for e in endpoints {
                natRule(chain, comment(quoted("\(svc.name) -> \(e.string)"))
                    + ["-m", "recent", "--name", e.chain.rawValue, "--rcheck", "--seconds", String(seconds), "--reap"] + to(e.chain),
                        RuleOrigin(.sessionAffinity, servicePort: svc.portName))
            }
        }
        for (i, e) in endpoints.enumerated() {
            var words = comment(quoted("\(svc.name) -> \(e.string)"))
            if i < endpoints.count - 1 {
                words += ["-m", "statistic", "--mode", "random", "--probability", Probability.text(endpoints.count - i)]
            }
            natRule(chain, words + to(e.chain), RuleOrigin(.endpointSelection, servicePort: svc.portName))
        }
    }

    mutating func writeTail() {
        let last = quoted("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
        let dispatch = RuleOrigin(.nodePortDispatch)
        let cidrs = config.familyNodePortAddresses
        if cidrs.isEmpty {
            var destinations = ["-m", "addrtype", "--dst-type", "LOCAL"]
            if isIPv6 {
                destinations += ["!", "-d", "::1/128"]
            } else if !config.localhostNodePorts {
                destinations += ["!", "-d", "127.0.0.0/8"]
            }
            natRule(.services, ["-m", "comment", "--comment", last] + destinations + to(.nodePorts), dispatch)
        } else {
            for ip in config.localAddresses where cidrs.contains(where: { $0.contains(ip) }) {
                if ip.isLoopback && (isIPv6 || !config.localhostNodePorts) { continue }
                natRule(.services, ["-m", "comment", "--comment", last, "-d", ip.description] + to(.nodePorts), dispatch)
            }
        }
        let forward = RuleOrigin(.forward)
        if !config.conntrackTCPBeLiberal {
            filterRule(.forward, ["-m", "conntrack", "--ctstate", "INVALID"]
                + (config.nfacct ? ["-m", "nfacct", "--nfacct-name", "ct_state_invalid_dropped_pkts"] : []) + ["-j", "DROP"], forward)
        }
        filterRule(.forward, ["-m", "comment", "--comment", quoted("kubernetes forwarding rules"), "-m", "mark", "--mark", "\(mark)/\(mark)",
                              "-j", "ACCEPT"], forward)
        filterRule(.forward, ["-m", "comment", "--comment", quoted("kubernetes forwarding conntrack rule"), "-m", "conntrack",
                              "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"], forward)
    }
}

/// `computeProbability`: 1/n with Go's `%0.10f` (C's `%.10f` rounds the exact binary value the
/// same way).
public enum Probability {
    public static func text(_ n: Int) -> String { String(format: "%0.10f", 1.0 / Double(n)) }
}
