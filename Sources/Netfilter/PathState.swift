import Wire

/// Where a path is in the kernel's packet flow.
enum FlowStep: Sendable, Equatable {
    case table(Hook, TableName)
    /// nf_conntrack_in (priority -200, after raw).
    case conntrackIn
    /// The nat hooks: walk the nat chains for a new connection, else apply the stored NAT.
    case nat(Hook)
    /// The routing decision after PREROUTING.
    case routeInput
    /// Locally generated: the route lookup before OUTPUT.
    case routeOutput
    /// ip_route_me_harder after OUTPUT when nat/mangle changed the destination.
    case reroute
    /// __nf_conntrack_confirm (POSTROUTING / INPUT, last).
    case confirm
    /// Locally generated: transmit, or loop back in through `lo`.
    case afterOutput
    /// Out through loopback and in again (locally generated, local destination).
    case loopback
    case deliver
    case transmit
    /// ip_vs_in_hook (LOCAL_IN after filter, LOCAL_OUT after nat): schedule or follow an IPVS
    /// connection, rewrite the destination and send the packet on through LOCAL_OUT.
    case ipvsRequest(Hook)
    /// ip_vs_out_hook (LOCAL_IN, LOCAL_OUT, FORWARD): a real server's reply gets the virtual
    /// address back as its source.
    case ipvsReply(Hook)
}

/// One level of the chain call stack: which chain, and the next rule to try.
struct WalkFrame: Sendable {
    var chain: Int
    var next: Int
}

/// One path being followed: the packet, the host as this path sees it, the random source, the
/// probability so far, the steps. Copied when the path branches.
struct PathState: Sendable {
    var packet: Packet
    var host: Host
    var rng: SeededGenerator
    var probability: Double = 1
    var steps: [TraceStep] = []
    var conn = ConnectionState()
    var program: [FlowStep] = []
    var pc = 0
    var finished: (Verdict, String, String?)?
    /// The origin of the DROP or REJECT rule that finished the path, when kdp compiled it.
    var finishedOrigin: RuleOrigin?
    /// The last decision taken in a filter-type chain (for decided_by on accepted paths).
    var lastFilterDecision = "policy"
    var masqueradeMarked = false
    var dnat: String?
    var snat: String?
    var deliveredTo: String?
    var originalDestination: IPAddress
    var recordSteps = true
    /// skb->ipvs_property: IPVS already handled this packet, so its hooks let it pass.
    var ipvsHandled = false
    /// Rules whose matches were evaluated (for ns-per-rule figures).
    var rulesTried = 0
    /// A chain walk interrupted by a branch: the call stack, and the rule and match to resume at.
    var frames: [WalkFrame] = []
    var resume: (rule: Int, match: Int, forced: Bool)?

    init(packet: Packet, host: Host, seed: UInt64) {
        self.packet = packet
        self.host = host
        self.rng = SeededGenerator(seed: seed)
        self.originalDestination = packet.destination
    }

    /// The hook where conntrack first sees this packet.
    var entryHook: Hook { packet.inInterface == nil ? .output : .prerouting }

    /// Records a step; the action text is built only when steps are recorded.
    mutating func step(_ hook: Hook?, _ table: String, chain: @autoclosure () -> String? = nil, rule: Int? = nil,
                       text: @autoclosure () -> String? = nil, _ action: @autoclosure () -> String) {
        guard recordSteps else { return }
        steps.append(TraceStep(node: host.name, hook: hook, table: table, chain: chain(), rule: rule, text: text(),
                               action: action(), packet: packet))
    }
}
