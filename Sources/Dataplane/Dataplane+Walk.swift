import Netfilter
import Wire

extension Dataplane {
    /// Where a packet is, between hops.
    enum Location {
        /// Leaving a pod's eth0.
        case pod(Int)
        /// Entering a node's netfilter: on an interface, or generated locally (nil).
        case node(Int, inInterface: String?)
    }

    struct Walk {
        var nodes: NodeStates
        var packet: Packet
        var location: Location
        var probability: Double = 1
        var steps: [DataplaneStep] = []
        var dnat: SocketAddress?
        var snat: SocketAddress?
        var masquerade = false
        var hops = 0
        /// The pod whose bridge port the packet entered the current node by, while it is on
        /// that node: br_netfilter and hairpin mode decide what the bridge does with it.
        var ingressPod: Int?
        /// The pod addressed a pod of its own bridge (its MAC, not the gateway's): the bridge
        /// forwards the frame, no router lowers its TTL.
        var bridgedAtIngress = false
        /// Whether steps are recorded (replay without outputs that need them does not).
        var recordSteps = true
        /// Times a node sent the packet out of an interface (each forward lowers the TTL).
        var transmissions = 0
        /// Each node the packet walked, with its conntrack tuple there.
        var visits: [NodeVisit] = []
        var consultedState = false
        var consultedTCPFlags = false
        /// The header constants the walk's tests compared with, when recorded.
        var constants: HeaderConstants?

        /// A walk holding nothing, to swap a walk out of its place (`run`).
        static let vacant = Walk(nodes: NodeStates(), packet: Packet(source: .v4(IPv4Address(0)), destination: .v4(IPv4Address(0))),
                                 location: .pod(0))
    }
}
