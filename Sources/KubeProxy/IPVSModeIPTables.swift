import Wire

/// The iptables rules IPVS mode writes around its ipsets (pkg/proxy/ipvs/proxier.go
/// `createAndLinkKubeChain`, `writeIptablesRules`, `acceptIPVSTraffic`).
enum IPVSModeIPTables {
    /// `iptablesChains`: declared (and so flushed and rewritten) on every sync.
    static let natChains = ["KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-NODE-PORT", "KUBE-LOAD-BALANCER", "KUBE-MARK-MASQ"]
    static let filterChains = ["KUBE-FORWARD", "KUBE-NODE-PORT", "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL",
                               "KUBE-IPVS-FILTER", "KUBE-IPVS-OUT-FILTER"]

    /// `ipsetWithIptablesChain`: set, table, from chain, target, match directions, `-p` protocol.
    /// Each LOCAL nodePort set comes before its non-local one, so eTP=Local nodePorts RETURN
    /// before being marked.
    static let setRules: [(set: String, table: String, from: String, to: String, match: String, proto: String?)] = [
        (IPSetList.loopBack, "nat", "KUBE-POSTROUTING", "MASQUERADE", "dst,dst,src", nil),
        (IPSetList.loadBalancer, "nat", "KUBE-SERVICES", "KUBE-LOAD-BALANCER", "dst,dst", nil),
        (IPSetList.loadBalancerLocal, "nat", "KUBE-LOAD-BALANCER", "RETURN", "dst,dst", nil),
        (IPSetList.nodePortLocalTCP, "nat", "KUBE-NODE-PORT", "RETURN", "dst", "tcp"),
        (IPSetList.nodePortTCP, "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst", "tcp"),
        (IPSetList.nodePortLocalUDP, "nat", "KUBE-NODE-PORT", "RETURN", "dst", "udp"),
        (IPSetList.nodePortUDP, "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst", "udp"),
        (IPSetList.nodePortLocalSCTP, "nat", "KUBE-NODE-PORT", "RETURN", "dst,dst", "sctp"),
        (IPSetList.nodePortSCTP, "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst,dst", "sctp"),
        (IPSetList.loadBalancerFW, "filter", "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL", "dst,dst", nil),
        (IPSetList.loadBalancerSourceCIDR, "filter", "KUBE-SOURCE-RANGES-FIREWALL", "RETURN", "dst,dst,src", nil),
        (IPSetList.loadBalancerSourceIP, "filter", "KUBE-SOURCE-RANGES-FIREWALL", "RETURN", "dst,dst,src", nil),
    ]

