import Cluster
import Dataplane
import Netfilter
import Wire

/// Who sends the packets of a region: a pod, a node (from one of its addresses), a
/// host-network pod, or a client outside the cluster that reaches a given node.
public struct Sender: Sendable {
    public var source: TraceSource
    /// The packet's source address.
    public var address: IPAddress
    /// For node senders: the address the socket is bound to (nil: the one the route picks).
    public var boundAddress: IPAddress?
    /// For outside clients: the node the network hands the packet to.
    public var via: String?
    /// `pod/NS/NAME`, `node/NAME (IP)`, `external/IP via node/NAME`.
    public var label: String
}

/// Where the packets of a region go: an address, and for a Service port its fixed port.
public struct Receiver: Sendable {
    public var address: IPAddress
    /// The only destination port (Service ports, NodePorts); nil for every port.
    public var port: UInt16?
    /// The pod that holds the address, for pod destinations.
    public var pod: Pod?
    /// The Service behind the address, for Service destinations.
    public var service: Service?
    public var label: String
}

/// A box of packets: some senders × some receivers × one protocol × ranges of destination and
/// source ports. Regions are what the explorer splits into classes.
struct PacketRegion: Sendable {
    var senders: [Int]
    var receivers: [Int]
    var proto: IPProtocol
    var destinationPorts: PortRange
    var sourcePorts: PortRange
}

/// One class of packets, traced once: every packet in it meets every test the representative
/// met in the same way, so it takes the same paths (`HeaderConstants`).
public struct PacketClass: Sendable {
    public var proto: IPProtocol
    public var senders: [String]
    public var receivers: [String]
    public var destinationPorts: PortRange
    public var sourcePorts: PortRange
    /// The traced representative.
    public var example: Packet
    /// Its sender and receiver.
    public var exampleSender: Sender
    public var exampleReceiver: Receiver
}

/// Splits regions of the header space into classes by the constants each traced
/// representative's paths tested, traces each class once (every random branch followed), and
/// hands each class and its paths to the invariant.
///
/// Cost: one trace per class. The classes are as few as the rules and routes make them: a pod
/// network with no rule that names pods splits only by node and protocol.
struct ClassExplorer: Sendable {
    var plane: Dataplane
    var senders: [Sender]
    var receivers: [Receiver]
    /// Trace replies too (the Service invariants check them).
    var withReply = false
    private var cache = SetConstantCache()
    /// Each node's addresses and routes as constants, by node name.
    private let hostConstants: [String: SharedHeaderConstants]
    /// Told of every class traced (`Verifier.Options.progress`).
    var progress: ClassProgress?

    init(plane: Dataplane, senders: [Sender], receivers: [Receiver], withReply: Bool = false, progress: ClassProgress? = nil) {
        self.plane = plane
        self.progress = progress
        var hosts: [String: SharedHeaderConstants] = [:]
        for n in plane.nodes { hosts[n.host.name] = SharedHeaderConstants(host: n.host) }
        hostConstants = hosts
        self.senders = senders
        self.receivers = receivers
        self.withReply = withReply
    }

    /// The protocols a class may have, each with its port range: TCP, UDP and SCTP over every
    /// port, ICMP or ICMPv6 (echo request) with none.
    static func protocols(_ family: IPFamily) -> [(IPProtocol, PortRange)] {
        let all = PortRange(1, 65535)
        return [(.tcp, all), (.udp, all), (.sctp, all), (family == .ipv4 ? .icmp : .icmpv6, PortRange(0, 0))]
    }

