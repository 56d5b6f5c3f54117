import Cluster
import IPVS
import Wire

/// kube-proxy's IPVS mode for one node and family: `syncProxyRules` of
/// pkg/proxy/ipvs/proxier.go, as kube-proxy-rules.md §2 restates it. Services are taken in the
/// cluster's order (upstream iterates a Go map); sets, bound addresses and node IPs, which
/// upstream keeps in string sets, come out sorted.
///
/// The result is the node in steady state after a full sync on a clean host: no history, so no
/// real server is in graceful termination (upstream deletes a removed server at once when it has
/// no connections, `GracefulTerminationManager.GracefulDeleteRS`, and a compile has none).
public enum IPVSModeCompiler {
    public static func compile(_ cluster: Cluster, config: ProxierConfig, scheduler: String = "rr") -> IPVSModeRuleset {
        var s = IPVSSync(cluster: cluster, config: config, scheduler: scheduler.isEmpty ? "rr" : scheduler)
        s.run()
        var iptables = IPVSModeIPTables.write(config: config, sets: s.sets, lbNoNodeAccess: s.lbNoNodeAccess)
        iptables.jumps = IPVSModeIPTables.jumps(config)
        iptables.family = config.family
        return IPVSModeRuleset(
            family: config.family, scheduler: s.scheduler, boundAddresses: s.bound.sorted(), nodePortAddresses: s.nodeIPs,
            ipvs: s.table, ipsets: s.sets, iptables: iptables, errors: s.errors)
    }

    /// The endpoints one virtual server gets (`syncEndpoint`): with `onlyNodeLocal` (iTP=Local for
    /// the ClusterIP; eTP=Local for externalIPs, LB VIPs and nodePorts) the local endpoints, and
    /// when there are none the cluster endpoints (kubernetes#97081: pods on a node without a local
    /// endpoint can still reach the service); otherwise the cluster endpoints. Where the iptables
    /// mode drops, IPVS mode falls back; the cluster list is empty when the port never uses
    /// cluster endpoints (iTP=Local on a port that is not externally accessible).
    public static func destinations(_ categories: EndpointCategories, onlyNodeLocal: Bool) -> [EndpointInfo] {
        if onlyNodeLocal && !categories.local.isEmpty { return categories.local }
        return categories.cluster
    }
}

/// The state of one `syncProxyRules` run.
struct IPVSSync {
    let cluster: Cluster
    let config: ProxierConfig
    let scheduler: String
    var table = IPVSTable()
    var sets: IPSetList
    /// `activeBindAddrs`.
    var bound: Set<IPAddress> = []
    var nodeIPs: [IPAddress] = []
    /// `nodeAddressSet`: the node's addresses of this family except kube-ipvs0's, without
    /// loopback and IPv6 link-local ones (netlink_linux.go `GetAllLocalAddressesExcept`,
    /// `isValidForSet`).
    let nodeAddressSet: Set<IPAddress>
    /// `lbNoNodeAccessIPPortProtocolEntries`: LB VIP, protocol, port of LBs with source ranges
    /// that leave the node out.
    var lbNoNodeAccess: [(IPAddress, String, UInt16)] = []
    var errors: [String] = []

    init(cluster: Cluster, config: ProxierConfig, scheduler: String) {
        self.cluster = cluster
        self.config = config
        self.scheduler = scheduler
        sets = IPSetList(family: config.family)
        nodeAddressSet = Set(config.localAddresses.filter {
            $0.family == config.family && !$0.isLoopback && !($0.v6?.isLinkLocal ?? false)
        })
    }

    mutating func run() {
        let ports: [ServicePortInfo] = cluster.services.flatMap { svc in
            svc.ports.compactMap { ServicePortInfo(service: svc, port: $0, family: config.family) }
        }
        nodeIPs = nodePortIPs(ports)
        let zone = config.nodeLabels[Node.zoneLabel]
        for info in ports {
            let eps = info.endpoints(in: cluster, nodeName: config.nodeName, family: config.family)
            syncServicePort(info, eps, EndpointCategories(eps, port: info, nodeName: config.nodeName, zone: zone))
        }
        // KUBE-IPVS-IPS is set to exactly the bound addresses.
        for ip in bound.sorted() { sets.insert(into: KubeIPSetName.ipvsIPs, IPSetEntry.ip(ip)) }
        for set in sets.sets {
            for e in set.refused { errors.append("ipset add \(set.name) \(e): refused by the kernel") }
        }
    }

