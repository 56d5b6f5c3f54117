import Netfilter
import Wire

/// The constants a traced packet's paths tested, arranged so that "does this other packet
/// fall on the same side of every one?" is a few set lookups and short prefix scans.
///
/// Shared constant lists (dispatch keys, ipset members, a host's addresses and routes) keep the
/// hash sets they were built with, so a class over thousands of Service addresses costs O(1)
/// per address tested and nothing to build; a path's own prefixes (rule `-s`/`-d`) are few.
struct ClassBoundary {
    private var own: SharedHeaderConstants
    private var shared: [SharedHeaderConstants] = []
    /// Shared lists a reply recorded: their source constants test the request's destination.
    private var swapped: [SharedHeaderConstants] = []
    private(set) var sourcePorts: [PortRange] = []
    private(set) var destinationPorts: [PortRange] = []

    /// - Complexity: O(*c*) in the path's own constants and the number of shared lists, plus
    ///   each ipset's members the first time the set is met on a host (`cache`).
    init(_ all: [HeaderConstants], cache: inout SetConstantCache, hosts: [String: SharedHeaderConstants]) {
        var src: [Prefix] = [], dst: [Prefix] = []
        var seen = Set<ObjectIdentifier>(), seenSwapped = Set<ObjectIdentifier>()
        for c in all {
            src += c.sourcePrefixes
            dst += c.destinationPrefixes
            sourcePorts += c.sourcePorts
            destinationPorts += c.destinationPorts
            var lists = c.shared
            for lookup in c.sets { lists += cache.constants(lookup) }
            for name in c.hosts { if let h = hosts[name] { lists.append(h) } }
            for s in lists where seen.insert(ObjectIdentifier(s)).inserted {
                shared.append(s)
                sourcePorts += s.sourcePorts
                destinationPorts += s.destinationPorts
            }
            var reply = c.swappedShared
            for name in c.swappedHosts { if let h = hosts[name] { reply.append(h) } }
            for s in reply where seenSwapped.insert(ObjectIdentifier(s)).inserted {
                swapped.append(s)
                sourcePorts += s.destinationPorts
                destinationPorts += s.sourcePorts
            }
        }
        own = SharedHeaderConstants(destinationPrefixes: dst, sourcePrefixes: src)
    }

    /// Whether `address` meets every source test as `representative` did.
    func sameSource(_ address: IPAddress, as representative: IPAddress) -> Bool {
        own.sameSource(address, as: representative) && shared.allSatisfy { $0.sameSource(address, as: representative) }
            && swapped.allSatisfy { $0.sameDestination(address, as: representative) }
    }

    func sameDestination(_ address: IPAddress, as representative: IPAddress) -> Bool {
        own.sameDestination(address, as: representative) && shared.allSatisfy { $0.sameDestination(address, as: representative) }
            && swapped.allSatisfy { $0.sameSource(address, as: representative) }
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
struct SetConstantCache: Sendable {
    private struct Expanded {
        var first: SharedHeaderConstants
        var byHost: [IPAddress: SharedHeaderConstants]
        var wide: [(Prefix, SharedHeaderConstants)]
        var portFirst: [SharedHeaderConstants]
    }
    private struct Key: Hashable {
        var host: String
        var set: String
        var directions: [SetDirection]
    }
    private var cache: [Key: Expanded] = [:]

    mutating func constants(_ lookup: SetLookup) -> [SharedHeaderConstants] {
        let key = Key(host: lookup.host, set: lookup.set.name, directions: lookup.directions)
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
