import Cluster
import Foundation
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

    /// The jumps in the built-in chains in their final order (§1.3): kubelet's INPUT and
    /// OUTPUT → KUBE-FIREWALL exist first (appended by kubelet), then kube-proxy prepends its
    /// own in list order, so they end up reversed ahead of kubelet's.
    static func jumps(_ config: ProxierConfig) -> [IPTablesRuleset.Jump] {
        typealias J = IPTablesRuleset.Jump
        let new = ["-m", "conntrack", "--ctstate", "NEW"]
        func c(_ text: String) -> [String] { ["-m", "comment", "--comment", "\"\(text)\""] }
        let proxyJumps: [J] = [
            J(table: "filter", chain: "INPUT", words: new + c("kubernetes externally-visible service portals") + ["-j", "KUBE-EXTERNAL-SERVICES"]),
            J(table: "filter", chain: "FORWARD", words: new + c("kubernetes externally-visible service portals") + ["-j", "KUBE-EXTERNAL-SERVICES"]),
            J(table: "filter", chain: "INPUT", words: c("kubernetes health check service ports") + ["-j", "KUBE-NODEPORTS"]),
            J(table: "filter", chain: "FORWARD", words: new + c("kubernetes service portals") + ["-j", "KUBE-SERVICES"]),
            J(table: "filter", chain: "OUTPUT", words: new + c("kubernetes service portals") + ["-j", "KUBE-SERVICES"]),
            J(table: "filter", chain: "FORWARD", words: c("kubernetes forwarding rules") + ["-j", "KUBE-FORWARD"]),
            J(table: "filter", chain: "INPUT", words: new + c("kubernetes load balancer firewall") + ["-j", "KUBE-PROXY-FIREWALL"]),
            J(table: "filter", chain: "OUTPUT", words: new + c("kubernetes load balancer firewall") + ["-j", "KUBE-PROXY-FIREWALL"]),
            J(table: "filter", chain: "FORWARD", words: new + c("kubernetes load balancer firewall") + ["-j", "KUBE-PROXY-FIREWALL"]),
            J(table: "nat", chain: "OUTPUT", words: c("kubernetes service portals") + ["-j", "KUBE-SERVICES"]),
            J(table: "nat", chain: "PREROUTING", words: c("kubernetes service portals") + ["-j", "KUBE-SERVICES"]),
            J(table: "nat", chain: "POSTROUTING", words: c("kubernetes postrouting rules") + ["-j", "KUBE-POSTROUTING"]),
        ]
        var chains: [String: [J]] = [:]
        var order: [String] = []
        func key(_ j: J) -> String { j.table + " " + j.chain }
        if config.family == .ipv4 {
            // kubelet's own jumps to its KUBE-FIREWALL chain (IPv4), appended before kube-proxy runs.
            for chain in ["INPUT", "OUTPUT"] {
                let j = J(table: "filter", chain: chain, words: ["-j", "KUBE-FIREWALL"])
                if chains[key(j)] == nil { order.append(key(j)) }
                chains[key(j), default: []].append(j)
            }
        }
        for j in proxyJumps {
            if chains[key(j)] == nil { order.append(key(j)) }
            chains[key(j), default: []].insert(j, at: 0)
        }
        let builtIn = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]
        return order.sorted { a, b in
            let (ta, ca) = (a.split(separator: " ")[0], String(a.split(separator: " ")[1]))
            let (tb, cb) = (b.split(separator: " ")[0], String(b.split(separator: " ")[1]))
            if ta != tb { return ta == "filter" }
            return builtIn.firstIndex(of: ca)! < builtIn.firstIndex(of: cb)!
        }.flatMap { chains[$0]! }
    }
}

