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
    /// nft base chains (not nat) of a host with an nft ruleset (`NFTChainsHook`) whose
    /// priority lies in the range (`Tracer.interleaveNFT` slots them between the steps).
    case nft(Hook, ClosedRange<Int>)
}

/// One level of the chain call stack: which chain, and the next rule to try.
struct WalkFrame: Sendable {
    var chain: Int
    var next: Int
}

/// A rule's place in the prepared ruleset: table, chain index, rule index. Trivial to copy (no
/// strings), so the walk can note it on every accept; `Tracer.reference(_:)` names it.
struct RuleSite: Sendable, Equatable {
    var table: TableName
    var chain: Int
    var rule: Int
}

/// What decided a path, as the walk records it: a rule by its place, or a stage. The public
/// `Decider` (with the rule's chain name and text) is built from it once, when the path ends.
enum DecisionSite: Sendable, Equatable {
    case rule(RuleSite)
    case policy, routing, conntrack, ipvs, loop
    /// An nft rule (`NFTChainsHook`).
    case nft(NFTRuleReference)
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
    /// How the path ended, once it has: the verdict, what decided it, and why.
    private(set) var finished: End?
    /// Whether the path has ended: asked at every step, where testing `finished` copied and
    /// destroyed the optional `End` (its reason is a string) through the runtime each time.
    private(set) var isFinished = false
    /// The last decision taken in a filter-type chain (for decided_by on accepted paths).
    var lastFilterDecision = DecisionSite.policy
    var masqueradeMarked = false
    var dnat: SocketAddress?
    var snat: SocketAddress?
    var deliveredTo: Delivery?
    var originalDestination: IPAddress
    var recordSteps = true
    /// Whether the path consulted state that a later packet of the same flow could find
    /// changed: a `statistic` draw or counter, a `recent` list, IPVS. Replay's flow cache
    /// reuses only paths that did not.
    var consultedState = false
    /// Whether a rule read the packet's TCP flags (`--tcp-flags`, `--syn`): a later packet of
    /// the flow with other flags may walk differently, so replay's flow cache keys on them.
    var consultedTCPFlags = false
    /// Whether the packet reached the INPUT hook (it was for this host, or IPVS took it there).
    var reachedInput = false
    /// skb->ipvs_property: IPVS already handled this packet, so its hooks let it pass.
    var ipvsHandled = false
    /// Rules whose matches were evaluated (for ns-per-rule figures).
    var rulesTried = 0
    /// A chain walk interrupted by a branch: the call stack, and the rule and match to resume at.
    var frames: [WalkFrame] = []
    var resume: (rule: Int, match: Int, forced: Bool)?
    /// The socket a locally generated packet leaves from (`-m owner`); nil for packets from
    /// elsewhere, which have none.
    var socket: SocketOwner?
    /// How many `-m set` matches of the rule being evaluated consulted a set the host does not
    /// have (taken as empty), so that the walk notes them on the rule's step; cleared there.
    /// Matches are evaluated in order, so these are the rule's first missing-set matches.
    var missingSetsConsulted = 0
    /// The header constants this path's tests compared with, when recorded
    /// (`TraceOptions.recordConstants`).
    var constants: HeaderConstants?

    init(packet: Packet, host: Host, seed: UInt64) {
        self.packet = packet
        self.host = host
        self.rng = SeededGenerator(seed: seed)
        self.originalDestination = packet.destination
    }

    /// The hook where conntrack first sees this packet.
    var entryHook: Hook { packet.inInterface == nil ? .output : .prerouting }

    /// Records a step. The subject, text, rewrite and action are autoclosures: they are built
    /// only when steps are recorded, so bulk tracing pays nothing for them.
    mutating func step(_ hook: Hook?, _ subject: @autoclosure () -> StepSubject, text: @autoclosure () -> String? = nil,
                       rewrite: @autoclosure () -> Rewrite? = nil, _ action: @autoclosure () -> String) {
        guard recordSteps else { return }
        steps.append(TraceStep(node: host.name, hook: hook, subject: subject(), text: text(), action: action(),
                               rewrite: rewrite(), packet: packet))
    }

    /// A path's end as the walk records it; `Tracer` turns it into the public `PathEnd`.
    struct End: Sendable {
        var verdict: Verdict
        var decidedBy: DecisionSite
        /// Why, for drops and rejects.
        var reason: String?
    }

    /// Ends the path.
    mutating func finish(_ verdict: Verdict, _ decidedBy: DecisionSite, _ reason: String? = nil) {
        finished = End(verdict: verdict, decidedBy: decidedBy, reason: reason)
        isFinished = true
    }
}
