import Netfilter
import Wire

/// The iptables rules IPVS mode writes around its ipsets (pkg/proxy/ipvs/proxier.go
/// `createAndLinkKubeChain`, `writeIPTablesRules`, `acceptIPVSTraffic`). Its rules match sets,
/// not Service ports, so their origins name a purpose only.
enum IPVSModeIPTables {
    /// `iptablesChains`: declared (and so flushed and rewritten) on every sync.
    static let natChains: [ChainName] = [.services, .postrouting, .ipvsNodePort, .ipvsLoadBalancer, .markMasq]
    static let filterChains: [ChainName] = [.forward, .ipvsNodePort, .proxyFirewall, .sourceRangesFirewall, .ipvsFilter, .ipvsOutFilter]

    /// `ipsetWithIPTablesChain`: set, table, from chain, target, match directions, `-p` protocol,
    /// and why. Each LOCAL nodePort set comes before its non-local one, so eTP=Local nodePorts
    /// RETURN before being marked.
    static let setRules: [(set: KubeIPSetName, table: TableName, from: ChainName, to: String, match: String, proto: String?,
                           purpose: RuleOrigin.Purpose)] = [
        (KubeIPSetName.loopBack, .nat, .postrouting, "MASQUERADE", "dst,dst,src", nil, .hairpin),
        (KubeIPSetName.loadBalancer, .nat, .services, ChainName.ipvsLoadBalancer.rawValue, "dst,dst", nil, .loadBalancerIP),
        (KubeIPSetName.loadBalancerLocal, .nat, .ipvsLoadBalancer, "RETURN", "dst,dst", nil, .loadBalancerIP),
        (KubeIPSetName.nodePortLocalTCP, .nat, .ipvsNodePort, "RETURN", "dst", "tcp", .nodePort),
        (KubeIPSetName.nodePortTCP, .nat, .ipvsNodePort, ChainName.markMasq.rawValue, "dst", "tcp", .nodePort),
        (KubeIPSetName.nodePortLocalUDP, .nat, .ipvsNodePort, "RETURN", "dst", "udp", .nodePort),
        (KubeIPSetName.nodePortUDP, .nat, .ipvsNodePort, ChainName.markMasq.rawValue, "dst", "udp", .nodePort),
        (KubeIPSetName.nodePortLocalSCTP, .nat, .ipvsNodePort, "RETURN", "dst,dst", "sctp", .nodePort),
        (KubeIPSetName.nodePortSCTP, .nat, .ipvsNodePort, ChainName.markMasq.rawValue, "dst,dst", "sctp", .nodePort),
        (KubeIPSetName.loadBalancerFW, .filter, .proxyFirewall, ChainName.sourceRangesFirewall.rawValue, "dst,dst", nil, .sourceRanges),
        (KubeIPSetName.loadBalancerSourceCIDR, .filter, .sourceRangesFirewall, "RETURN", "dst,dst,src", nil, .sourceRanges),
        (KubeIPSetName.loadBalancerSourceIP, .filter, .sourceRangesFirewall, "RETURN", "dst,dst,src", nil, .sourceRanges),
    ]

