/// One direction of a flow: the 5-tuple every module keys its state by (conntrack's
/// nf_conntrack_tuple, IPVS's connection lookup, replay's flow table). For ICMP and ICMPv6,
/// as in conntrack, `sourcePort` holds the echo id and `destinationPort` type << 8 | code.
public struct FlowKey: Hashable, Sendable, CustomStringConvertible {
    public var source: IPAddress
    public var sourcePort: UInt16
    public var destination: IPAddress
    public var destinationPort: UInt16
    public var proto: IPProtocol

    public init(source: IPAddress, sourcePort: UInt16, destination: IPAddress, destinationPort: UInt16, proto: IPProtocol) {
        self.source = source
        self.sourcePort = sourcePort
        self.destination = destination
        self.destinationPort = destinationPort
        self.proto = proto
    }

    public init(source: SocketAddress, destination: SocketAddress, proto: IPProtocol) {
        self.init(source: source.address, sourcePort: source.port, destination: destination.address, destinationPort: destination.port, proto: proto)
    }

    /// The source as an endpoint (`ip:port`).
    public var sourceEndpoint: SocketAddress { SocketAddress(source, port: sourcePort) }
    /// The destination as an endpoint (`ip:port`).
    public var destinationEndpoint: SocketAddress { SocketAddress(destination, port: destinationPort) }

    /// Source and destination swapped (for ports protocols; ICMP's reply mapping is conntrack's).
    public var reversed: FlowKey {
        FlowKey(source: destination, sourcePort: destinationPort, destination: source, destinationPort: sourcePort, proto: proto)
    }

    public var description: String { "\(proto) \(sourceEndpoint) -> \(destinationEndpoint)" }
}
