import Testing
@testable import Netfilter
import Wire

/// `Host` keeps its fields in one copy-on-write box: a copy shares it until either side
/// writes. These pin down that a write never shows through another copy, whichever field it
/// touches, and that `Host.take` leaves the shared vacant host untouched.
@Suite struct HostStorageTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    static func host() -> Host {
        Host(name: "node-a", interfaces: [Interface(name: "eth0", addresses: [(ip("192.168.1.10"), 24)])],
             routes: [Route(destination: Prefix(containing: ip("0.0.0.0"), length: 0), device: "eth0", gateway: ip("192.168.1.1"))])
    }

    static func entry(_ port: UInt16) -> ConntrackEntry {
        ConntrackEntry(original: ConntrackTuple(source: ip("10.0.1.2"), sourcePort: port, destination: ip("10.0.2.2"),
                                                destinationPort: 53, proto: .udp))
    }

    @Test func aConntrackWriteToACopyLeavesTheOriginalAlone() {
        let original = Self.host()
        var copy = original
        copy.conntrack.insert(Self.entry(1000))
        #expect(copy.conntrack.liveCount == 1)
        #expect(original.conntrack.liveCount == 0)
        #expect(original.conntrack.lookup(Self.entry(1000).original) == nil)
        #expect(copy.conntrack.lookup(Self.entry(1000).original) != nil)
    }

    @Test func scalarAndCounterWritesStayInTheirCopy() {
        let original = Self.host()
        var copy = original
        copy.now = 42
        copy.forwarding = false
        copy.routeLocalnet = true
        copy.bridgeNFCallIPTables = false
        copy.nthCounters[7] = 3
        copy.name = "node-b"
        #expect(original.now == 1_000_000)
        #expect(original.forwarding && !original.routeLocalnet && original.bridgeNFCallIPTables)
        #expect(original.nthCounters.isEmpty)
        #expect(original.name == "node-a")
        #expect(copy.now == 42 && !copy.forwarding && copy.routeLocalnet && !copy.bridgeNFCallIPTables)
        #expect(copy.nthCounters[7] == 3 && copy.name == "node-b")
    }

    @Test func aScalarSetToWhatItAlreadyIsLeavesTheBoxShared() {
        let original = Self.host()
        var copy = original
        copy.now = original.now
        copy.forwarding = original.forwarding
        copy.routeLocalnet = original.routeLocalnet
        copy.bridgeNFCallIPTables = original.bridgeNFCallIPTables
        #expect(copy.sharesStorage(with: original))
        for change in [{ (h: inout Host) in h.now += 1 }, { $0.forwarding.toggle() }, { $0.routeLocalnet.toggle() },
                       { $0.bridgeNFCallIPTables.toggle() }] {
            var changed = original
            change(&changed)
            #expect(!changed.sharesStorage(with: original))
        }
    }

    @Test func newInterfacesReindexTheCopyOnly() {
        let original = Self.host()
        var copy = original
        copy.interfaces.append(Interface(name: "cni0", addresses: [(Self.ip("10.244.0.1"), 24)]))
        #expect(copy.isLocal(Self.ip("10.244.0.1")))
        #expect(!original.isLocal(Self.ip("10.244.0.1")))
        #expect(copy.route(to: Self.ip("10.244.0.7"))?.device == "cni0")
        #expect(original.route(to: Self.ip("10.244.0.7"))?.device == "eth0")
        copy.routes = []
        #expect(copy.route(to: Self.ip("8.8.8.8")) == nil)
        #expect(original.route(to: Self.ip("8.8.8.8"))?.nextHop == Self.ip("192.168.1.1"))
    }

    @Test func takeMovesTheHostOutAndWritesToThePlaceholderNeverReachVacant() {
        var place = Self.host()
        place.conntrack.insert(Self.entry(2000))
        let taken = Host.take(&place)
        #expect(taken.name == "node-a" && taken.conntrack.liveCount == 1)
        #expect(place.name.isEmpty && place.conntrack.liveCount == 0)
        // The placeholder shares the vacant box: writing it must copy first.
        place.now = 7
        place.conntrack.insert(Self.entry(2001))
        #expect(Host.vacant.now == 1_000_000)
        #expect(Host.vacant.conntrack.liveCount == 0)
        #expect(Host.vacant.interfaces.isEmpty)
    }
}

/// `Packet.quoted` lives in a box; packets still compare and hash by the quoted tuple's value.
@Suite struct PacketQuotedTests {
    static func tuple(_ port: UInt16) -> ConntrackTuple {
        ConntrackTuple(source: try! IPAddress(parsing: "10.0.1.2"), sourcePort: port,
                       destination: try! IPAddress(parsing: "10.0.2.2"), destinationPort: 53, proto: .udp)
    }

    static func error(quoting t: ConntrackTuple?) -> Packet {
        Packet(source: try! IPAddress(parsing: "10.0.2.2"), destination: try! IPAddress(parsing: "10.0.1.2"), proto: .icmp,
               icmpType: 3, icmpCode: 3, quoted: t)
    }

    @Test func packetsWithEqualQuotesInSeparateBoxesAreEqualAndHashAlike() {
        let a = Self.error(quoting: Self.tuple(1000)), b = Self.error(quoting: Self.tuple(1000))
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(Set([a, b]).count == 1)
    }

    @Test func aDifferentOrMissingQuoteMakesPacketsDiffer() {
        let a = Self.error(quoting: Self.tuple(1000))
        #expect(a != Self.error(quoting: Self.tuple(1001)))
        #expect(a != Self.error(quoting: nil))
        var b = a
        b.quoted = nil
        #expect(b == Self.error(quoting: nil))
        b.quoted = Self.tuple(1000)
        #expect(b == a)
    }
}
