import Wire

/// A host's IPv4 routing decisions precomputed for `Host.route(to:)`: every connected subnet
/// (but lo's) and configured route as an integer network and mask, longest prefix first, ties
/// in the order `route(to:)`'s scan prefers (connected subnets before routes, each in its own
/// order). The first entry that contains the destination is the route, as the scan's answer.
///
/// Why: every forwarded packet asks for a route (after PREROUTING, again between nodes), and
/// the scan compared interface names as strings and rebuilt each prefix's mask per entry.
/// A node holds tens of entries, so a flat array beats a trie here; IPv6 keeps the scan.
///
/// - Complexity: O(*n*) integer compares per lookup, O(*n* log *n*) to build on a change of
///   interfaces or routes.
public struct RouteIndex: Sendable {
    struct Entry: Sendable {
        var network: UInt32
        var mask: UInt32
        var device: String
        /// The next hop: the gateway, or nil for on-link (the destination itself).
        var gateway: IPAddress?
    }

    private(set) var ipv4: [Entry] = []

    init() {}

    init(subnets: [(prefix: Prefix, interface: String)], routes: [Route]) {
        var ranked: [(length: Int, rank: Int, entry: Entry)] = []
        for n in subnets where n.interface != "lo" {
            guard case .v4(let net) = n.prefix.network else { continue }
            ranked.append((n.prefix.length, ranked.count, Entry(network: net.value, mask: Self.mask(n.prefix.length), device: n.interface, gateway: nil)))
        }
        for r in routes {
            guard case .v4(let net) = r.destination.network else { continue }
            ranked.append((r.destination.length, ranked.count, Entry(network: net.value, mask: Self.mask(r.destination.length), device: r.device, gateway: r.gateway)))
        }
        ipv4 = ranked.sorted { $0.length != $1.length ? $0.length > $1.length : $0.rank < $1.rank }.map(\.entry)
    }

    private static func mask(_ length: Int) -> UInt32 { length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length) }

    /// The first (longest, preferred) entry containing `destination`.
    @inline(__always)
    public func route(to destination: IPv4Address) -> RouteChoice? {
        let a = destination.value
        for e in ipv4 where a & e.mask == e.network {
            return RouteChoice(device: e.device, nextHop: e.gateway ?? .v4(destination))
        }
        return nil
    }
}