/// The four line buffers of one sync, and the per-port emission of §1.5.
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

    mutating func filterChain(_ c: String) { ruleset.filter.chains.append(c) }
    mutating func natChain(_ c: String) { ruleset.nat.chains.append(c) }
    mutating func filterRule(_ chain: String, _ words: [String]) { ruleset.filter.rules.append(.init(chain: chain, words: words)) }
    mutating func natRule(_ chain: String, _ words: [String]) { ruleset.nat.rules.append(.init(chain: chain, words: words)) }

    /// `appendServiceCommentLocked`: no comment in large-cluster mode.
    func comment(_ text: String) -> [String] { largeClusterMode ? [] : ["-m", "comment", "--comment", text] }

    mutating func writePreamble() {
        for c in ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL"] { filterChain(c) }
        for c in ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"] { natChain(c) }
        natRule("KUBE-POSTROUTING", ["-m", "mark", "!", "--mark", "\(mark)/\(mark)", "-j", "RETURN"])
        // Clear the mark so a packet that traverses the stack again is not masqueraded twice.
        natRule("KUBE-POSTROUTING", ["-j", "MARK", "--xor-mark", mark])
        natRule("KUBE-POSTROUTING", ["-m", "comment", "--comment", "\"kubernetes service traffic requiring SNAT\"", "-j", "MASQUERADE"]
            + (config.randomFully ? ["--random-fully"] : []))
        natRule("KUBE-MARK-MASQ", ["-j", "MARK", "--or-mark", mark])
        if config.localhostNodePorts {
            // The anti-martian rule that goes with route_localnet=1 (issue 90259).
            filterChain("KUBE-FIREWALL")
            filterRule("KUBE-FIREWALL", ["-m", "comment", "--comment", "\"block incoming localnet connections\"",
                                         "-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8",
                                         "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"])
        }
    }

    mutating func writeServicePort(_ svc: ServicePortInfo, _ eps: EndpointCategories) {
        let n = svc.name
        let proto = svc.protocolName
        let p = ["-m", proto, "-p", proto]
        let port = String(svc.port.port)
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

        var internalTarget = "", internalComment = "", externalTarget = "", externalComment = ""
        if !hasEndpoints {
            internalTarget = "REJECT"
            internalComment = "\"\(n) has no endpoints\""
            externalTarget = "REJECT"
            externalComment = internalComment
        } else {
            if !hasInternal { internalTarget = "DROP"; internalComment = "\"\(n) has no local endpoints\"" }
            if !hasExternal { externalTarget = "DROP"; externalComment = "\"\(n) has no local endpoints\"" }
        }

        // The ClusterIP.
        if hasInternal {
            natRule("KUBE-SERVICES", ["-m", "comment", "--comment", "\"\(n) cluster IP\""] + p
                + ["-d", svc.clusterIP.description, "--dport", port, "-j", internalPolicyChain])
        } else {
            filterRule("KUBE-SERVICES", ["-m", "comment", "--comment", internalComment] + p
                + ["-d", svc.clusterIP.description, "--dport", port, "-j", internalTarget])
        }
        // externalIPs.
        for ip in svc.externalIPs {
            if hasEndpoints {
                natRule("KUBE-SERVICES", ["-m", "comment", "--comment", "\"\(n) external IP\""] + p
                    + ["-d", ip.description, "--dport", port, "-j", svc.externalChain])
            }
            if !hasExternal {
                filterRule("KUBE-EXTERNAL-SERVICES", ["-m", "comment", "--comment", externalComment] + p
                    + ["-d", ip.description, "--dport", port, "-j", externalTarget])
            }
        }
        // LoadBalancer VIPs.
        for ip in svc.loadBalancerVIPs {
            if hasEndpoints {
                natRule("KUBE-SERVICES", ["-m", "comment", "--comment", "\"\(n) loadbalancer IP\""] + p
                    + ["-d", ip.description, "--dport", port, "-j", lbChain])
            }
            if usesFW {
                filterRule("KUBE-PROXY-FIREWALL", ["-m", "comment", "--comment", "\"\(n) traffic not accepted by \(svc.firewallChain)\""] + p
                    + ["-d", ip.description, "--dport", port, "-j", "DROP"])
            }
        }
        if !hasExternal {
            for ip in svc.loadBalancerVIPs {
                filterRule("KUBE-EXTERNAL-SERVICES", ["-m", "comment", "--comment", externalComment] + p
                    + ["-d", ip.description, "--dport", port, "-j", externalTarget])
            }
        }
        // The NodePort. NodePorts are not subject to loadBalancerSourceRanges: straight to KUBE-EXT.
        if let np = svc.nodePort {
            let npText = String(np)
            if hasEndpoints {
                if config.localhostNodePorts && config.nfacct {
                    natRule("KUBE-NODEPORTS", ["-m", "comment", "--comment", n] + p
                        + ["-d", "127.0.0.0/8", "--dport", npText, "-m", "nfacct", "--nfacct-name", "localhost_nps_accepted_pkts", "-j", svc.externalChain])
                }
                natRule("KUBE-NODEPORTS", ["-m", "comment", "--comment", n] + p + ["--dport", npText, "-j", svc.externalChain])
            }
            if !hasExternal {
                filterRule("KUBE-EXTERNAL-SERVICES", ["-m", "comment", "--comment", externalComment, "-m", "addrtype", "--dst-type", "LOCAL"] + p
                    + ["--dport", npText, "-j", externalTarget])
            }
        }
        // The health-check NodePort, whether or not there are local endpoints.
        if let hc = svc.healthCheckNodePort {
            filterRule("KUBE-NODEPORTS", ["-m", "comment", "--comment", "\"\(n) health check node port\"", "-m", "tcp", "-p", "tcp",
                                          "--dport", String(hc), "-j", "ACCEPT"])
        }

        // Internal traffic: masquerade what does not come from a pod.
        if hasInternal {
            let args = ["-m", "comment", "--comment", "\"\(n) cluster IP\""] + p + ["-d", svc.clusterIP.description, "--dport", port]
            if config.masqueradeAll {
                natRule(internalPolicyChain, args + ["-j", "KUBE-MARK-MASQ"])
            } else if let detector = config.localDetector {
                natRule(internalPolicyChain, args + detector.ifNotLocal + ["-j", "KUBE-MARK-MASQ"])
            }
        }
        if usesEXT {
            natChain(svc.externalChain)
            if !svc.externalPolicyLocal {
                natRule(svc.externalChain, ["-m", "comment", "--comment", "\"masquerade traffic for \(n) external destinations\"", "-j", "KUBE-MARK-MASQ"])
            } else {
                if let detector = config.localDetector {
                    natRule(svc.externalChain, ["-m", "comment", "--comment", "\"pod traffic for \(n) external destinations\""]
                        + detector.ifLocal + ["-j", svc.clusterChain])
                }
                natRule(svc.externalChain, ["-m", "comment", "--comment", "\"masquerade LOCAL traffic for \(n) external destinations\"",
                                            "-m", "addrtype", "--src-type", "LOCAL", "-j", "KUBE-MARK-MASQ"])
                natRule(svc.externalChain, ["-m", "comment", "--comment", "\"route LOCAL traffic for \(n) external destinations\"",
                                            "-m", "addrtype", "--src-type", "LOCAL", "-j", svc.clusterChain])
            }
            if hasExternal { natRule(svc.externalChain, ["-j", externalPolicyChain]) }
        }
        if usesFW {
            natChain(svc.firewallChain)
            let args = ["-m", "comment", "--comment", "\"\(n) loadbalancer IP\""]
            var allowFromNode = false
            for cidr in svc.loadBalancerSourceRanges {
                natRule(svc.firewallChain, args + ["-s", cidr.description, "-j", svc.externalChain])
                if let ip = config.nodeIP, cidr.contains(ip) { allowFromNode = true }
            }
            // A node reaching its own VIP loops back with the VIP as source.
            if allowFromNode {
                for ip in svc.loadBalancerVIPs { natRule(svc.firewallChain, args + ["-s", ip.description, "-j", svc.externalChain]) }
            }
            natRule(svc.firewallChain, ["-m", "comment", "--comment", "\"other traffic to \(n) will be dropped by KUBE-PROXY-FIREWALL\""])
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
            natRule(e.chain, head + ["-s", e.ip.description, "-j", "KUBE-MARK-MASQ"])
            let affinity = svc.affinitySeconds != nil ? ["-m", "recent", "--name", e.chain, "--set"] : []
            natRule(e.chain, head + affinity + p + ["-j", "DNAT", "--to-destination", e.string])
        }
    }

    /// `writeServiceToEndpointRules`: affinity checks first, then 1/(n-i) probabilities with the
    /// last rule unconditional.
    mutating func writeServiceToEndpointRules(_ svc: ServicePortInfo, chain: String, endpoints: [EndpointInfo]) {
        if let seconds = svc.affinitySeconds {
            for e in endpoints {
                natRule(chain, comment("\"\(svc.name) -> \(e.string)\"")
                    + ["-m", "recent", "--name", e.chain, "--rcheck", "--seconds", String(seconds), "--reap", "-j", e.chain])
            }
        }
        for (i, e) in endpoints.enumerated() {
            var words = comment("\"\(svc.name) -> \(e.string)\"")
            if i < endpoints.count - 1 {
                words += ["-m", "statistic", "--mode", "random", "--probability", Probability.text(endpoints.count - i)]
            }
            natRule(chain, words + ["-j", e.chain])
        }
    }

    mutating func writeTail() {
        let last = "\"kubernetes service nodeports; NOTE: this must be the last rule in this chain\""
        let cidrs = config.familyNodePortAddresses
        if cidrs.isEmpty {
            var destinations = ["-m", "addrtype", "--dst-type", "LOCAL"]
            if isIPv6 {
                destinations += ["!", "-d", "::1/128"]
            } else if !config.localhostNodePorts {
                destinations += ["!", "-d", "127.0.0.0/8"]
            }
            natRule("KUBE-SERVICES", ["-m", "comment", "--comment", last] + destinations + ["-j", "KUBE-NODEPORTS"])
        } else {
            for ip in config.localAddresses where cidrs.contains(where: { $0.contains(ip) }) {
                if ip.isLoopback && (isIPv6 || !config.localhostNodePorts) { continue }
                natRule("KUBE-SERVICES", ["-m", "comment", "--comment", last, "-d", ip.description, "-j", "KUBE-NODEPORTS"])
            }
        }
        if !config.conntrackTCPBeLiberal {
            filterRule("KUBE-FORWARD", ["-m", "conntrack", "--ctstate", "INVALID"]
                + (config.nfacct ? ["-m", "nfacct", "--nfacct-name", "ct_state_invalid_dropped_pkts"] : []) + ["-j", "DROP"])
        }
        filterRule("KUBE-FORWARD", ["-m", "comment", "--comment", "\"kubernetes forwarding rules\"", "-m", "mark", "--mark", "\(mark)/\(mark)", "-j", "ACCEPT"])
        filterRule("KUBE-FORWARD", ["-m", "comment", "--comment", "\"kubernetes forwarding conntrack rule\"", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"])
    }
}

/// `computeProbability`: 1/n with Go's `%0.10f` (C's `%.10f` rounds the exact binary value the
/// same way).
public enum Probability {
    public static func text(_ n: Int) -> String { String(format: "%0.10f", 1.0 / Double(n)) }
}
