/// A packet passing an interface where `tcpdump -i DEVICE` would capture it: which namespace
/// (a node, or a pod), which device, and which way. Link, tunnel and deliver steps carry the
/// crossings they make, so per-hop captures (`kdp replay --hops`) are read off typed steps.
public struct InterfaceCrossing: Hashable, Sendable, CustomStringConvertible {
    public enum Owner: Hashable, Sendable {
        case node(String)
        case pod(namespace: String, name: String)
    }

    public enum Direction: String, Hashable, Sendable {
        /// Received on the device (`tcpdump` packet type In).
        case received = "In"
        /// Sent out of the device (`tcpdump` packet type Out).
        case sent = "Out"
    }

    public var owner: Owner
    public var device: String
    public var direction: Direction
    /// True when the packet crosses this device inside a VXLAN header (a node's eth0 between
    /// the tunnel's ends).
    public var encapsulated: Bool

    public init(_ owner: Owner, _ device: String, _ direction: Direction, encapsulated: Bool = false) {
        self.owner = owner
        self.device = device
        self.direction = direction
        self.encapsulated = encapsulated
    }

    /// `worker-1-eth0`, `default-web-0-eth0`: the per-hop capture file's name, without `.pcap`.
    public var fileStem: String {
        switch owner {
        case .node(let n): "\(n)-\(device)"
        case .pod(let ns, let name): "\(ns)-\(name)-\(device)"
        }
    }

    public var description: String { "\(fileStem) \(direction.rawValue)" }
}
