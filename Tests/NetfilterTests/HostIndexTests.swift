import Testing
@testable import Netfilter
import Wire

/// `Host`'s precomputed answers (`RouteIndex` for `route(to:)`, `AddressIndex` for `isLocal`
/// and `isBroadcast`) against the plain scans they replace, on hosts built to make the scans'
/// tie-breaks matter: overlapping subnets and routes, equal lengths, a default route, /31 and
/// /32 addresses, and an IPVS node's thousands of /32s on kube-ipvs0.
@Suite struct HostIndexTests {
    static func v4(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    /// What `route(to:)` answered before the index: connected subnets (not lo's) first, then
    /// routes, a later entry winning only with a strictly longer prefix.
    static func scannedRoute(_ h: Host, _ d: IPAddress) -> (String, IPAddress)? {
        var best: (Int, String, IPAddress)?
        for i in h.interfaces where i.name != "lo" {
            for (a, len) in i.addresses where len < a.family.bitWidth && a.family == d.family {
                let p = Prefix(containing: a, length: len)
                if p.contains(d), best == nil || best!.0 < len { best = (len, i.name, d) }
            }
        }
        for r in h.routes where r.destination.contains(d) {
            if best == nil || best!.0 < r.destination.length { best = (r.destination.length, r.device, r.gateway ?? d) }
        }
        return best.map { ($0.1, $0.2) }
    }

    static func randomHost(_ rng: inout SeededGenerator) -> Host {
        func addr() -> IPAddress { .v4(IPv4Address(10, UInt8.random(in: 0...3, using: &rng), UInt8.random(in: 0...3, using: &rng), UInt8.random(in: 0...255, using: &rng))) }
        let names = ["eth0", "cni0", "flannel.1", "kube-ipvs0"]
        var interfaces: [Interface] = []
        for name in names {
            let count = Int.random(in: 0...3, using: &rng)
            interfaces.append(Interface(name: name, addresses: (0..<count).map { _ in (addr(), [8, 16, 16, 24, 24, 30, 31, 32].randomElement(using: &rng)!) }))
        }
        var routes: [Route] = []
        for _ in 0..<Int.random(in: 0...6, using: &rng) {
            let len = [0, 8, 16, 24, 24, 32].randomElement(using: &rng)!
            routes.append(Route(destination: Prefix(containing: addr(), length: len), device: names.randomElement(using: &rng)!,
                                gateway: Bool.random(using: &rng) ? addr() : nil))
        }
        return Host(interfaces: interfaces, routes: routes)
    }

    @Test func theRouteIndexAnswersAsTheScanOnRandomHosts() {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<300 {
            let h = Self.randomHost(&rng)
            for _ in 0..<50 {
                let d: IPAddress = .v4(IPv4Address(10, UInt8.random(in: 0...4, using: &rng), UInt8.random(in: 0...3, using: &rng), UInt8.random(in: 0...255, using: &rng)))
                let got = h.route(to: d), want = Self.scannedRoute(h, d)
                #expect(got?.device == want?.0 && got?.nextHop == want?.1, "\(d) on \(h.interfaces) \(h.routes)")
            }
        }
    }

    /// What `sourceAddress(device:nextHop:)` answered before it stopped building the list of
    /// candidates: of the device's non-loopback addresses of the family, the first whose subnet
    /// holds the next hop, else the first; with none, any device's first such address.
    static func scannedSource(_ h: Host, device: String, nextHop: IPAddress) -> IPAddress? {
        func universe(_ a: IPAddress) -> Bool { if case .v4(let v) = a { !v.isLoopback } else { a != .v6(.loopback) } }
        if let i = h.interfaces.first(where: { $0.name == device }) {
            let same = i.addresses.filter { $0.address.family == nextHop.family && universe($0.address) }
            if let hit = same.first(where: { Prefix(containing: $0.address, length: $0.prefixLength).contains(nextHop) }) { return hit.address }
            if let first = same.first { return first.address }
        }
        for i in h.interfaces {
            if let a = i.addresses.first(where: { $0.address.family == nextHop.family && universe($0.address) }) { return a.address }
        }
        return nil
    }

    @Test func masqueradeSourceIsTheFirstAddressOnTheNextHopsSubnetElseTheFirst() {
        var rng = SeededGenerator(seed: 11)
        for _ in 0..<300 {
            let h = Self.randomHost(&rng)
            for _ in 0..<20 {
                let hop: IPAddress = .v4(IPv4Address(10, UInt8.random(in: 0...3, using: &rng), UInt8.random(in: 0...3, using: &rng), UInt8.random(in: 0...255, using: &rng)))
                let device = ["eth0", "cni0", "flannel.1", "kube-ipvs0", "lo", "nowhere"].randomElement(using: &rng)!
                #expect(h.sourceAddress(device: device, nextHop: hop) == Self.scannedSource(h, device: device, nextHop: hop),
                        "\(device) towards \(hop) on \(h.interfaces)")
            }
        }
    }

