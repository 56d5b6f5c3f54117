import Wire

/// IPVS as netfilter's hooks meet it. The kernel registers IPVS on three hooks
/// (ip_vs_core.c: ip_vs_ops4): LOCAL_IN, after filter INPUT and before nat INPUT
/// (ip_vs_reply4 at priority 98, ip_vs_remote_request4 at 99); LOCAL_OUT, after nat OUTPUT
/// (ip_vs_local_reply4 at -99, ip_vs_local_request4 at -98); and FORWARD, after filter FORWARD
/// (ip_vs_reply4 at 100).
///
/// Netfilter does not import the IPVS module (both sit on Wire alone, ARCHITECTURE.md), so the
/// data plane plugs an IPVS table in through this protocol. Conformers are value types: each
/// traced path carries its own copy in `Host.ipvs`, as it carries conntrack.
public protocol IPVSHook: Sendable {
    /// ip_vs_in_hook: a packet that may be for a virtual service or belong to one of its
    /// connections. Looks the connection up, or schedules a new one. Without `explain` (bulk
    /// tracing that records no steps) the explanations may be left empty.
    mutating func request(_ packet: Packet, explain: Bool) -> IPVSDecision
    /// ip_vs_out_hook: a real server's packet of a known NAT (Masq) connection gets the virtual
    /// address and port back as its source; nil when the packet is not one.
    mutating func reply(_ packet: Packet, explain: Bool) -> IPVSReply?
    /// The virtual addresses (on a kube-proxy node, bound to the `kube-ipvs0` dummy interface).
    var virtualAddresses: [IPAddress] { get }
    /// Moves IPVS's clock to `seconds` (a capture's timestamp, in replay), firing the
    /// connection and template timers that fall due: IPVS keeps its own timers, apart from
    /// conntrack's.
    mutating func advanceClock(to seconds: Double)
    /// What a lookup of `packet` compares it with (`kdp verify`'s classes): every virtual
    /// address, and the ports only of the services on the packet's destination. Built once,
    /// shared by every path.
    func headerConstants(for packet: Packet) -> [SharedHeaderConstants]
    /// For all-paths tracing: every real server the scheduler could give a new connection of
    /// `packet`, each with its share of new connections and the hook's state after choosing
    /// it; nil when the packet is not a new IPVS connection with a choice to make (then
    /// `request` answers).
    mutating func requestEveryServer(_ packet: Packet, explain: Bool) -> [(decision: IPVSDecision, share: Double, hook: any IPVSHook)]?
}

extension IPVSHook {
    public mutating func advanceClock(to seconds: Double) {}
    public func headerConstants(for packet: Packet) -> [SharedHeaderConstants] { [] }
    public mutating func requestEveryServer(_ packet: Packet, explain: Bool) -> [(decision: IPVSDecision, share: Double, hook: any IPVSHook)]? { nil }
}

/// What ip_vs_in_hook did with a packet.
public enum IPVSDecision: Sendable {
    /// Not IPVS's (no virtual service, or a TCP packet that may not start a connection): it
    /// continues through the stack. The note says why, when there was a service.
    case pass(note: String?)
    /// Masq forwarding: the destination becomes the real server's; `explanation` says how the
    /// server was found (the connection entry, a persistence template, or the scheduler and why).
    case forward(to: IPAddress, port: UInt16, explanation: [String])
    /// The scheduler found no server: ICMP port unreachable, then drop (ip_vs_leave).
    case noDestination(explanation: [String])
    /// Dropped by IPVS (a connection whose server was deleted, with expire_nodest_conn=0).
    case drop(reason: String)
}

/// ip_vs_out_hook's rewrite of a reply.
public struct IPVSReply: Sendable {
    public var source: IPAddress
    public var sourcePort: UInt16
    public var explanation: String

    public init(source: IPAddress, sourcePort: UInt16, explanation: String) {
        self.source = source
        self.sourcePort = sourcePort
        self.explanation = explanation
    }
}