    static func write(config: ProxierConfig, sets: IPSetList, lbNoNodeAccess: [(IPAddress, String, UInt16)]) -> IPTablesRuleset {
        var r = IPTablesRuleset()
        r.nat.chains = natChains
        r.filter.chains = filterChains
        func nat(_ chain: ChainName, _ words: [String], _ purpose: RuleOrigin.Purpose) {
            r.nat.rules.append(.init(chain: chain, words: words, origin: RuleOrigin(purpose)))
        }
        func filter(_ chain: ChainName, _ words: [String], _ purpose: RuleOrigin.Purpose) {
            r.filter.rules.append(.init(chain: chain, words: words, origin: RuleOrigin(purpose)))
        }
        func to(_ chain: ChainName) -> [String] { ["-j", chain.rawValue] }
        // `getComment`: the set's comment, double-quoted as every kube-proxy comment.
        func setMatch(_ base: KubeIPSetName) -> [String] {
            ["-m", "comment", "--comment", IPTablesQuoting.kubeProxyComment(sets[base].comment), "-m", "set", "--match-set", sets[base].name]
        }
        let mark = config.masqueradeMark

        // Connections from localhost are left alone early (no IPVS for 127/8 sources).
        nat(.services, ["-s", config.family == .ipv6 ? "::1/128" : "127.0.0.0/8", "-j", "RETURN"], .ipvsLocalhost)

        // One rule per non-empty set of ipsetWithIPTablesChain.
        for rule in setRules where !sets[rule.set].isEmpty {
            let words = (rule.proto.map { ["-p", $0] } ?? []) + setMatch(rule.set) + [rule.match, "-j", rule.to]
            if rule.table == .filter { filter(rule.from, words, rule.purpose) } else { nat(rule.from, words, rule.purpose) }
        }

        if !sets[KubeIPSetName.clusterIP].isEmpty {
            let args = setMatch(KubeIPSetName.clusterIP)
            if config.masqueradeAll {
                nat(.services, args + ["dst,dst"] + to(.markMasq), .masquerade)
            } else if let detector = config.localDetector {
                // Off-cluster traffic to a VIP (a static route to the service range) is masqueraded.
                nat(.services, args + ["dst,dst"] + detector.ifNotLocal + to(.markMasq), .masquerade)
            } else {
                // No detector: masquerade node traffic whose source is a VIP (the kernel picks a
                // kube-ipvs0 address as the source when the node reaches a VIP).
                nat(.services, args + ["src,dst"] + to(.markMasq), .masquerade)
            }
        }

        // External IPs: accept what comes from off the machine (not from a bridge, not local) or
        // is addressed to a local IP, so other rules cannot block IPVS.
        func externalIPRules(_ args: [String]) {
            nat(.services, args + ["-m", "physdev", "!", "--physdev-is-in", "-m", "addrtype", "!", "--src-type", "LOCAL", "-j", "ACCEPT"], .externalIP)
            nat(.services, args + ["-m", "addrtype", "--dst-type", "LOCAL", "-j", "ACCEPT"], .externalIP)
        }
        if !sets[KubeIPSetName.externalIP].isEmpty {
            let args = setMatch(KubeIPSetName.externalIP) + ["dst,dst"]
            nat(.services, args + to(.markMasq), .masquerade)
            externalIPRules(args)
        }
        if !sets[KubeIPSetName.externalIPLocal].isEmpty {
            externalIPRules(setMatch(KubeIPSetName.externalIPLocal) + ["dst,dst"])
        }

        nat(.services, ["-m", "addrtype", "--dst-type", "LOCAL"] + to(.ipvsNodePort), .nodePortDispatch)
        nat(.ipvsLoadBalancer, to(.markMasq), .masquerade)
        filter(.sourceRangesFirewall, ["-j", "DROP"], .sourceRanges)
        // The node may not reach an LB whose source ranges leave it out: with IPVS both the
        // source and the destination are the VIP (kubernetes#119656).
        for (vip, proto, port) in lbNoNodeAccess {
            filter(.ipvsOutFilter, ["-s", vip.description, "-m", "ipvs", "--vaddr", vip.description, "--vproto", proto,
                                    "--vport", String(port), "-j", "DROP"], .sourceRanges)
        }

        // acceptIPVSTraffic: the last rules of KUBE-SERVICES.
        for base in [KubeIPSetName.clusterIP, KubeIPSetName.loadBalancer] where !sets[base].isEmpty {
            nat(.services, ["-m", "set", "--match-set", sets[base].name, sets[base].type == .bitmapPort ? "dst" : "dst,dst", "-j", "ACCEPT"],
                .ipvsAccept)
        }

        // Marked traffic is forwarded even when the FORWARD policy is DROP; no INVALID drop here.
        filter(.forward, ["-m", "comment", "--comment", IPTablesQuoting.kubeProxyComment("kubernetes forwarding rules"),
                          "-m", "mark", "--mark", "\(mark)/\(mark)", "-j", "ACCEPT"], .forward)
        filter(.forward, ["-m", "comment", "--comment", IPTablesQuoting.kubeProxyComment("kubernetes forwarding conntrack rule"),
                          "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"], .forward)
        filter(.ipvsNodePort, setMatch(KubeIPSetName.healthCheckNodePort) + ["dst", "-j", "ACCEPT"], .healthCheckNodePort)

        // KUBE-IPVS-FILTER: a VIP bound on kube-ipvs0 is a local address, so without this any host
        // port would answer on it (kubernetes#72236); service ports RETURN, the rest is rejected.
        for base in [KubeIPSetName.loadBalancer, KubeIPSetName.clusterIP, KubeIPSetName.externalIP, KubeIPSetName.externalIPLocal] {
            filter(.ipvsFilter, ["-m", "set", "--match-set", sets[base].name, "dst,dst", "-j", "RETURN"], .ipvsFilter)
        }
        filter(.ipvsFilter, ["-m", "set", "--match-set", sets[KubeIPSetName.healthCheckNodePort].name, "dst", "-j", "RETURN"], .ipvsFilter)
        filter(.ipvsFilter, ["-m", "conntrack", "--ctstate", "NEW", "-m", "set", "--match-set", sets[KubeIPSetName.ipvsIPs].name, "dst", "-j", "REJECT"],
               .ipvsFilter)

        nat(.postrouting, ["-m", "mark", "!", "--mark", "\(mark)/\(mark)", "-j", "RETURN"], .masqueradeMarked)
        // Clear the mark so a packet that traverses the stack again is not masqueraded twice.
        nat(.postrouting, ["-j", "MARK", "--xor-mark", mark], .masqueradeMarked)
        nat(.postrouting, ["-m", "comment", "--comment", IPTablesQuoting.kubeProxyComment("kubernetes service traffic requiring SNAT"), "-j", "MASQUERADE"]
            + (config.randomFully ? ["--random-fully"] : []), .masqueradeMarked)
        nat(.markMasq, ["-j", "MARK", "--or-mark", mark], .markForMasquerade)
        return r
    }