    /// The node IPs that get a virtual server per nodePort, computed only when some port has a
    /// nodePort. With nodeport-addresses matching all: `nodeAddressSet`. Otherwise every interface
    /// address inside the CIDRs (`NodePortAddresses.GetNodeIPs`, which lists all interfaces, so
    /// kube-ipvs0's addresses from the previous sync count too: this is the steady state), less
    /// loopback.
    func nodePortIPs(_ ports: [ServicePortInfo]) -> [IPAddress] {
        guard ports.contains(where: { $0.nodePort != nil }) else { return [] }
        let cidrs = config.familyNodePortAddresses
        if cidrs.isEmpty || cidrs.contains(where: { $0.length == 0 }) { return nodeAddressSet.sorted() }
        var dummy: [IPAddress] = []
        for p in ports {
            dummy.append(p.clusterIP)
            dummy += (p.externalIPs + p.loadBalancerVIPs).filter { !nodeAddressSet.contains($0) }
        }
        let all = Set(config.localAddresses + dummy).filter { $0.family == config.family }
        return all.filter { ip in !ip.isLoopback && cidrs.contains { $0.contains(ip) } }.sorted()
    }

    /// One service port, in upstream's order: hairpin entries, the ClusterIP, externalIPs, LB
    /// VIPs, the nodePort, the health-check nodePort.
    mutating func syncServicePort(_ svc: ServicePortInfo, _ eps: [EndpointInfo], _ cats: EndpointCategories) {
        let proto = svc.protocolName
        let port = svc.port.port
        // Hairpin: every local endpoint, whatever its condition (the endpoints map holds them all).
        for e in eps where e.isLocal {
            sets.insert(into: KubeIPSetName.loopBack, IPSetEntry.ipPortIP(e.ip, svc.port.protocol, e.port, e.ip))
        }

        sets.insert(into: KubeIPSetName.clusterIP, IPSetEntry.ipPort(svc.clusterIP, svc.port.protocol, port))
        // The ClusterIP is always bound; iTP decides its endpoints (eTP does not apply to it).
        if syncService(svc, svc.clusterIP, port, bind: true) {
            syncEndpoint(svc, svc.clusterIP, port, IPVSModeCompiler.destinations(cats, onlyNodeLocal: svc.internalPolicyLocal))
        }

        for ip in svc.externalIPs {
            let entry = IPSetEntry.ipPort(ip, svc.port.protocol, port)
            sets.insert(into: svc.externalPolicyLocal ? KubeIPSetName.externalIPLocal : KubeIPSetName.externalIP, entry)
            // Not bound when the address is on another interface already.
            if syncService(svc, ip, port, bind: !nodeAddressSet.contains(ip)) {
                syncEndpoint(svc, ip, port, IPVSModeCompiler.destinations(cats, onlyNodeLocal: svc.externalPolicyLocal))
            }
        }

        for vip in svc.loadBalancerVIPs {
            let entry = IPSetEntry.ipPort(vip, svc.port.protocol, port)
            sets.insert(into: KubeIPSetName.loadBalancer, entry)
            if svc.externalPolicyLocal { sets.insert(into: KubeIPSetName.loadBalancerLocal, entry) }
            if !svc.loadBalancerSourceRanges.isEmpty {
                // Source ranges apply to LB traffic only (they preserve the client address).
                sets.insert(into: KubeIPSetName.loadBalancerFW, entry)
                var allowFromNode = false
                for cidr in svc.loadBalancerSourceRanges {
                    sets.insert(into: KubeIPSetName.loadBalancerSourceCIDR, IPSetEntry.ipPortNet(vip, svc.port.protocol, port, cidr))
                    if let nodeIP = config.nodeIP, cidr.contains(nodeIP) { allowFromNode = true }
                }
                if allowFromNode {
                    // The node reaching its own VIP comes from the VIP (it is on kube-ipvs0).
                    sets.insert(into: KubeIPSetName.loadBalancerSourceIP, IPSetEntry.ipPortIP(vip, svc.port.protocol, port, vip))
                } else {
                    // The node is not allowed: KUBE-IPVS-OUT-FILTER drops its traffic to the VIP.
                    lbNoNodeAccess.append((vip, proto, port))
                }
            }
            if syncService(svc, vip, port, bind: !nodeAddressSet.contains(vip)) {
                syncEndpoint(svc, vip, port, IPVSModeCompiler.destinations(cats, onlyNodeLocal: svc.externalPolicyLocal))
            }
        }

        if let np = svc.nodePort {
            // No node IP: upstream skips the rest of this port, health-check port included.
            guard !nodeIPs.isEmpty else { return }
            var entries: [IPSetEntry] = []
            var set: KubeIPSetName?, localSet: KubeIPSetName?
            switch svc.port.protocol {
            case .tcp:
                (set, localSet) = (KubeIPSetName.nodePortTCP, KubeIPSetName.nodePortLocalTCP)
                entries = [IPSetEntry.port(np)]
            case .udp:
                (set, localSet) = (KubeIPSetName.nodePortUDP, KubeIPSetName.nodePortLocalUDP)
                entries = [IPSetEntry.port(np)]
            case .sctp:
                // SCTP cannot go in a bitmap:port set: hash:ip,port with every node IP.
                (set, localSet) = (KubeIPSetName.nodePortSCTP, KubeIPSetName.nodePortLocalSCTP)
                entries = nodeIPs.map { IPSetEntry.ipPort($0, svc.port.protocol, np) }
            default:
                break
            }
            if let set { for e in entries { sets.insert(into: set, e) } }
            if svc.externalPolicyLocal, let localSet { for e in entries { sets.insert(into: localSet, e) } }
            for ip in nodeIPs where syncService(svc, ip, np, bind: false) {
                syncEndpoint(svc, ip, np, IPVSModeCompiler.destinations(cats, onlyNodeLocal: svc.externalPolicyLocal))
            }
        }

        if let hc = svc.healthCheckNodePort {
            sets.insert(into: KubeIPSetName.healthCheckNodePort, IPSetEntry.port(hc))
        }
    }

