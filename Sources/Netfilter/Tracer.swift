import Wire

/// How to trace.
public struct TraceOptions: Sendable {
    /// Follow every probabilistic branch (`statistic random`, DNAT address ranges) and report
    /// each path with its probability, instead of one path chosen with `seed`.
    public var allPaths = false
    public var seed: UInt64 = 1
    /// Record every rule tried, not only those that matched.
    public var verbose = false
    /// The masquerade mark bit: a path on which a MARK target set it reports `masquerade`.
    public var masqueradeMark: UInt32 = 0x4000
    /// A bound on the number of paths (all-paths mode); further branches are cut and the
    /// remaining probability goes to the branch followed.
    public var maxPaths = 65536
    /// Record steps (turn off for bulk evaluation, as the differential test and bench do).
    public var recordSteps = true
    /// The owner of the socket locally generated packets leave from (`-m owner`): root unless
    /// told otherwise.
    public var socketOwner = SocketOwner()
    /// Record the header constants each path's decisions tested (`TracePath.constants`): the
    /// path condition `kdp verify` builds its classes from. Evaluates every rule the index
    /// does not skip (no integer pre-check), as verbose traces do.
    public var recordConstants = false
    /// With `allPaths`, also branch on every real server IPVS could schedule a new connection
    /// to (each with its share). Off, IPVS decides as its state does (`kdp trace`): for rr and
    /// the hashing schedulers the state, not chance, picks the server.
    public var everyRealServer = false

    public init(allPaths: Bool = false, seed: UInt64 = 1, verbose: Bool = false, masqueradeMark: UInt32 = 0x4000,
                maxPaths: Int = 65536, recordSteps: Bool = true) {
        self.allPaths = allPaths
        self.seed = seed
        self.verbose = verbose
        self.masqueradeMark = masqueradeMark
        self.maxPaths = maxPaths
        self.recordSteps = recordSteps
    }
}

/// Follows a packet through one host's netfilter hooks, in the kernel's order, with conntrack
/// and NAT, and reports every path it can take.
///
/// Hook order (include/uapi/linux/netfilter_ipv4.h priorities): PREROUTING raw (-300),
/// conntrack (-200), mangle (-150), nat DNAT (-100); routing; INPUT mangle, filter, security,
/// nat SNAT (100), confirm; or FORWARD mangle, filter, security, then POSTROUTING mangle, nat
/// SNAT, confirm. Locally generated packets: routing, OUTPUT raw, conntrack, mangle, nat,
/// filter, security, rerouting, POSTROUTING; a local destination then loops through `lo`
/// (PREROUTING and INPUT again, keeping the connection, so nat chains do not run twice).
public struct Tracer: Sendable {
    let prepared: PreparedRuleset
    /// Whether dispatch chains use the compiled index.
    public let isCompiled: Bool

    /// Prepares `ruleset` for tracing; with `compiled`, dispatch chains (KUBE-SERVICES,
    /// KUBE-NODEPORTS and any other chain whose rules mostly key on destination, protocol and
    /// port) get an index, and evaluation skips rules that cannot match.
    ///
    /// With a `store`, the chains this ruleset has in common with others prepared through the
    /// same store (another node of the cluster) are shared, not prepared again.
    public init(ruleset: Ruleset, compiled: Bool = false, store: PreparedChainStore? = nil) {
        self.prepared = PreparedRuleset(ruleset, compiled: compiled, store: store)
        self.isCompiled = compiled
    }