    /// `iptablesJumpChain`, each installed with `EnsureRule(Prepend, ...)` and only a comment
    /// match (no conntrack state, unlike the iptables mode), in their final order
    /// (`IPTablesRuleset.Jump.installed`).
    static func jumps(_ config: ProxierConfig) -> [IPTablesRuleset.Jump] {
        typealias J = IPTablesRuleset.Jump
        func j(_ table: TableName, _ chain: Hook, _ comment: String, _ target: ChainName) -> J {
            J(table: table, chain: chain, words: ["-m", "comment", "--comment", IPTablesQuoting.kubeProxyComment(comment), "-j", target.rawValue])
        }
        let proxyJumps = [
            j(.nat, .output, "kubernetes service portals", .services),
            j(.nat, .prerouting, "kubernetes service portals", .services),
            j(.nat, .postrouting, "kubernetes postrouting rules", .postrouting),
            j(.filter, .forward, "kubernetes forwarding rules", .forward),
            j(.filter, .input, "kubernetes health check rules", .ipvsNodePort),
            j(.filter, .input, "kube-proxy firewall rules", .proxyFirewall),
            j(.filter, .forward, "kube-proxy firewall rules", .proxyFirewall),
            j(.filter, .input, "kubernetes ipvs access filter", .ipvsFilter),
            j(.filter, .output, "kubernetes ipvs access filter", .ipvsOutFilter),
        ]
        return J.installed(proxyJumps, family: config.family)
    }
}