    static func write(config: ProxierConfig, sets: IPSetList, lbNoNodeAccess: [(IPAddress, String, UInt16)]) -> IPTablesRuleset {
        var r = IPTablesRuleset()
        r.nat.chains = natChains
        r.filter.chains = filterChains
        func nat(_ chain: String, _ words: [String]) { r.nat.rules.append(.init(chain: chain, words: words)) }
        func filter(_ chain: String, _ words: [String]) { r.filter.rules.append(.init(chain: chain, words: words)) }
        func setMatch(_ base: String) -> [String] {
            ["-m", "comment", "--comment", sets[base].quotedComment, "-m", "set", "--match-set", sets[base].name]
        }
        let mark = config.masqueradeMark

        // Connections from localhost are left alone early (no IPVS for 127/8 sources).
        nat("KUBE-SERVICES", ["-s", config.family == .ipv6 ? "::1/128" : "127.0.0.0/8", "-j", "RETURN"])

        // One rule per non-empty set of ipsetWithIptablesChain.
        for rule in setRules where !sets[rule.set].isEmpty {
            let words = (rule.proto.map { ["-p", $0] } ?? []) + setMatch(rule.set) + [rule.match, "-j", rule.to]
            if rule.table == "filter" { filter(rule.from, words) } else { nat(rule.from, words) }
        }

        if !sets[IPSetList.clusterIP].isEmpty {
            let args = setMatch(IPSetList.clusterIP)
            if config.masqueradeAll {
                nat("KUBE-SERVICES", args + ["dst,dst", "-j", "KUBE-MARK-MASQ"])
            } else if let detector = config.localDetector {
                // Off-cluster traffic to a VIP (a static route to the service range) is masqueraded.
                nat("KUBE-SERVICES", args + ["dst,dst"] + detector.ifNotLocal + ["-j", "KUBE-MARK-MASQ"])
            } else {
                // No detector: masquerade node traffic whose source is a VIP (the kernel picks a
                // kube-ipvs0 address as the source when the node reaches a VIP).
                nat("KUBE-SERVICES", args + ["src,dst", "-j", "KUBE-MARK-MASQ"])
            }
        }

        // External IPs: accept what comes from off the machine (not from a bridge, not local) or
        // is addressed to a local IP, so other rules cannot block IPVS.
        func externalIPRules(_ args: [String]) {
            nat("KUBE-SERVICES", args + ["-m", "physdev", "!", "--physdev-is-in", "-m", "addrtype", "!", "--src-type", "LOCAL", "-j", "ACCEPT"])
            nat("KUBE-SERVICES", args + ["-m", "addrtype", "--dst-type", "LOCAL", "-j", "ACCEPT"])
        }
        if !sets[IPSetList.externalIP].isEmpty {
            let args = setMatch(IPSetList.externalIP) + ["dst,dst"]
            nat("KUBE-SERVICES", args + ["-j", "KUBE-MARK-MASQ"])
            externalIPRules(args)
        }
        if !sets[IPSetList.externalIPLocal].isEmpty {
            externalIPRules(setMatch(IPSetList.externalIPLocal) + ["dst,dst"])
        }

        nat("KUBE-SERVICES", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", "KUBE-NODE-PORT"])
        nat("KUBE-LOAD-BALANCER", ["-j", "KUBE-MARK-MASQ"])
        filter("KUBE-SOURCE-RANGES-FIREWALL", ["-j", "DROP"])
        // The node may not reach an LB whose source ranges leave it out: with IPVS both the
        // source and the destination are the VIP (kubernetes#119656).
        for (vip, proto, port) in lbNoNodeAccess {
            filter("KUBE-IPVS-OUT-FILTER", ["-s", vip.description, "-m", "ipvs", "--vaddr", vip.description, "--vproto", proto,
                                            "--vport", String(port), "-j", "DROP"])
        }

        // acceptIPVSTraffic: the last rules of KUBE-SERVICES.
        for base in [IPSetList.clusterIP, IPSetList.loadBalancer] where !sets[base].isEmpty {
            nat("KUBE-SERVICES", ["-m", "set", "--match-set", sets[base].name, sets[base].type == .bitmapPort ? "dst" : "dst,dst", "-j", "ACCEPT"])
        }

        // Marked traffic is forwarded even when the FORWARD policy is DROP; no INVALID drop here.
        filter("KUBE-FORWARD", ["-m", "comment", "--comment", "\"kubernetes forwarding rules\"", "-m", "mark", "--mark", "\(mark)/\(mark)", "-j", "ACCEPT"])
        filter("KUBE-FORWARD", ["-m", "comment", "--comment", "\"kubernetes forwarding conntrack rule\"", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"])
        filter("KUBE-NODE-PORT", setMatch(IPSetList.healthCheckNodePort) + ["dst", "-j", "ACCEPT"])

        // KUBE-IPVS-FILTER: a VIP bound on kube-ipvs0 is a local address, so without this any host
        // port would answer on it (kubernetes#72236); service ports RETURN, the rest is rejected.
        for base in [IPSetList.loadBalancer, IPSetList.clusterIP, IPSetList.externalIP, IPSetList.externalIPLocal] {
            filter("KUBE-IPVS-FILTER", ["-m", "set", "--match-set", sets[base].name, "dst,dst", "-j", "RETURN"])
        }
        filter("KUBE-IPVS-FILTER", ["-m", "set", "--match-set", sets[IPSetList.healthCheckNodePort].name, "dst", "-j", "RETURN"])
        filter("KUBE-IPVS-FILTER", ["-m", "conntrack", "--ctstate", "NEW", "-m", "set", "--match-set", sets[IPSetList.ipvsIPs].name, "dst", "-j", "REJECT"])

        nat("KUBE-POSTROUTING", ["-m", "mark", "!", "--mark", "\(mark)/\(mark)", "-j", "RETURN"])
        // Clear the mark so a packet that traverses the stack again is not masqueraded twice.
        nat("KUBE-POSTROUTING", ["-j", "MARK", "--xor-mark", mark])
        nat("KUBE-POSTROUTING", ["-m", "comment", "--comment", "\"kubernetes service traffic requiring SNAT\"", "-j", "MASQUERADE"]
            + (config.randomFully ? ["--random-fully"] : []))
        nat("KUBE-MARK-MASQ", ["-j", "MARK", "--or-mark", mark])
        return r
    }

    /// `iptablesJumpChain`, each installed with `EnsureRule(Prepend, ...)` and only a comment
    /// match (no conntrack state, unlike the iptables mode), in their final order: kubelet's
    /// INPUT/OUTPUT → KUBE-FIREWALL (IPv4) are there first, each prepend lands at position 1.
    static func jumps(_ config: ProxierConfig) -> [IPTablesRuleset.Jump] {
        typealias J = IPTablesRuleset.Jump
        func j(_ table: String, _ chain: String, _ comment: String, _ target: String) -> J {
            J(table: table, chain: chain, words: ["-m", "comment", "--comment", "\"\(comment)\"", "-j", target])
        }
        let proxyJumps = [
            j("nat", "OUTPUT", "kubernetes service portals", "KUBE-SERVICES"),
            j("nat", "PREROUTING", "kubernetes service portals", "KUBE-SERVICES"),
            j("nat", "POSTROUTING", "kubernetes postrouting rules", "KUBE-POSTROUTING"),
            j("filter", "FORWARD", "kubernetes forwarding rules", "KUBE-FORWARD"),
            j("filter", "INPUT", "kubernetes health check rules", "KUBE-NODE-PORT"),
            j("filter", "INPUT", "kube-proxy firewall rules", "KUBE-PROXY-FIREWALL"),
            j("filter", "FORWARD", "kube-proxy firewall rules", "KUBE-PROXY-FIREWALL"),
            j("filter", "INPUT", "kubernetes ipvs access filter", "KUBE-IPVS-FILTER"),
            j("filter", "OUTPUT", "kubernetes ipvs access filter", "KUBE-IPVS-OUT-FILTER"),
        ]
        var byChain: [String: [J]] = [:]
        if config.family == .ipv4 {
            for chain in ["INPUT", "OUTPUT"] { byChain["filter " + chain, default: []].append(J(table: "filter", chain: chain, words: ["-j", "KUBE-FIREWALL"])) }
        }
        for jump in proxyJumps { byChain[jump.table + " " + jump.chain, default: []].insert(jump, at: 0) }
        let order = ["filter INPUT", "filter FORWARD", "filter OUTPUT", "nat PREROUTING", "nat INPUT", "nat OUTPUT", "nat POSTROUTING"]
        return order.flatMap { byChain[$0] ?? [] }
    }
}