    /// Traces `packet` on `host`. The packet is locally generated when it has no input
    /// interface and its source is a local address; otherwise it arrives on its input
    /// interface (`eth0` when unset).
    public func trace(packet: Packet, host: consuming Host, options: TraceOptions = TraceOptions()) -> Trace {
        // The host moves into the first path (consumed, never copied): a caller that gives up
        // its copy lets the walk write conntrack in place. The first path runs where it is;
        // forks (all-paths mode only) wait in `work`, so a single path is never copied into
        // and out of an array.
        // Built in place and then set up: a path returned from a helper was copied into `s`
        // (a thousand bytes and their references) and the original destroyed.
        let local = packet.inInterface == nil && host.isLocal(packet.source)
        var s = PathState(packet: packet, host: host, seed: options.seed)
        startFirstPath(&s, local: local, options: options)
        var work: [PathState] = []
        var done: [TracePath] = []
        while true {
            run(path: &s, forks: &work, options: options)
            if let end = s.finished {
                done.append(TracePath(
                    probability: s.probability, end: PathEnd(end.verdict, decidedBy: decider(end.decidedBy), reason: end.reason, origin: origin(end.decidedBy)), dnat: s.dnat,
                    masquerade: s.masqueradeMarked || s.snat != nil, snat: s.snat, deliveredTo: s.deliveredTo,
                    steps: s.steps, finalPacket: Packet.take(&s.packet), host: Host.take(&s.host), rulesTried: s.rulesTried, consultedState: s.consultedState, consultedTCPFlags: s.consultedTCPFlags, reachedInput: s.reachedInput, constants: s.constants))
            }
            guard let next = work.popLast() else { break }
            s = next
        }
        return Trace(packet: packet, paths: done)
    }

    /// Sets up the path a packet starts on: its hook program, locally generated or arriving.
    private func startFirstPath(_ first: inout PathState, local: Bool, options: TraceOptions) {
        let hasIPVS = first.host.hasIPVS, hasNFT = first.host.hasNFT, bridgeNF = first.host.bridgeNFCallIPTables
        first.recordSteps = options.recordSteps
        if options.recordConstants {
            var constants = HeaderConstants()
            constants.noteHost(first.host)
            first.constants = constants
        }
        if local {
            first.socket = options.socketOwner
            first.packet.inInterface = nil
            first.program = hasIPVS ? Self.localProgramWithIPVS : Self.localProgram
            if hasNFT { first.program = Self.interleaveNFT(first.program) }
        } else {
            if first.packet.inInterface == nil { first.packet.inInterface = "eth0" }
            first.packet.outInterface = nil
            first.program = hasNFT ? Self.interleaveNFT(Self.arrivingProgram) : Self.arrivingProgram
            if !bridgeNF, let dev = first.host.bridgedInterface(for: first.packet) {
                // br_netfilter off: the bridge forwards the frame between its ports unseen.
                first.program = []
                first.packet.outInterface = dev
                first.deliveredTo = .out(interface: dev)
                let destination = first.packet.destination
                first.step(nil, .routing, "bridged on \(dev) to \(destination): bridge-nf-call-iptables=0, iptables does not see it")
                first.finish(.accepted, .routing)
            }
        }
    }

    /// Runs one path until it finishes; branches go onto `work`.
    private func run(path s: inout PathState, forks work: inout [PathState], options o: TraceOptions) {
        while !s.isFinished && s.pc < s.program.count {
            let step = s.program[s.pc]
            s.pc += 1
            switch step {
            case .table(let hook, let table):
                if hook == .input { s.reachedInput = true }
                _ = prepared.tables.withBuiltin(table, hook) { t, chain in walk(t, chain: chain, hook: hook, path: &s, forks: &work, options: o) }
            case .conntrackIn:
                conntrackIn(&s)
            case .nat(let hook):
                nat(at: hook, path: &s, forks: &work, options: o)
            case .routeInput:
                routeInput(&s)
            case .routeOutput:
                routeOutput(&s, initial: true)
            case .reroute:
                routeOutput(&s, initial: false)
            case .confirm:
                confirm(&s)
            case .afterOutput:
                afterOutput(&s)
            case .loopback:
                s.packet.inInterface = "lo"
                s.step(.prerouting, .routing, "loopback: in again on lo")
            case .deliver:
                s.deliveredTo = .local
                s.step(.input, .routing, "deliver locally")
                s.finish(.accepted, s.lastFilterDecision)
            case .ipvsRequest(let hook):
                ipvsRequest(at: hook, path: &s, forks: &work, options: o)
            case .ipvsReply(let hook):
                ipvsReply(at: hook, path: &s)
            case .nft(let hook, let priorities):
                nftChains(hook, priorities, path: &s, forks: &work, options: o)
            case .transmit:
                let dev = s.packet.outInterface ?? "?"
                s.deliveredTo = .out(interface: dev)
                s.step(.postrouting, .routing, "send out \(dev)")
                s.finish(.accepted, s.lastFilterDecision)
            }
        }
    }

    // MARK: hook programs

