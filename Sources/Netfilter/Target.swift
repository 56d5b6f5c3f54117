import Wire

/// What `-j REJECT --reject-with` sends (libipt_REJECT.c names).
public enum RejectKind: String, Hashable, Sendable {
    case icmpNetUnreachable = "icmp-net-unreachable"
    case icmpHostUnreachable = "icmp-host-unreachable"
    case icmpPortUnreachable = "icmp-port-unreachable"
    case icmpProtoUnreachable = "icmp-proto-unreachable"
    case icmpNetProhibited = "icmp-net-prohibited"
    case icmpHostProhibited = "icmp-host-prohibited"
    case icmpAdminProhibited = "icmp-admin-prohibited"
    case tcpReset = "tcp-reset"
    // ip6tables (libip6t_REJECT.c)
    case icmp6NoRoute = "icmp6-no-route"
    case icmp6AdmProhibited = "icmp6-adm-prohibited"
    case icmp6AddrUnreachable = "icmp6-addr-unreachable"
    case icmp6PortUnreachable = "icmp6-port-unreachable"
    case icmp6PolicyFail = "icmp6-policy-fail"
    case icmp6RejectRoute = "icmp6-reject-route"
}

/// A NAT range: `--to-destination`/`--to-source` `[ip[-ip]][:port[-port]]`
/// (struct nf_nat_range2). A nil address range keeps the address, a nil port range the port.
public struct NATRange: Hashable, Sendable, CustomStringConvertible {
    public var firstAddress: IPAddress?
    public var lastAddress: IPAddress?
    public var ports: PortRange?

    public init(firstAddress: IPAddress?, lastAddress: IPAddress?, ports: PortRange?) {
        self.firstAddress = firstAddress
        self.lastAddress = lastAddress
        self.ports = ports
    }

    public var addressCount: UInt128 {
        guard let a = firstAddress, let b = lastAddress else { return 1 }
        return b.bits - a.bits + 1
    }

    public var description: String {
        var s = ""
        if let a = firstAddress {
            let v6 = a.family == .ipv6 && ports != nil
            s += v6 ? "[\(a)" : "\(a)"
            if let b = lastAddress, b != a { s += "-\(b)" }
            if v6 { s += "]" }
        }
        if let p = ports { s += p.lower == p.upper ? ":\(p.lower)" : ":\(p.lower)-\(p.upper)" }
        return s
    }
}

/// What a rule does to a packet it matches.
public enum Target: Hashable, Sendable {
    case accept
    case drop
    case reject(RejectKind)
    /// `-j RETURN`: back to the calling chain, or the policy in a built-in chain.
    case returnFromChain
    case jump(String)
    case goto(String)
    // The NAT targets are stored inline, not boxed: every new connection's walk reads one, and
    // a box would be one more cache miss per packet.
    case dnat(NATRange, random: Bool, persistent: Bool)
    case snat(NATRange, random: Bool, randomFully: Bool, persistent: Bool)
    case masquerade(ports: PortRange?, random: Bool, randomFully: Bool)
    /// `-j REDIRECT`: DNAT to the primary address of the incoming interface.
    case redirect(ports: PortRange?, random: Bool)
    /// MARK in its kernel form (xt_mark.c `mark_tg`): mark = (mark & ~mask) ^ value.
    case mark(value: UInt32, mask: UInt32)
    /// CONNMARK --set-xmark: ctmark = (ctmark & ~mask) ^ value.
    case connmarkSet(value: UInt32, mask: UInt32)
    /// CONNMARK --save-mark: ctmark = (ctmark & ~ctmask) ^ (mark & nfmask).
    case connmarkSave(nfmask: UInt32, ctmask: UInt32)
    /// CONNMARK --restore-mark: mark = (mark & ~nfmask) ^ (ctmark & ctmask).
    case connmarkRestore(nfmask: UInt32, ctmask: UInt32)
    indirect case log(prefix: String)
    case trace
    /// CT --notrack and NOTRACK: the packet stays untracked (raw table).
    case notrack
    /// Other CT options (zones, helpers): recorded, no effect in kdp.
    indirect case ct(String)

    /// True when evaluation of the table stops at this rule.
    public var isTerminal: Bool {
        switch self {
        case .accept, .drop, .reject, .dnat, .snat, .masquerade, .redirect: true
        default: false
        }
    }
}
