import Wire

/// One entry of a routing table, printed as `ip route` (IPv4) or `ip -6 route` (IPv6) shows it.
public struct IPRoute: Sendable, Equatable {
    /// nil for the default route.
    public var destination: Prefix?
    public var family: IPFamily
    public var gateway: IPAddress?
    public var device: String
    /// `kernel` for routes the kernel adds with an interface address; nil for static routes.
    public var proto: String?
    public var scopeLink: Bool
    public var source: IPAddress?
    /// flannel's VXLAN routes point at a gateway that is not on any local subnet.
    public var onlink: Bool

    public init(destination: Prefix?, family: IPFamily, gateway: IPAddress? = nil, device: String,
                proto: String? = nil, scopeLink: Bool = false, source: IPAddress? = nil, onlink: Bool = false) {
        self.destination = destination
        self.family = family
        self.gateway = gateway
        self.device = device
        self.proto = proto
        self.scopeLink = scopeLink
        self.source = source
        self.onlink = onlink
    }

    /// The kernel's order in a dump: by destination address, the default route (0/0) first;
    /// for one address, the longer prefix first.
    static func kernelOrder(_ a: IPRoute, _ b: IPRoute) -> Bool {
        let pa = a.destination ?? Prefix(containing: IPAddress(family: a.family, bits: 0), length: 0)
        let pb = b.destination ?? Prefix(containing: IPAddress(family: b.family, bits: 0), length: 0)
        if pa.network != pb.network { return pa.network < pb.network }
        return pa.length > pb.length
    }

    public func matches(_ ip: IPAddress) -> Bool {
        guard ip.family == family else { return false }
        return destination?.contains(ip) ?? true
    }
}

extension IPRoute: CustomStringConvertible {
    public var description: String {
        // iproute2 prints a host route (/32, /128) as its bare address.
        let dest = destination.map { $0.length == $0.family.bitWidth ? $0.network.description : $0.description }
        var words = [dest ?? "default"]
        if let gateway { words += ["via", gateway.description] }
        words += ["dev", device]
        if let proto { words += ["proto", proto] }
        if scopeLink && family == .ipv4 { words += ["scope", "link"] }
        if let source, family == .ipv4 { words += ["src", source.description] }
        if family == .ipv6 {
            // iproute2 prints the metric and preference of every IPv6 route.
            words += ["metric", proto == "kernel" ? "256" : "1024", "pref", "medium"]
        }
        if onlink { words.append("onlink") }
        return words.joined(separator: " ")
    }
}

/// An interface of a node or pod namespace, with its addresses as `ip addr` lists them.
public struct NetworkInterface: Sendable, Equatable {
    public enum Kind: String, Sendable { case loopback, ethernet, bridge, veth, vxlan }

    public var name: String
    public var kind: Kind
    /// Address and prefix length, e.g. 10.244.1.1/24.
    public var addresses: [(IPAddress, Int)]

    public init(name: String, kind: Kind, addresses: [(IPAddress, Int)]) {
        self.name = name
        self.kind = kind
        self.addresses = addresses
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.kind == b.kind && a.addresses.elementsEqual(b.addresses) { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}
