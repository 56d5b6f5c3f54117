import Netfilter
import Netlink
import Wire

extension NodeSnapshot {
    /// The node as Netfilter's `Host` models it: every link with its addresses (primary ones
    /// first, as the kernel lists them; secondaries after), and the main table's unicast
    /// routes, each out of its first next hop's device, with its gateway and `src`. What that
    /// model leaves out is in `notes`: routes of other tables (kdp routes by the main table;
    /// the policy rules that would pick another are not recorded), blackhole, unreachable and
    /// prohibit routes, extra next hops of multipath routes. A link that is down keeps its
    /// addresses local without a connected route, as the kernel does.
    public func hostModel() -> (interfaces: [Interface], routes: [Route], notes: [String]) {
        var interfaces: [Interface] = []
        var down: [String] = []
        for link in links {
            let own = addresses.filter { $0.interfaceIndex == link.index }
            let ordered = own.filter { $0.flags & KernelAddress.secondaryFlag == 0 } + own.filter { $0.flags & KernelAddress.secondaryFlag != 0 }
            // An administratively down link keeps its addresses in the local table but has no
            // connected route (fib_disable_ip): given as host prefixes, they stay local and
            // route nothing.
            let isDown = !link.flags.contains(.up)
            interfaces.append(Interface(name: link.name, addresses: ordered.map { ($0.address, isDown ? $0.address.family.bitWidth : $0.prefixLength) }))
            if isDown, !ordered.isEmpty { down.append(link.name) }
        }
        var routes: [Route] = []
        var otherTables = Set<UInt32>(), skippedTypes: [String] = [], multipath: [String] = []
        for r in self.routes {
            guard r.table == KernelRoute.mainTable else {
                if r.table != KernelRoute.localTable { otherTables.insert(r.table) }
                continue
            }
            guard r.type == .unicast else { skippedTypes.append("\(r.type.name) \(r.destination)"); continue }
            guard let hop = r.nextHops.first, let index = hop.interfaceIndex, let device = linkName(index) else { continue }
            if r.nextHops.count > 1 { multipath.append("\(r.destination)") }
            routes.append(Route(destination: r.destination, device: device, gateway: hop.gateway, source: r.preferredSource))
        }
        var notes: [String] = []
        if !otherTables.isEmpty {
            notes.append("snapshot: routes of table\(otherTables.count == 1 ? "" : "s") \(otherTables.sorted().map(String.init).joined(separator: ", ")) not used: kdp routes by the main table (policy rules are not recorded)")
        }
        if !skippedTypes.isEmpty { notes.append("snapshot: main-table routes not modelled, taken as absent: \(skippedTypes.joined(separator: ", "))") }
        if !multipath.isEmpty { notes.append("snapshot: multipath routes take their first next hop: \(multipath.joined(separator: ", "))") }
        if !down.isEmpty { notes.append("snapshot: links down (their addresses local, no connected routes, as in the kernel): \(down.joined(separator: ", "))") }
        return (interfaces, routes, notes)
    }
}
