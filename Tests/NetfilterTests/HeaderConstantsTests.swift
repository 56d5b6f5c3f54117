import Testing
@testable import Netfilter
import Wire

/// The path conditions `kdp verify` builds classes from: what a trace records, and how
/// addresses are compared against it.
@Suite struct HeaderConstantsTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }
    static func prefix(_ s: String) -> Prefix { try! Prefix(parsing: s) }

    @Test func prefixSetTellsAddressesInDifferentPrefixesOfOneLengthApart() {
        let set = PrefixSet([Self.prefix("10.244.1.0/24"), Self.prefix("10.244.2.0/24"), Self.prefix("10.0.0.0/8")])
        #expect(set.sameSide(Self.ip("10.244.1.5"), Self.ip("10.244.1.200")))
        #expect(!set.sameSide(Self.ip("10.244.1.5"), Self.ip("10.244.2.5")))    // both in a /24, not the same one
        #expect(!set.sameSide(Self.ip("10.244.1.5"), Self.ip("10.244.3.5")))    // in a /24 and outside every /24
        #expect(set.sameSide(Self.ip("10.244.3.5"), Self.ip("10.9.9.9")))       // both only in the /8
        #expect(!set.sameSide(Self.ip("10.9.9.9"), Self.ip("192.0.2.1")))       // in the /8 and outside it
        #expect(set.sameSide(Self.ip("192.0.2.1"), Self.ip("fd00::1")))         // outside all, whatever the family
    }

    @Test func sharedConstantsSplitOffHostPrefixesExactly() {
        let c = SharedHeaderConstants(destinationPrefixes: [Self.prefix("10.96.0.10/32"), Self.prefix("10.96.0.0/12")])
        #expect(!c.sameDestination(Self.ip("10.96.0.11"), as: Self.ip("10.96.0.10")))
        #expect(c.sameDestination(Self.ip("10.96.0.11"), as: Self.ip("10.100.0.1")))
        #expect(!c.sameDestination(Self.ip("10.96.0.11"), as: Self.ip("10.200.0.1")))
        #expect(c.sameSource(Self.ip("10.96.0.10"), as: Self.ip("1.2.3.4")))   // destination constants say nothing of sources
    }

    /// A trace with `recordConstants` records the prefixes and ports of the rules it evaluated,
    /// and the host it walked; without it, nothing.
    @Test func aTraceRecordsWhatItsTestsComparedWith() throws {
        let rules = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -s 10.244.0.0/16 -d 192.0.2.0/24 -p tcp --dport 443 -j DROP
        -A FORWARD -p udp --dport 53 -j ACCEPT
        COMMIT
        """
        let tracer = Tracer(ruleset: try Ruleset.parse(text: rules, file: "t"), compiled: true)
        let host = Host(name: "n", interfaces: [Interface(name: "eth0", addresses: [(Self.ip("172.18.0.2"), 24)])],
                        routes: [Route(destination: Self.prefix("0.0.0.0/0"), device: "eth0", gateway: Self.ip("172.18.0.1"))])
        let packet = Packet(source: Self.ip("10.244.1.2"), destination: Self.ip("192.0.2.7"), proto: .tcp, sourcePort: 40000,
                            destinationPort: 443, inInterface: "eth0")
        var options = TraceOptions()
        options.recordConstants = true
        let path = try #require(tracer.trace(packet: packet, host: host, options: options).paths.first)
        let c = try #require(path.constants)
        #expect(c.sourcePrefixes.contains(Self.prefix("10.244.0.0/16")))
        #expect(c.destinationPrefixes.contains(Self.prefix("192.0.2.0/24")))
        #expect(c.destinationPorts.contains(PortRange(443)))
        #expect(c.hosts == ["n"])
        #expect(path.verdict == .dropped)
        // The UDP rule was never reached: its port is not part of this path's condition.
        #expect(!c.destinationPorts.contains(PortRange(53)))
        #expect(tracer.trace(packet: packet, host: host).paths.first?.constants == nil)
    }
}
