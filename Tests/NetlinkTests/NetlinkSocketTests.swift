import Foundation
import Netlink
import TestSupport
import Testing
import Wire

/// Each Netlink operation against the running kernel, in network namespaces made for the test
/// (`kdp-nl-…`), joined only to each other and deleted afterwards. Skipped with a message when
/// not root; under CI=true they must run.
@Suite(.serialized) struct NetlinkSocketTests {
    /// Runs `body` with `count` fresh namespaces, each with its netlink socket and file; the
    /// namespaces are deleted however `body` ends.
    func withNamespaces(_ count: Int, _ body: ([NetworkNamespace], [NetlinkSocket], [NetworkNamespaceFile]) throws -> Void) throws {
        guard !KernelCheck.unavailable() else { return }
        var made: [NetworkNamespace] = []
        defer { for n in made { n.delete() } }
        for _ in 0..<count { made.append(try NetworkNamespace("nl")) }
        let files = try made.map { try NetworkNamespaceFile(named: $0.name) }
        let sockets = try files.map { try NetlinkSocket(namespace: $0) }
        try body(made, sockets, files)
    }

    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    @Test func aFreshNamespaceHoldsOnlyLoopbackDown() throws {
        try withNamespaces(1) { _, sk, _ in
            let links = try sk[0].links()
            #expect(links.map(\.name) == ["lo"])
            #expect(links[0].flags.contains(.loopback) && !links[0].flags.contains(.up))
            #expect(links[0].kind == nil)
            #expect(try sk[0].addresses().isEmpty)
        }
    }

    @Test func vethPeerIsCreatedStraightInTheOtherNamespace() throws {
        try withNamespaces(2) { ns, sk, files in
            try sk[0].addVeth(name: "kdp-a0", peer: "kdp-b0", peerNamespace: files[1], mtu: 1400)
            let a = try #require(try sk[0].links().first { $0.name == "kdp-a0" })
            let b = try #require(try sk[1].links().first { $0.name == "kdp-b0" })
            #expect(a.kind == "veth" && b.kind == "veth")
            #expect(a.mtu == 1400 && b.mtu == 1400)
            #expect(a.parentIndex == b.index && b.parentIndex == a.index)
            #expect(a.linkNetnsID != nil && b.linkNetnsID != nil)
            #expect(try sk[0].links().contains { $0.name == "kdp-b0" } == false)
            // The same facts as `ip` shows them.
            let ip = try ns[1].sh("ip -j link show kdp-b0")
            #expect(ip.contains("\"ifindex\":\(b.index)") && ip.contains("\"link_index\":\(a.index)"))
            try sk[0].deleteLink(name: "kdp-a0")
            #expect(try sk[1].links().map(\.name) == ["lo"])
        }
    }

    @Test func linksAreSetUpGivenAnMTUAndABridgeMaster() throws {
        try withNamespaces(1) { _, sk, _ in
            let s = sk[0]
            try s.addBridge(name: "kdp-br0")
            try s.addVeth(name: "kdp-v0", peer: "kdp-v1")
            let bridge = try #require(try s.linkIndex(name: "kdp-br0"))
            try s.setLink(name: "kdp-v0", masterIndex: bridge)
            try s.setLink(name: "kdp-v0", mtu: 1280)
            try s.setLink(name: "kdp-v0", up: true)
            try s.setLink(name: "kdp-br0", up: true)
            let links = try s.links()
            let v0 = try #require(links.first { $0.name == "kdp-v0" })
            #expect(links.first { $0.name == "kdp-br0" }?.kind == "bridge")
            #expect(v0.masterIndex == bridge && v0.mtu == 1280 && v0.flags.contains(.up))
            try s.setLink(name: "kdp-v0", up: false)
            #expect(try s.links().first { $0.name == "kdp-v0" }?.flags.contains(.up) == false)
            try s.deleteLink(name: "kdp-v0")
            try s.deleteLink(name: "kdp-br0")
            #expect(try s.links().map(\.name) == ["lo"])
        }
    }

    @Test func vxlanDeviceReadsBackItsIdPortLocalAndLowerDevice() throws {
        try withNamespaces(1) { ns, sk, _ in
            let s = sk[0]
            try s.addVeth(name: "kdp-eth0", peer: "kdp-eth0p")
            let lower = try #require(try s.linkIndex(name: "kdp-eth0"))
            try s.addVXLAN(name: "flannel.1", parameters: VXLANParameters(id: 1, port: 8472, local: Self.ip("10.0.0.1")), parentIndex: lower)
            let vx = try #require(try s.links().first { $0.name == "flannel.1" })
            #expect(vx.kind == "vxlan")
            #expect(vx.vxlan == VXLANParameters(id: 1, port: 8472, local: Self.ip("10.0.0.1")))
            #expect(vx.parentIndex == lower)
            let details = try ns[0].sh("ip -d -j link show flannel.1")
            #expect(details.contains("\"id\":1") && details.contains("\"port\":8472") && details.contains("\"local\":\"10.0.0.1\""))
            #expect(details.contains("\"learning\":false"))
        }
    }