    // The kernel's hook order for each kind of packet, built once (a trace appends them to its
    // program instead of concatenating array literals per packet).
    private static let localProgram = localProgram(ipvs: false), localProgramWithIPVS = localProgram(ipvs: true)
    private static let arrivingProgram: [FlowStep] = [.table(.prerouting, .raw), .conntrackIn, .table(.prerouting, .mangle), .nat(.prerouting), .routeInput]
    private static let inputProgram = inputProgram(ipvs: false), inputProgramWithIPVS = inputProgram(ipvs: true)
    private static let forwardProgram = forwardProgram(ipvs: false), forwardProgramWithIPVS = forwardProgram(ipvs: true)
    // The arriving program with what the input route appends, whole: appending to the shared
    // arriving program copied it into a new buffer on every trace.
    private static let arrivingInputProgram = arrivingProgram + inputProgram
    private static let arrivingInputProgramWithIPVS = arrivingProgram + inputProgramWithIPVS
    private static let arrivingForwardProgram = arrivingProgram + forwardProgram
    private static let arrivingForwardProgramWithIPVS = arrivingProgram + forwardProgramWithIPVS

    private static func localProgram(ipvs: Bool) -> [FlowStep] {
        var p: [FlowStep] = [.routeOutput, .table(.output, .raw), .conntrackIn, .table(.output, .mangle), .nat(.output)]
        if ipvs { p += [.ipvsReply(.output), .ipvsRequest(.output)] }
        p += [.table(.output, .filter), .table(.output, .security), .reroute, .table(.postrouting, .mangle), .nat(.postrouting), .confirm, .afterOutput]
        p.reserveCapacity(p.count + 12)  // room for the loopback steps
        return p
    }

    private static func inputProgram(ipvs: Bool) -> [FlowStep] {
        [.table(.input, .mangle), .table(.input, .filter), .table(.input, .security)]
            + (ipvs ? [.ipvsReply(.input), .ipvsRequest(.input)] : []) + [.nat(.input), .confirm, .deliver]
    }

    private static func forwardProgram(ipvs: Bool) -> [FlowStep] {
        [.table(.forward, .mangle), .table(.forward, .filter), .table(.forward, .security)]
            + (ipvs ? [.ipvsReply(.forward)] : []) + [.table(.postrouting, .mangle), .nat(.postrouting), .confirm, .transmit]
    }

    // MARK: routing

    private func routeInput(_ s: inout PathState) {
        let dst = s.packet.destination
        let inDev = s.packet.inInterface ?? "eth0"
        // ip_route_input_slow: loopback addresses arriving from outside are martians unless
        // route_localnet is set (kube-proxy sets it for localhost NodePorts).
        if inDev != "lo" && !s.host.routeLocalnet {
            if case .v4(let a) = dst, a.isLoopback { return drop(&s, "martian destination \(dst) (route_localnet=0)") }
            if case .v4(let a) = s.packet.source, a.isLoopback { return drop(&s, "martian source \(s.packet.source) (route_localnet=0)") }
        }
        // fib_validate_source with accept_local=0 (its default): a packet arriving from another
        // host with one of this host's own addresses as its source is a martian, dropped at
        // the input route lookup after PREROUTING (a node's packet to a VIP that the network
        // routes back to the same node, as a cloud load balancer may).
        if inDev != "lo", s.host.isLocal(s.packet.source) {
            return drop(&s, "martian source \(s.packet.source): one of this host's own addresses, arriving on \(inDev) (accept_local=0)")
        }
        if s.host.isLocal(dst) || s.host.isBroadcast(dst) {
            s.step(.prerouting, .routing, "route: local delivery")
            continueArriving(&s, forward: false)
            return
        }
        // br_netfilter: a frame between two ports of a bridge is bridged, not routed, so the
        // forwarding sysctl does not apply to it; one that a DNAT sent elsewhere is routed.
        let bridged = s.host.bridgeNFCallIPTables && dst == s.originalDestination && s.host.bridgedInterface(for: s.packet) != nil
        guard s.host.forwarding || bridged else { return drop(&s, "not forwarded: ip_forward is off") }
        guard let r = s.host.route(to: dst) else { return drop(&s, "no route to \(dst)") }
        s.packet.outInterface = r.device
        s.step(.prerouting, .routing, "route: forward out \(r.device)")
        continueArriving(&s, forward: true)
    }

