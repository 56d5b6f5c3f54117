import IPVS
import Netfilter
import Wire

/// What one sync of kube-proxy's IPVS mode leaves on a node for one IP family
/// (pkg/proxy/ipvs/proxier.go `syncProxyRules`): the addresses bound to the `kube-ipvs0` dummy
/// interface, the IPVS virtual servers and their real servers, the ipsets, and the iptables rules
/// that still do marking, masquerading and filtering around IPVS.
public struct IPVSModeRuleset: Sendable {
    /// `defaultDummyDevice`.
    public static let dummyDevice = "kube-ipvs0"

    public var family: IPFamily
    public var scheduler: String
    /// Addresses bound to kube-ipvs0 (`activeBindAddrs`), sorted: every ClusterIP, and each
    /// externalIP and LB VIP that is not already on another interface.
    public var boundAddresses: [IPAddress]
    /// The node addresses that got a virtual server per nodePort (`nodeIPs`), sorted.
    public var nodePortAddresses: [IPAddress]
    public var ipvs: IPVSTable
    public var ipsets: IPSetList
    /// nat and filter rules and the jumps from the built-in chains, as the iptables mode's type
    /// holds them, so `restoreText()`, `saveText()` and `netfilterRuleset(source:)` apply.
    public var iptables: IPTablesRuleset
    /// What upstream would log and skip: a virtual server the kernel refused (an unknown
    /// scheduler, for one), as `"<service port>: <address:port/proto>: <reason>"`.
    public var errors: [String] = []

    /// `ipvsadm -S -n`.
    public func ipvsadmSaveText() -> String { IPVSAdm.save(ipvs) }

    /// `ipvsadm -Ln`.
    public func ipvsadmListText() -> String { IPVSAdm.list(ipvs) }

    /// `ipset save` after the sync (see `IPSetList.saveText`).
    public func ipsetSaveText() -> String { ipsets.saveText() }

    /// The sets as the Netfilter engine takes them for `-m set`.
    public func ipsetStore() -> IPSetStore { ipsets.store() }

    /// The text IPVS mode hands to `iptables-restore --noflush --counters`: unlike the iptables
    /// mode it writes the nat buffers before the filter ones (`syncProxyRules`: natChains,
    /// natRules, filterChains, filterRules).
    public func iptablesRestoreText() -> String {
        var out = ""
        for table in [iptables.nat, iptables.filter] {
            out += "*\(table.name.rawValue)\n"
            for c in table.chains { out += ":\(c.rawValue) - [0:0]\n" }
            for r in table.rules { out += r.line + "\n" }
            out += "COMMIT\n"
        }
        return out
    }

    /// What `iptables-save` shows on the node: as `IPTablesRuleset.saveText()`, less the
    /// KUBE-PROXY-CANARY chains, which only the iptables proxier creates (its `NewProxier`
    /// starts `iptables.Monitor`; the IPVS proxier's does not).
    public func iptablesSaveText() throws -> String {
        try iptables.saveText(proxyCanary: false)
    }

    /// The node's rules for the Netfilter engine in process, each with its origin: kube-proxy's
    /// and kubelet's KUBE-FIREWALL, which IPVS mode never declares but its INPUT/OUTPUT jumps
    /// reach (`IPTablesRuleset.nodeFilter`).
    public func netfilterRuleset(source: String) throws(RulesetParseError) -> Ruleset {
        try iptables.netfilterRuleset(source: source)
    }

    /// The virtual server for (protocol, address, port), if there is one.
    public func virtualServer(_ proto: IPProtocol, _ address: IPAddress, _ port: UInt16) -> VirtualService? {
        ipvs.serviceIndex(ServiceKey(protocol: proto, address: address, port: port)).map { ipvs.services[Int($0)] }
    }
}
