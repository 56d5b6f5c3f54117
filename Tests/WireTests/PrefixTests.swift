import Testing
@testable import Wire

@Suite struct PrefixTests {
    @Test func parsesNetworkAndLength() throws {
        let p = try Prefix(parsing: "10.244.0.0/16")
        #expect(p.network.description == "10.244.0.0")
        #expect(p.length == 16)
        #expect(p.description == "10.244.0.0/16")
    }

    @Test func rejectsHostBitsUnlessAllowed() throws {
        #expect(throws: AddressError.self) { try Prefix(parsing: "10.244.1.5/16") }
        #expect(try Prefix(parsing: "10.244.1.5/16", allowHostBits: true).description == "10.244.0.0/16")
    }

    @Test(arguments: ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "/8", "fd00::/129", "10.0.0.0/8/8", "10.0.0.0/ 8"])
    func rejectsMalformedCIDRs(_ text: String) {
        #expect(throws: AddressError.self) { try Prefix(parsing: text) }
    }

    @Test func bareAddressIsAHostPrefixWhenAllowed() throws {
        #expect(try Prefix(parsing: "10.1.2.3", allowBareAddress: true).description == "10.1.2.3/32")
        #expect(try Prefix(parsing: "fd00::1", allowBareAddress: true).description == "fd00::1/128")
    }

    @Test func containsAddressesAndPrefixes() throws {
        let p = try Prefix(parsing: "10.244.0.0/16")
        #expect(p.contains(try IPAddress(parsing: "10.244.255.255")))
        #expect(!p.contains(try IPAddress(parsing: "10.245.0.0")))
        #expect(!p.contains(try IPAddress(parsing: "::a:f4:0:0")))
        #expect(p.contains(try Prefix(parsing: "10.244.3.0/24")))
        #expect(!p.contains(try Prefix(parsing: "10.0.0.0/8")))
    }

    @Test func overlapIsContainmentEitherWay() throws {
        let a = try Prefix(parsing: "10.0.0.0/8"), b = try Prefix(parsing: "10.96.0.0/12"), c = try Prefix(parsing: "192.168.0.0/16")
        #expect(a.overlaps(b) && b.overlaps(a))
        #expect(!a.overlaps(c))
    }

    @Test func nthAddressAndLastAddress() throws {
        let p = try Prefix(parsing: "10.244.1.0/24")
        #expect(p.address(at: 1)?.description == "10.244.1.1")
        #expect(p.address(at: 255)?.description == "10.244.1.255")
        #expect(p.address(at: 256) == nil)
        #expect(p.lastAddress.description == "10.244.1.255")
        #expect(try Prefix(parsing: "fd00:10:244:1::/64").lastAddress.description == "fd00:10:244:1:ffff:ffff:ffff:ffff")
        #expect(try Prefix(parsing: "0.0.0.0/0").lastAddress.description == "255.255.255.255")
    }

    @Test func splitsIntoSubnetsInAddressOrder() throws {
        let p = try Prefix(parsing: "10.244.0.0/16")
        #expect(p.subnetCount(newLength: 24) == 256)
        #expect(p.subnet(0, newLength: 24)?.description == "10.244.0.0/24")
        #expect(p.subnet(3, newLength: 24)?.description == "10.244.3.0/24")
        #expect(p.subnet(256, newLength: 24) == nil)
        #expect(p.subnetIndex(of: try Prefix(parsing: "10.244.7.0/24")) == 7)
        let v6 = try Prefix(parsing: "fd00:10:244::/56")
        #expect(v6.subnet(2, newLength: 64)?.description == "fd00:10:244:2::/64")
    }

    @Test func ipv6ZeroPrefixHasNoCountableSize() throws {
        #expect(try Prefix(parsing: "::/0").addressCount == nil)
        #expect(try Prefix(parsing: "::/1").addressCount == UInt128(1) << 127)
    }
}

@Suite struct PortAndProtocolTests {
    @Test func parsesKubernetesAndIPTablesRanges() throws {
        #expect(try PortRange(parsing: "30000-32767") == PortRange(30000, 32767))
        #expect(try PortRange(parsing: "80:90") == PortRange(80, 90))
        #expect(try PortRange(parsing: "53") == PortRange(53))
        #expect(try PortRange(parsing: ":1024", allowOpenEnds: true) == PortRange(0, 1024))
        #expect(try PortRange(parsing: "1024:", allowOpenEnds: true) == PortRange(1024, 65535))
        #expect(PortRange(30000, 32767).count == 2768)
    }

    @Test(arguments: ["", "65536", "90:80", "1-2-3", "http", "-1", ":80"])
    func rejectsBadPorts(_ text: String) {
        #expect(throws: AddressError.self) { try PortRange(parsing: text) }
    }

    @Test func protocolNamesAndNumbers() throws {
        #expect(try IPProtocol(parsing: "TCP") == .tcp)
        #expect(try IPProtocol(parsing: "sctp") == .sctp)
        #expect(try IPProtocol(parsing: "ipv6-icmp") == .icmpv6)
        #expect(try IPProtocol(parsing: "47").name == "gre")
        #expect(try IPProtocol(parsing: "200").name == "200")
        #expect(IPProtocol.udp.kubernetesName == "UDP")
        #expect(throws: AddressError.self) { try IPProtocol(parsing: "tcpx") }
    }

    @Test func seededGeneratorRepeatsForASeed() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
        let xa = (0..<4).map { _ in a.next() }, xb = (0..<4).map { _ in b.next() }, xc = (0..<4).map { _ in c.next() }
        #expect(xa == xb)
        #expect(xa != xc)
    }
}