    /// Explores `region` to the end, calling `visit` with each class and its paths.
    mutating func explore(_ region: PacketRegion, visit: (PacketClass, [DataplanePath]) -> Void) {
        var pending = [region]
        while var r = pending.popLast() {
            guard !r.senders.isEmpty, !r.receivers.isEmpty else { continue }
            // A receiver other than the sender itself, where there is one.
            let s = r.senders[0]
            let d = r.receivers.first { receivers[$0].address != senders[s].address } ?? r.receivers[0]
            let dport = Self.pick(r.destinationPorts, preferring: 80)
            let sport = Self.pick(r.sourcePorts, preferring: 40000)
            guard let (sent, paths) = trace(sender: senders[s], receiver: receivers[d], proto: r.proto, dport: dport, sport: sport) else {
                r.senders.removeFirst()
                pending.append(r)
                continue
            }
            progress?.tick()
            let boundary = ClassBoundary(paths.compactMap(\.constants), cache: &cache, hosts: hostConstants)
            let sameS = r.senders.filter { boundary.sameSource(senders[$0].address, as: senders[s].address) }
            let sameD = r.receivers.filter { boundary.sameDestination(receivers[$0].address, as: receivers[d].address) }
            let dAtom = ClassBoundary.portAtom(dport, within: r.destinationPorts, ranges: boundary.destinationPorts)
            let sAtom = ClassBoundary.portAtom(sport, within: r.sourcePorts, ranges: boundary.sourcePorts)
            visit(PacketClass(proto: r.proto, senders: sameS.map { senders[$0].label }, receivers: sameD.map { receivers[$0].label },
                              destinationPorts: dAtom, sourcePorts: sAtom, example: sent,
                              exampleSender: senders[s], exampleReceiver: receivers[d]), paths)
            // What is left of the region: a box difference, piece by piece.
            let restS = Set(r.senders).subtracting(sameS), restD = Set(r.receivers).subtracting(sameD)
            if !restS.isEmpty { pending.append(PacketRegion(senders: r.senders.filter(restS.contains), receivers: r.receivers, proto: r.proto,
                                                            destinationPorts: r.destinationPorts, sourcePorts: r.sourcePorts)) }
            if !restD.isEmpty { pending.append(PacketRegion(senders: sameS, receivers: r.receivers.filter(restD.contains), proto: r.proto,
                                                            destinationPorts: r.destinationPorts, sourcePorts: r.sourcePorts)) }
            for ports in Self.outside(dAtom, r.destinationPorts) {
                pending.append(PacketRegion(senders: sameS, receivers: sameD, proto: r.proto, destinationPorts: ports, sourcePorts: r.sourcePorts))
            }
            for ports in Self.outside(sAtom, r.sourcePorts) {
                pending.append(PacketRegion(senders: sameS, receivers: sameD, proto: r.proto, destinationPorts: dAtom, sourcePorts: ports))
            }
        }
    }

    /// Traces one packet on every path (no state kept), with its path conditions: the packet
    /// as sent (a node's source is the one its route picks) and its paths; nil when the sender
    /// cannot send it (no address of the family).
    mutating func trace(sender: Sender, receiver: Receiver, proto: IPProtocol, dport: UInt16, sport: UInt16) -> (Packet, [DataplanePath])? {
        var request = Self.request(sender: sender, receiver: receiver, proto: proto, dport: dport, sport: sport, reply: withReply)
        request.recordSteps = false
        request.recordConstants = true
        guard let t = try? plane.trace(request) else { return nil }
        return (t.packet, t.paths)
    }

    /// One packet from `sender` to `receiver` on every path (every statistic branch and every
    /// real server IPVS could choose), with no state kept.
    static func request(sender: Sender, receiver: Receiver, proto: IPProtocol, dport: UInt16, sport: UInt16, reply: Bool) -> Dataplane.Request {
        var request = Dataplane.Request(source: sender.source, destination: TraceDestination(
            address: receiver.address, port: proto.hasPorts ? dport : 0, spec: receiver.label, service: receiver.service))
        request.proto = proto
        request.sourcePort = proto.hasPorts ? sport : 0
        request.via = sender.via
        request.allPaths = true
        request.everyRealServer = true
        request.reply = reply
        request.sourceAddress = sender.boundAddress
        return request
    }

    /// `port` when the range holds it, else the range's first port.
    static func pick(_ range: PortRange, preferring port: UInt16) -> UInt16 {
        range.contains(port) ? port : range.lower
    }

    /// The parts of `whole` outside `atom` (at most two ranges).
    static func outside(_ atom: PortRange, _ whole: PortRange) -> [PortRange] {
        var out: [PortRange] = []
        if atom.lower > whole.lower { out.append(PortRange(whole.lower, atom.lower - 1)) }
        if atom.upper < whole.upper { out.append(PortRange(atom.upper + 1, whole.upper)) }
        return out
    }
}