    /// The kernel's IPVS schedulers (net/netfilter/ipvs/ip_vs_*.c).
    static let kernelSchedulers: Set<String> = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"]

    /// `syncService`: create (or update) the virtual server, then bind its address. Every virtual
    /// server gets the scheduler; ClientIP affinity makes it persistent with the stickiness
    /// timeout; `mh` needs `FlagSourceHash` (0x10, ipvsadm's `mh-port`).
    mutating func syncService(_ svc: ServicePortInfo, _ address: IPAddress, _ port: UInt16, bind: Bool) -> Bool {
        let key = ServiceKey(protocol: svc.port.protocol, address: address, port: port)
        guard let sched = SchedulerName(rawValue: scheduler) else {
            // Upstream hands the name to the kernel, which refuses a scheduler it has no module for.
            let why = Self.kernelSchedulers.contains(scheduler) ? "not emulated by kdp's IPVS core" : "no such scheduler in the kernel"
            errors.append("\(svc.name): \(address.joined(port: port))/\(svc.protocolName): scheduler \(scheduler): \(why)")
            return false
        }
        var flags: ServiceFlags = []
        var timeout: UInt32 = 0
        if let seconds = svc.affinitySeconds {
            flags.insert(.persistent)
            timeout = UInt32(seconds)
        }
        if sched == .mh { flags.insert(.sched2) }
        let config = ServiceConfig(key: key, scheduler: sched, flags: flags, timeout: timeout)
        do {
            if let existing = table.serviceIndex(key) {
                // Another service port has the same address:port: the later one updates it.
                if table.services[Int(existing)].config != config { try table.editService(existing, config: config) }
            } else {
                try table.addService(config)
            }
        } catch {
            errors.append("\(svc.name): \(address.joined(port: port))/\(svc.protocolName): \(error)")
            return false
        }
        if bind { bound.insert(address) }
        return true
    }

    /// `syncEndpoint`: the wanted real servers, weight 1; servers no longer wanted are deleted
    /// (graceful termination has nothing to wait for without connections).
    mutating func syncEndpoint(_ svc: ServicePortInfo, _ address: IPAddress, _ port: UInt16, _ endpoints: [EndpointInfo]) {
        guard let index = table.serviceIndex(ServiceKey(protocol: svc.port.protocol, address: address, port: port)) else { return }
        let wanted = Set(endpoints.map(\.string))
        for d in table.services[Int(index)].destinations where !wanted.contains(d.address.joined(port: d.port)) {
            try? table.deleteDestination(service: index, address: d.address, port: d.port)
        }
        var added: Set<String> = []
        for e in endpoints where added.insert(e.string).inserted {
            if table.services[Int(index)].destinations.contains(where: { $0.address == e.ip && $0.port == e.port }) { continue }
            do {
                try table.addDestination(service: index, DestinationConfig(address: e.ip, port: e.port, weight: 1))
            } catch {
                errors.append("\(svc.name): \(address.joined(port: port)) -> \(e.string): \(error)")
            }
        }
    }
}
