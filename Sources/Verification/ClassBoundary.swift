import Netfilter
import Wire

/// The constants a traced packet's paths tested, flattened so that "does this other packet
/// fall on the same side of every one?" is a few set lookups and a short prefix scan.
///
/// Host prefixes (/32, /128: Service addresses, endpoint sources, dispatch keys) go into a hash
/// set, so a class boundary over thousands of them costs O(1) per address tested; shorter
/// prefixes (pod CIDRs, routes, masquerade ranges) are few and scanned.
struct ClassBoundary {
    private var sourceHosts: Set<IPAddress> = []
    private var sourceNets: [Prefix] = []
    private var destinationHosts: Set<IPAddress> = []
    private var destinationNets: [Prefix] = []
    private(set) var sourcePorts: [PortRange] = []
    private(set) var destinationPorts: [PortRange] = []

    /// - Complexity: O(*c*) in the constants, plus each ipset's members the first time the set
    ///   is met on a host (`cache`).
    init(_ all: [HeaderConstants], cache: inout SetConstantCache) {
        var srcNets = Set<Prefix>(), dstNets = Set<Prefix>()
        func add(_ p: Prefix, source: Bool) {
            if p.length == p.family.bitWidth {
                if source { sourceHosts.insert(p.network) } else { destinationHosts.insert(p.network) }
            } else if source { srcNets.insert(p) } else { dstNets.insert(p) }
        }
        var seenShared = Set<ObjectIdentifier>()
        for c in all {
            for p in c.sourcePrefixes { add(p, source: true) }
            for p in c.destinationPrefixes { add(p, source: false) }
            sourcePorts += c.sourcePorts
            destinationPorts += c.destinationPorts
            var shared = c.shared
            for lookup in c.sets { shared += cache.constants(lookup) }
            for s in shared where seenShared.insert(ObjectIdentifier(s)).inserted {
                for p in s.sourcePrefixes { add(p, source: true) }
                for p in s.destinationPrefixes { add(p, source: false) }
                sourcePorts += s.sourcePorts
                destinationPorts += s.destinationPorts
            }
        }
        sourceNets = Array(srcNets)
        destinationNets = Array(dstNets)
    }

    /// Whether `address` meets every source test as `representative` did.
    func sameSource(_ address: IPAddress, as representative: IPAddress) -> Bool {
        Self.same(address, representative, hosts: sourceHosts, nets: sourceNets)
    }

    func sameDestination(_ address: IPAddress, as representative: IPAddress) -> Bool {
        Self.same(address, representative, hosts: destinationHosts, nets: destinationNets)
    }

    private static func same(_ a: IPAddress, _ r: IPAddress, hosts: Set<IPAddress>, nets: [Prefix]) -> Bool {
        if a == r { return true }
        // A host constant splits off exactly that address.
        if hosts.contains(r) || hosts.contains(a) { return false }
        for n in nets where n.contains(a) != n.contains(r) { return false }
        return true
    }

    /// The widest range of ports around `port`, within `bounds`, that no range in `ranges`
    /// splits: every port in it meets each port test as `port` does.
    static func portAtom(_ port: UInt16, within bounds: PortRange, ranges: [PortRange]) -> PortRange {
        var lo = bounds.lower, hi = bounds.upper
        for r in ranges {
            if r.contains(port) {
                lo = max(lo, r.lower); hi = min(hi, r.upper)
            } else if r.upper < port {
                lo = max(lo, r.upper + 1)
            } else {
                hi = min(hi, r.lower - 1)
            }
        }
        return PortRange(lo, hi)
    }
}

/// Each (host, set, directions) ipset lookup's constants, expanded once: kube-proxy's sets do
/// not change while packets flow. The first dimension's constants hold for every lookup; a
/// member's other dimensions (a `hash:ip,port` member's port) only for lookups whose first
/// value it holds, found by a hash on host members and a scan of the wider ones.
struct SetConstantCache {
    private struct Expanded {
        var first: SharedHeaderConstants
        var byHost: [IPAddress: SharedHeaderConstants]
        var wide: [(Prefix, SharedHeaderConstants)]
        var portFirst: [SharedHeaderConstants]
    }
    private var cache: [String: Expanded] = [:]

    mutating func constants(_ lookup: SetLookup) -> [SharedHeaderConstants] {
        let key = "\(lookup.host)\u{1}\(lookup.set.name)\u{1}\(lookup.directions.map(\.rawValue).joined(separator: ","))"
        let e: Expanded
        if let hit = cache[key] {
            e = hit
        } else {
            let (first, rest) = lookup.set.headerConstants(lookup.directions)
            var byHost: [IPAddress: HeaderConstants] = [:], wide: [(Prefix, SharedHeaderConstants)] = [], portFirst: [SharedHeaderConstants] = []
            for (p, c) in rest {
                if let p, p.length == p.family.bitWidth { byHost[p.network, default: HeaderConstants()].formUnion(c) }
                else if let p { wide.append((p, Self.shared(c))) }
                else { portFirst.append(Self.shared(c)) }
            }
            e = Expanded(first: Self.shared(first), byHost: byHost.mapValues(Self.shared), wide: wide, portFirst: portFirst)
            cache[key] = e
        }
        var out = [e.first] + e.portFirst
        if let a = lookup.firstAddress {
            if let h = e.byHost[a] { out.append(h) }
            for (p, c) in e.wide where p.contains(a) { out.append(c) }
        }
        return out
    }

    private static func shared(_ c: HeaderConstants) -> SharedHeaderConstants {
        SharedHeaderConstants(destinationPrefixes: c.destinationPrefixes, sourcePrefixes: c.sourcePrefixes,
                              destinationPorts: c.destinationPorts, sourcePorts: c.sourcePorts)
    }
}