    /// Adds the hooks after the input route: INPUT's or FORWARD's, with IPVS's and nft's where
    /// the host runs them. A path still on the plain arriving program takes the whole program
    /// built once; appending to the shared arriving program copied it on every trace.
    private func continueArriving(_ s: inout PathState, forward: Bool) {
        let ipvs = s.host.hasIPVS
        // Array `==` answers from the shared buffer's identity first: one compare.
        if !s.host.hasNFT, s.program == Self.arrivingProgram {
            s.program = forward ? (ipvs ? Self.arrivingForwardProgramWithIPVS : Self.arrivingForwardProgram)
                                : (ipvs ? Self.arrivingInputProgramWithIPVS : Self.arrivingInputProgram)
            return
        }
        let next = forward ? (ipvs ? Self.forwardProgramWithIPVS : Self.forwardProgram)
                           : (ipvs ? Self.inputProgramWithIPVS : Self.inputProgram)
        s.program += Self.withNFT(next, s.host)
    }

    func routeOutput(_ s: inout PathState, initial: Bool) {
        let dst = s.packet.destination
        if !initial && dst == s.originalDestination { return }
        s.originalDestination = dst
        let verb = initial ? "route" : "reroute"
        if s.host.isLocal(dst) {
            s.packet.outInterface = "lo"
            s.step(.output, .routing, "\(verb): local destination, out lo")
        } else {
            guard let r = s.host.route(to: dst) else { return drop(&s, "no route to \(dst)") }
            // A loopback source may leave through a real interface only with route_localnet
            // (ip_route_output_key_hash_rcu refuses it; kube-proxy sets the sysctl for
            // localhost NodePorts, whose DNAT sends 127.0.0.1-sourced packets out).
            if case .v4(let a) = s.packet.source, a.isLoopback, !s.host.routeLocalnet {
                return drop(&s, "loopback source \(s.packet.source) cannot leave through \(r.device) (route_localnet=0)")
            }
            s.packet.outInterface = r.device
            s.step(.output, .routing, "\(verb): out \(r.device)")
        }
    }

    /// After POSTROUTING of a locally generated packet: send it, or loop it back through `lo`
    /// (PREROUTING and INPUT; the connection is kept, so nat chains are not walked again).
    private func afterOutput(_ s: inout PathState) {
        if s.packet.outInterface == "lo" {
            s.program += Self.withNFT([.loopback, .table(.prerouting, .raw), .table(.prerouting, .mangle), .nat(.prerouting),
                          .table(.input, .mangle), .table(.input, .filter), .table(.input, .security)]
                + ipvsSteps(.input, s.host) + [.nat(.input), .deliver], s.host)
        } else {
            s.program.append(.transmit)
        }
    }

    /// IPVS's LOCAL_IN hooks, between filter and nat INPUT, when the host runs IPVS.
    private func ipvsSteps(_ hook: Hook, _ host: Host) -> [FlowStep] {
        host.hasIPVS ? [.ipvsReply(hook), .ipvsRequest(hook)] : []
    }

    /// Names what decided a path: a rule's chain name and text come from the prepared ruleset.
    func decider(_ site: DecisionSite) -> Decider {
        switch site {
        case .rule(let r): .rule(reference(r))
        case .policy: .policy
        case .routing: .routing
        case .conntrack: .conntrack
        case .ipvs: .ipvs
        case .loop: .loop
        case .nft(let r): .nftRule(r)
        }
    }

    /// Why kdp's compiler wrote the rule that decided, when it did (nil for parsed dumps).
    func origin(_ site: DecisionSite) -> RuleOrigin? {
        guard case .rule(let r) = site else { return nil }
        return prepared.tables[r.table]!.chains[r.chain].rules[r.rule].origin
    }

    /// The rule at `site`, as traces name it.
    func reference(_ site: RuleSite) -> RuleReference {
        let chain = prepared.tables[site.table]!.chains[site.chain]
        return RuleReference(table: site.table, chain: chain.name, number: site.rule + 1, text: chain.rules[site.rule].text)
    }

    func drop(_ s: inout PathState, _ reason: String) {
        s.step(nil, .routing, "drop: \(reason)")
        s.finish(.dropped, .routing, reason)
    }
}
