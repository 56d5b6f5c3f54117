/// Why a rule exists, as the program that wrote it knows it: kdp's kube-proxy compiler sets it
/// on every rule it builds (and the flannel rules and a topology's extra rules carry theirs), so explanations read a typed fact instead of parsing the rule's
/// comment back. Rules parsed from text (a real node's dump) have none.
public struct RuleOrigin: Hashable, Sendable {
    /// The Service port the rule serves; nil for kube-proxy's shared rules (the jumps from the
    /// built-in chains, masquerading, forwarding) and for IPVS mode, whose rules match ipsets.
    public var servicePort: ServicePortName?
    public var purpose: Purpose

    public init(_ purpose: Purpose, servicePort: ServicePortName? = nil) {
        self.purpose = purpose
        self.servicePort = servicePort
    }

    /// What the rule does for its Service port (or for the node), named after the comments and
    /// functions of pkg/proxy/iptables/proxier.go and pkg/proxy/ipvs/proxier.go.
    public enum Purpose: Hashable, Sendable {
        /// The ClusterIP to the service chain (`"<port> cluster IP"`), or in the service chain
        /// the mark for masquerading off-pod traffic to it.
        case clusterIP
        /// An externalIP to the external chain (`"<port> external IP"`).
        case externalIP
        /// A LoadBalancer VIP to the external or firewall chain (`"<port> loadbalancer IP"`).
        case loadBalancerIP
        /// The nodePort to the external chain (KUBE-NODEPORTS, KUBE-NODE-PORT's sets).
        case nodePort
        /// The health-check nodePort accepted (`"<port> health check node port"`).
        case healthCheckNodePort
        /// REJECT: the port has no endpoints at all (`"<port> has no endpoints"`).
        case noEndpoints
        /// DROP: the traffic policy is Local and this node has no local endpoint
        /// (`"<port> has no local endpoints"`); which policy, by the traffic.
        case noLocalEndpoints(Traffic)
        /// DROP in KUBE-PROXY-FIREWALL: traffic to a VIP that the firewall chain did not pass
        /// (`"<port> traffic not accepted by KUBE-FW-..."`).
        case loadBalancerFirewall
        /// loadBalancerSourceRanges: the firewall chain's allowed sources, its closing comment
        /// rule, and IPVS mode's source-range sets and drops.
        case sourceRanges
        /// The external chain's routing of pod and node traffic, and its jump to the policy chain.
        case externalTraffic
        /// ClientIP session affinity: the `recent --rcheck` jumps to the endpoint last used.
        case sessionAffinity
        /// The service chain's (probabilistic) jump to one endpoint (`"<port> -> <ip:port>"`).
        case endpointSelection
        /// The endpoint chain's DNAT to the endpoint.
        case endpointDNAT
        /// A pod reaching itself through the Service is masqueraded (the endpoint chain's
        /// `-s <endpoint>` rule; IPVS mode's KUBE-LOOP-BACK set).
        case hairpin
        /// Marks traffic for masquerading (a jump to KUBE-MARK-MASQ: external traffic, IPVS
        /// mode's set matches).
        case masquerade
        /// KUBE-MARK-MASQ's own rule: sets the masquerade mark.
        case markForMasquerade
        /// KUBE-POSTROUTING: masquerades marked traffic and clears the mark.
        case masqueradeMarked
        /// KUBE-SERVICES' last rule: local destinations to the nodePort chain.
        case nodePortDispatch
        /// KUBE-FORWARD: marked and established traffic accepted, INVALID dropped.
        case forward
        /// kubelet's (or kube-proxy's copy of) KUBE-FIREWALL: no martian 127/8 destinations.
        case localnetFirewall
        /// A jump from a built-in chain into kube-proxy's chains.
        case hookJump
        /// IPVS mode: connections from localhost left to the host (`-s 127.0.0.0/8 -j RETURN`).
        case ipvsLocalhost
        /// IPVS mode's `acceptIPVSTraffic`: service traffic accepted before other rules.
        case ipvsAccept
        /// IPVS mode's KUBE-IPVS-FILTER: only service ports answer on kube-ipvs0 addresses.
        case ipvsFilter
        /// flanneld `--ip-masq`: FLANNEL-POSTRTG and its POSTROUTING jump (`"flanneld masq"`).
        case flannelMasquerade
        /// flanneld's FLANNEL-FWD and its FORWARD jump (`"flanneld forward"`).
        case flannelForward
        /// A rule the topology adds to the node (`nodes[].extraRules`): the file and the line
        /// the rule is written on.
        case extraRule(file: String, line: Int)
    }

    /// Which program put the rule on the node.
    public enum Writer: Hashable, Sendable {
        /// kube-proxy (and kubelet's KUBE-FIREWALL chain, which kube-proxy writes too).
        case kubeProxy
        /// The CNI: flanneld.
        case flannel
        /// The topology's `extraRules`: a user's own rules.
        case topology
    }

    public var writer: Writer {
        switch purpose {
        case .flannelMasquerade, .flannelForward: .flannel
        case .extraRule: .topology
        default: .kubeProxy
        }
    }

    /// Whose traffic policy a no-local-endpoints rule applies.
    public enum Traffic: Hashable, Sendable {
        /// The ClusterIP: `internalTrafficPolicy`.
        case `internal`
        /// externalIPs, LoadBalancer VIPs and the nodePort: `externalTrafficPolicy`.
        case external
    }
}

/// A Service port's name in typed parts (kube-proxy's `ServicePortName`): printed
/// `namespace/name:port`, or `namespace/name` for an unnamed port.
public struct ServicePortName: Hashable, Sendable, CustomStringConvertible {
    public var namespace: String
    public var name: String
    /// The port's name; empty for an unnamed port.
    public var port: String

    public init(namespace: String, name: String, port: String) {
        self.namespace = namespace
        self.name = name
        self.port = port
    }

    /// As kube-proxy prints it in comments and chain hashes.
    public var description: String { port.isEmpty ? "\(namespace)/\(name)" : "\(namespace)/\(name):\(port)" }
}
