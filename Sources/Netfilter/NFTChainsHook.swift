import Wire

/// Native nftables base chains as netfilter's hooks meet them, beside iptables' tables.
///
/// In the kernel iptables-nft's tables are nft base chains at fixed priorities (raw -300,
/// conntrack -200, mangle -150, nat DNAT -100, filter 0, security 50, nat SNAT 100), so a node
/// whose CNI writes iptables and whose kube-proxy writes an nft table runs both at each hook, in
/// priority order. nat chains of both kinds at a hook are one list ordered by priority that
/// nf_nat runs at its own hook (nf_nat_register_fn), for a connection's first packet only; the
/// first chain that sets up a binding ends the list (nf_nat_inet_fn).
///
/// Netfilter does not import the NFTables module (both sit on Wire alone, ARCHITECTURE.md), so
/// the data plane plugs an nft ruleset in through this protocol, as it plugs IPVS in through
/// `IPVSHook`. Conformers are value types (dynamic sets such as affinity live in them): each
/// traced path carries its own copy in `Host.nft`. A host without one (`Host.nft == nil`) runs
/// the iptables-only hook programs, untouched.
///
/// A chain whose priority equals an iptables table's runs after that table (kdp's assumption:
/// the kernel orders equal priorities by registration; the trace says so).
public protocol NFTChainsHook: Sendable {
    /// Runs the base chains at `hook` of the kind asked (`nat`: type nat, else the others)
    /// whose priority lies in `priorities`. `seed` draws `numgen random`. The returned packet
    /// mark is the packet's after the chains; NAT is only asked for (`NFTChainsOutcome.nat`):
    /// the caller's conntrack sets up the binding. Steps are filled only when `record`.
    mutating func run(_ hook: Hook, priorities: ClosedRange<Int>, nat: Bool, packet: Packet,
                      connection: NFTConnectionFacts, seed: UInt64, record: Bool) -> NFTChainsOutcome
    /// All paths: one outcome per `numgen` branch the run meets, with its share of the values
    /// and the hook's state after it (one element when nothing is drawn).
    mutating func runEvery(_ hook: Hook, priorities: ClosedRange<Int>, nat: Bool, packet: Packet,
                           connection: NFTConnectionFacts, record: Bool) -> [(outcome: NFTChainsOutcome, share: Double, hook: any NFTChainsHook)]
    /// Whether any base chain of the kind lies at `hook` in `priorities` (a cheap test, so that
    /// empty ranges cost no call into the engine).
    func hasChains(at hook: Hook, priorities: ClosedRange<Int>, nat: Bool, family: IPFamily) -> Bool
    /// Notes for the trace (assumptions about equal priorities, lenient rules).
    var notes: [String] { get }
    /// Every address and port the chains compare a packet with, in rules and set elements
    /// (`kdp verify`'s classes), built once and shared by every path.
    func headerConstants() -> [SharedHeaderConstants]
}

extension NFTChainsHook {
    public func headerConstants() -> [SharedHeaderConstants] { [] }
}

/// What nft's `ct state` and `ct status` read, from the caller's conntrack: state bits (new 8,
/// established 2, related 4, invalid 1, untracked 64) and status bits (IPS_CONFIRMED 8,
/// IPS_SRC_NAT 16, IPS_DST_NAT 32).
public struct NFTConnectionFacts: Hashable, Sendable {
    public var state: UInt32
    public var status: UInt32
    public init(state: UInt32, status: UInt32) { self.state = state; self.status = status }
}

/// An nft rule as `nft monitor trace` names it: the table (`ip kube-proxy`), the chain, the
/// rule's handle (or, in text without handles, its 1-based position), and its text.
public struct NFTRuleReference: Hashable, Sendable {
    public var table: String
    public var chain: String
    public var handle: Int
    public var text: String
    public init(table: String, chain: String, handle: Int, text: String) {
        self.table = table
        self.chain = chain
        self.handle = handle
        self.text = text
    }
}

/// The binding an nft NAT statement asks for (nf_nat_setup_info does it, in Netfilter's conntrack).
public enum NFTNATRequest: Hashable, Sendable {
    case dnat(IPAddress?, port: UInt16?)
    case snat(IPAddress?, port: UInt16?)
    case masquerade(fullyRandom: Bool)
}

/// One step of the nft chains, worded by the engine (`service-ips[10.96.0.10 . tcp . 80] → goto …`).
public struct NFTChainStep: Sendable {
    /// The rule, or nil for a chain's policy (`chain` then names it).
    public var rule: NFTRuleReference?
    public var table: String
    public var chain: String
    public var action: String
    public var mark: UInt32
    public init(rule: NFTRuleReference?, table: String, chain: String, action: String, mark: UInt32) {
        self.rule = rule
        self.table = table
        self.chain = chain
        self.action = action
        self.mark = mark
    }
}

/// How the chains of one run ended for the packet.
public struct NFTChainsOutcome: Sendable {
    /// `.accepted`: the packet goes on to the next step of the hook.
    public var verdict: Verdict = .accepted
    /// The rule that dropped or rejected; nil for a policy drop.
    public var decidedBy: NFTRuleReference?
    /// Why (the rule's comment, or `table chain: policy drop`).
    public var reason: String?
    /// A NAT statement's request, and its rule.
    public var nat: NFTNATRequest?
    public var natRule: NFTRuleReference?
    /// The packet mark after the chains.
    public var mark: UInt32
    public var steps: [NFTChainStep] = []
    /// Whether a random draw or a dynamic set was consulted (replay's flow cache must not reuse the path).
    public var consultedState = false
    public init(mark: UInt32) { self.mark = mark }
}
