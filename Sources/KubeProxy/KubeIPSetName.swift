import Netfilter

/// The seventeen sets of IPVS mode's `ipsetInfo` (pkg/proxy/ipvs/proxier.go), in that order, by
/// the names upstream's code gives them (pkg/proxy/ipvs/ipset.go); the raw value is the IPv4
/// set's name. The compiler names sets by this type, so a set is found by its position, not by
/// comparing names.
public enum KubeIPSetName: String, CaseIterable, Sendable {
    case loopBack = "KUBE-LOOP-BACK"
    case clusterIP = "KUBE-CLUSTER-IP"
    case externalIP = "KUBE-EXTERNAL-IP"
    case externalIPLocal = "KUBE-EXTERNAL-IP-LOCAL"
    case loadBalancer = "KUBE-LOAD-BALANCER"
    case loadBalancerFW = "KUBE-LOAD-BALANCER-FW"
    case loadBalancerLocal = "KUBE-LOAD-BALANCER-LOCAL"
    case loadBalancerSourceIP = "KUBE-LOAD-BALANCER-SOURCE-IP"
    case loadBalancerSourceCIDR = "KUBE-LOAD-BALANCER-SOURCE-CIDR"
    case nodePortTCP = "KUBE-NODE-PORT-TCP"
    case nodePortLocalTCP = "KUBE-NODE-PORT-LOCAL-TCP"
    case nodePortUDP = "KUBE-NODE-PORT-UDP"
    case nodePortLocalUDP = "KUBE-NODE-PORT-LOCAL-UDP"
    case nodePortSCTP = "KUBE-NODE-PORT-SCTP-HASH"
    case nodePortLocalSCTP = "KUBE-NODE-PORT-LOCAL-SCTP-HASH"
    case healthCheckNodePort = "KUBE-HEALTH-CHECK-NODE-PORT"
    case ipvsIPs = "KUBE-IPVS-IPS"

    /// The set's position in `ipsetInfo`, and so in `IPSetList.sets`.
    var index: Int { Self.allCases.firstIndex(of: self)! }

    /// `ipsetInfo`'s type.
    var type: IPSetType {
        switch self {
        case .loopBack, .loadBalancerSourceIP: .hashIPPortIP
        case .loadBalancerSourceCIDR: .hashIPPortNet
        case .nodePortTCP, .nodePortLocalTCP, .nodePortUDP, .nodePortLocalUDP, .healthCheckNodePort: .bitmapPort
        case .ipvsIPs: .hashIP
        case .clusterIP, .externalIP, .externalIPLocal, .loadBalancer, .loadBalancerFW, .loadBalancerLocal, .nodePortSCTP,
             .nodePortLocalSCTP: .hashIPPort
        }
    }

    /// `ipsetInfo`'s comment, which upstream writes into the iptables rules that match the set.
    var comment: String {
        switch self {
        case .loopBack: "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"
        case .clusterIP: "Kubernetes service cluster ip + port for masquerade purpose"
        case .externalIP: "Kubernetes service external ip + port for masquerade and filter purpose"
        case .externalIPLocal: "Kubernetes service external ip + port with externalTrafficPolicy=local"
        case .loadBalancer: "Kubernetes service lb portal"
        case .loadBalancerFW: "Kubernetes service load balancer ip + port for load balancer with sourceRange"
        case .loadBalancerLocal: "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"
        case .loadBalancerSourceIP: "Kubernetes service load balancer ip + port + source IP for packet filter purpose"
        case .loadBalancerSourceCIDR: "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"
        case .nodePortTCP: "Kubernetes nodeport TCP port for masquerade purpose"
        case .nodePortLocalTCP: "Kubernetes nodeport TCP port with externalTrafficPolicy=local"
        case .nodePortUDP: "Kubernetes nodeport UDP port for masquerade purpose"
        case .nodePortLocalUDP: "Kubernetes nodeport UDP port with externalTrafficPolicy=local"
        case .nodePortSCTP: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'"
        case .nodePortLocalSCTP: "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'"
        case .healthCheckNodePort: "Kubernetes health check node port"
        case .ipvsIPs: "Addresses on the ipvs interface"
        }
    }
}