    @Test func addressesAreAddedReadAndDeleted() throws {
        try withNamespaces(1) { ns, sk, _ in
            let s = sk[0]
            try s.addVeth(name: "kdp-e0", peer: "kdp-e1")
            let index = try #require(try s.linkIndex(name: "kdp-e0"))
            let v4 = KernelAddress(interfaceIndex: index, address: Self.ip("10.20.0.2"), prefixLength: 24, broadcast: Self.ip("10.20.0.255"))
            let v4b = KernelAddress(interfaceIndex: index, address: Self.ip("10.20.0.3"), prefixLength: 24)
            let v6 = KernelAddress(interfaceIndex: index, address: Self.ip("fd00:20::2"), prefixLength: 64, flags: 0x2)  // nodad
            for a in [v4, v4b, v6] { try s.addAddress(a) }
            let read = try s.addresses().filter { $0.interfaceIndex == index }
            let first = try #require(read.first { $0.address == v4.address })
            #expect(first.prefixLength == 24 && first.broadcast == v4.broadcast && first.scope == .universe && first.label == "kdp-e0")
            #expect(first.flags & KernelAddress.secondaryFlag == 0)
            // The second address of the same subnet is a secondary, as the kernel makes it.
            #expect(read.first { $0.address == v4b.address }.map { $0.flags & KernelAddress.secondaryFlag != 0 } == true)
            #expect(read.contains { $0.address == v6.address && $0.prefixLength == 64 })
            let ip = try ns[0].sh("ip -j addr show dev kdp-e0")
            for a in [v4, v4b, v6] { #expect(ip.contains("\"local\":\"\(a.address)\",\"prefixlen\":\(a.prefixLength)")) }
            try s.deleteAddress(v4b)
            try s.deleteAddress(v6)
            #expect(try s.addresses().filter { $0.interfaceIndex == index }.map(\.address) == [v4.address])
        }
    }

    @Test func routesOfEveryTableWithScopeProtocolOnlinkAndMetricsAreAddedReadAndDeleted() throws {
        try withNamespaces(1) { ns, sk, _ in
            let s = sk[0]
            try s.addVeth(name: "kdp-e0", peer: "kdp-e1")
            try s.setLink(name: "kdp-e0", up: true)
            let i = try #require(try s.linkIndex(name: "kdp-e0"))
            try s.addAddress(KernelAddress(interfaceIndex: i, address: Self.ip("10.30.0.2"), prefixLength: 24))
            try s.addAddress(KernelAddress(interfaceIndex: i, address: Self.ip("fd00:30::2"), prefixLength: 64, flags: 0x2))
            let wanted = [
                KernelRoute(destination: try Prefix(parsing: "0.0.0.0/0"), proto: .static, nextHops: [NextHop(interfaceIndex: i, gateway: Self.ip("10.30.0.1"))]),
                KernelRoute(destination: try Prefix(parsing: "192.168.7.0/24"), priority: 50, preferredSource: Self.ip("10.30.0.2"),
                            nextHops: [NextHop(interfaceIndex: i, gateway: Self.ip("172.16.0.1"), onlink: true)], metrics: [2: 1400]),
                KernelRoute(table: 100, destination: try Prefix(parsing: "10.99.0.0/16"), scope: .link, nextHops: [NextHop(interfaceIndex: i)]),
                KernelRoute(destination: try Prefix(parsing: "10.66.0.0/16"), type: .blackhole),
                KernelRoute(destination: try Prefix(parsing: "fd00:77::/48"), priority: 1024, nextHops: [NextHop(interfaceIndex: i, gateway: Self.ip("fd00:30::1"))]),
            ]
            for r in wanted { try s.addRoute(r) }
            let read = try s.routes()
            for r in wanted {
                #expect(read.contains(r), "route \(r.destination) table \(r.table) reads back as added")
            }
            // The kernel's own: the connected route (protocol kernel, scope link) and the local table.
            #expect(read.contains { $0.destination == (try? Prefix(parsing: "10.30.0.0/24")) && $0.proto == .kernel && $0.scope == .link })
            #expect(read.contains { $0.table == KernelRoute.localTable && $0.type == .local && $0.destination == (try? Prefix(parsing: "10.30.0.2/32")) })
            let ip = try ns[0].sh("ip -j route show table all")
            #expect(ip.contains("\"dst\":\"192.168.7.0/24\",\"gateway\":\"172.16.0.1\",\"dev\":\"kdp-e0\",\"prefsrc\":\"10.30.0.2\",\"metric\":50,\"flags\":[\"onlink\""))
            #expect(ip.contains("\"dst\":\"10.99.0.0/16\",\"dev\":\"kdp-e0\",\"table\":\"100\""))
            for r in wanted { try s.deleteRoute(r) }
            let after = try s.routes()
            for r in wanted { #expect(!after.contains(r)) }
        }
    }

    @Test func neighbourAndForwardingDatabaseEntriesAreSetReadAndDeleted() throws {
        try withNamespaces(1) { ns, sk, _ in
            let s = sk[0]
            try s.addVeth(name: "kdp-e0", peer: "kdp-e1")
            let i = try #require(try s.linkIndex(name: "kdp-e0"))
            try s.addVXLAN(name: "flannel.1", parameters: VXLANParameters(id: 1, port: 8472, local: Self.ip("10.40.0.2")), parentIndex: i)
            let vx = try #require(try s.linkIndex(name: "flannel.1"))
            let mac = EthernetAddress(0x02_11_22_33_44_55)
            // flannel's pair per remote node: an ARP entry for its VTEP and an FDB entry to its address.
            let arp = KernelNeighbour(family: 2, interfaceIndex: vx, destination: Self.ip("10.244.1.0"), linkAddress: mac, state: KernelNeighbour.permanentState)
            let fdb = KernelNeighbour(family: KernelNeighbour.bridgeFamily, interfaceIndex: vx, destination: Self.ip("10.40.0.3"), linkAddress: mac,
                                      state: KernelNeighbour.permanentState, flags: KernelNeighbour.selfFlag)
            try s.setNeighbour(arp)
            try s.setNeighbour(fdb)
            let read = try s.neighbours()
            #expect(read.contains { $0.family == 2 && $0.interfaceIndex == vx && $0.destination == arp.destination && $0.linkAddress == mac && $0.state & 0x80 != 0 })
            #expect(read.contains { $0.isFDB && $0.interfaceIndex == vx && $0.destination == fdb.destination && $0.linkAddress == mac })
            #expect(try ns[0].sh("bridge fdb show dev flannel.1").contains("02:11:22:33:44:55 dst 10.40.0.3 self permanent"))
            try s.deleteNeighbour(arp)
            try s.deleteNeighbour(fdb)
            let after = try s.neighbours()
            #expect(!after.contains { $0.destination == arp.destination || $0.destination == fdb.destination })
        }
    }

    @Test func aLinkMovesIntoAnotherNamespaceByItsFileDescriptor() throws {
        try withNamespaces(2) { _, sk, files in
            try sk[0].addVeth(name: "kdp-m0", peer: "kdp-m1")
            try sk[0].moveLink(name: "kdp-m1", to: files[1])
            #expect(try sk[0].links().map(\.name).sorted() == ["kdp-m0", "lo"])
            let moved = try #require(try sk[1].links().first { $0.name == "kdp-m1" })
            #expect(moved.kind == "veth" && moved.linkNetnsID != nil)
        }
    }

    @Test func errorsCarryTheOperationAndLibnlsText() throws {
        try withNamespaces(1) { _, sk, _ in
            let s = sk[0]
            let missing = #expect(throws: NetlinkError.self) { try s.deleteLink(name: "kdp-absent") }
            #expect(missing?.operation == "delete link kdp-absent")
            #expect(missing?.message.isEmpty == false && missing?.isSystemError == false)
            try s.addBridge(name: "kdp-br0")
            let twice = #expect(throws: NetlinkError.self) { try s.addBridge(name: "kdp-br0") }
            #expect(twice?.isExists == true)
            #expect(twice?.description == "add bridge kdp-br0: Object exists")
        }
        let noNamespace = #expect(throws: NetlinkError.self) { try NetworkNamespaceFile(named: "kdp-nl-absent-\(UInt32.random(in: 0...UInt32.max))") }
        #expect(noNamespace?.isSystemError == true && noNamespace?.code == ENOENT)
        #expect(throws: NetlinkError.self) { try NetworkNamespaceFile(named: "../etc") }
    }

    @Test func theIPVSFamilyIsResolvedWhereTheModuleIsLoadedAndReportedAbsentElsewhere() throws {
        try withNamespaces(1) { _, _, files in
            #expect(try GenericNetlink.familyID("nlctrl", namespace: files[0]) == 16)
            let ipvs = try GenericNetlink.familyID("IPVS", namespace: files[0])
            #expect((ipvs != nil) == FileManager.default.fileExists(atPath: "/sys/module/ip_vs"))
            let services = try GenericNetlink.ipvsServices(namespace: files[0])
            #expect((services != nil) == (ipvs != nil))
            #expect(services?.isEmpty ?? true, "a fresh namespace has no IPVS services")
        }
    }
}