    @Test func theHookFlagsFollowIPVSAndNFT() {
        var h = Host(interfaces: [Interface(name: "eth0", addresses: [(Self.v4("192.168.1.2"), 24)])])
        #expect(!h.hasIPVS && !h.hasNFT)
        h.ipvs = OneServiceIPVS(virtual: Self.v4("10.96.0.1"), virtualPort: 443, real: Self.v4("10.244.1.5"), realPort: 6443)
        #expect(h.hasIPVS)
        let copy = h
        h.ipvs = nil
        #expect(!h.hasIPVS && copy.hasIPVS)
        #expect(!Host.vacant.hasIPVS && !Host.vacant.hasNFT)
    }

    @Test func changingRoutesOrInterfacesRebuildsTheIndex() {
        var h = Host(interfaces: [Interface(name: "eth0", addresses: [(Self.v4("192.168.1.2"), 24)])])
        #expect(h.route(to: Self.v4("10.244.1.5")) == nil)
        h.routes.append(Route(destination: Prefix(containing: Self.v4("10.244.1.0"), length: 24), device: "eth0", gateway: Self.v4("192.168.1.3")))
        #expect(h.route(to: Self.v4("10.244.1.5"))?.nextHop == Self.v4("192.168.1.3"))
        h.interfaces.append(Interface(name: "cni0", addresses: [(Self.v4("10.244.1.1"), 24)]))
        // Equal lengths: the connected subnet wins over the route, as the scan had it.
        #expect(h.route(to: Self.v4("10.244.1.5"))?.device == "cni0")
        #expect(h.route(to: Self.v4("10.244.1.5"))?.nextHop == Self.v4("10.244.1.5"))
    }

    @Test func localAndBroadcastAnswersEqualTheAddressScan() {
        var rng = SeededGenerator(seed: 11)
        for round in 0..<100 {
            var h = Self.randomHost(&rng)
            if round % 10 == 0 {
                // An IPVS node: every ClusterIP a /32 on kube-ipvs0.
                h.interfaces.append(Interface(name: "kube-ipvs0", addresses: (0..<3000).map { i in (.v4(IPv4Address(0x0A60_0000 + UInt32(i) * 7)), 32) }))
            }
            let all = Set(h.interfaces.flatMap { $0.addresses.map(\.address) })
            var probes = Array(all.prefix(200))
            for _ in 0..<200 { probes.append(.v4(IPv4Address(UInt32.random(in: 0x0A00_0000...0x0A64_0000, using: &rng)))) }
            probes += [Self.v4("127.0.0.1"), Self.v4("127.9.9.9"), Self.v4("0.0.0.0"), Self.v4("255.255.255.255"), Self.v4("224.0.0.1")]
            for a in probes {
                let scanned = all.contains(a) || (a.isLoopbackV4 && h.interfaces.contains { $0.name == "lo" })
                #expect(h.isLocal(a) == scanned, "\(a)")
                #expect(h.isBroadcast(a) == (h.addressType(a) == .broadcast), "\(a)")
            }
        }
    }

    @Test func aSubnetsLastAddressIsBroadcastButNotOnA31() {
        let h = Host(interfaces: [Interface(name: "eth0", addresses: [(Self.v4("192.168.1.2"), 24)]),
                                  Interface(name: "p2p", addresses: [(Self.v4("172.16.0.0"), 31)])])
        #expect(h.isBroadcast(Self.v4("192.168.1.255")))
        #expect(h.isBroadcast(Self.v4("255.255.255.255")))
        #expect(!h.isBroadcast(Self.v4("192.168.1.254")))
        #expect(!h.isBroadcast(Self.v4("172.16.0.1")))
        #expect(!h.isBroadcast(Self.v4("192.168.1.2")))
    }
}

private extension IPAddress {
    var isLoopbackV4: Bool { if case .v4(let a) = self { a.isLoopback } else { false } }
}
