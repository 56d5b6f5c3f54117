import Testing
@testable import Netfilter
import Wire

/// The source address of a host's own packets, as `ip route get` shows it: a local destination
/// takes itself (127.0.0.1 for 127.0.0.0/8), else the route's `src`, else the outgoing
/// interface's first address (the one in the gateway's subnet when there is one).
@Suite struct SourceAddressSelectionTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }
    static func prefix(_ s: String) -> Prefix { try! Prefix(parsing: s) }

    /// worker-1 of the demo: eth0 172.18.0.3/16, cni0 10.244.1.1/24, the routes kdp's CNI sets.
    static let worker1 = Host(name: "worker-1", interfaces: [
        Interface(name: "eth0", addresses: [(ip("172.18.0.3"), 16)]),
        Interface(name: "cni0", addresses: [(ip("10.244.1.1"), 24)]),
    ], routes: [
        Route(destination: prefix("0.0.0.0/0"), device: "eth0", gateway: ip("172.18.0.1")),
        Route(destination: prefix("10.244.1.0/24"), device: "cni0", source: ip("10.244.1.1")),
        Route(destination: prefix("10.244.2.0/24"), device: "eth0", gateway: ip("172.18.0.4")),
        Route(destination: prefix("172.18.0.0/16"), device: "eth0", source: ip("172.18.0.3")),
    ])

    @Test func aNodesOwnPodIsReachedFromTheBridgeRoutesSource() {
        #expect(Self.worker1.outputSource(to: Self.ip("10.244.1.3")) == Self.ip("10.244.1.1"))
    }

    @Test func aRemotePodOrServiceIsReachedFromTheNodeAddress() {
        #expect(Self.worker1.outputSource(to: Self.ip("10.244.2.2")) == Self.ip("172.18.0.3"))
        #expect(Self.worker1.outputSource(to: Self.ip("10.96.0.10")) == Self.ip("172.18.0.3"))
    }

    @Test func aLocalDestinationIsItsOwnSourceAndLoopbackIs127001() {
        #expect(Self.worker1.outputSource(to: Self.ip("10.244.1.1")) == Self.ip("10.244.1.1"))
        #expect(Self.worker1.outputSource(to: Self.ip("127.0.0.53")) == Self.ip("127.0.0.1"))
    }

    @Test func aRouteWithoutSrcTakesTheDevicesAddressInTheGatewaysSubnet() {
        let h = Host(interfaces: [Interface(name: "eth1", addresses: [(Self.ip("10.1.0.5"), 16), (Self.ip("10.2.0.5"), 16)])],
                     routes: [Route(destination: Self.prefix("192.0.2.0/24"), device: "eth1", gateway: Self.ip("10.2.0.1")),
                              Route(destination: Self.prefix("198.51.100.0/24"), device: "eth1")])
        #expect(h.outputSource(to: Self.ip("192.0.2.9")) == Self.ip("10.2.0.5"))
        #expect(h.outputSource(to: Self.ip("198.51.100.9")) == Self.ip("10.1.0.5"), "no gateway: the device's primary address")
    }

    @Test func aRouteSrcWinsOverTheDevicesAddresses() {
        let h = Host(interfaces: [Interface(name: "eth0", addresses: [(Self.ip("10.1.0.5"), 16)]),
                                  Interface(name: "dummy0", addresses: [(Self.ip("192.0.2.1"), 32)])],
                     routes: [Route(destination: Self.prefix("0.0.0.0/0"), device: "eth0", gateway: Self.ip("10.1.0.1"), source: Self.ip("192.0.2.1"))])
        #expect(h.outputSource(to: Self.ip("8.8.8.8")) == Self.ip("192.0.2.1"))
    }

    @Test func noRouteNoSource() {
        let h = Host(interfaces: [Interface(name: "eth0", addresses: [(Self.ip("10.1.0.5"), 16)])])
        #expect(h.outputSource(to: Self.ip("8.8.8.8")) == nil)
    }

    @Test func ipv6TakesTheOutgoingInterfacesAddressWithTheLongestCommonPrefix() {
        let h = Host(interfaces: [
            Interface(name: "eth0", addresses: [(Self.ip("fd00:18::3"), 64)]),
            Interface(name: "cni0", addresses: [(Self.ip("fe80::1"), 64), (Self.ip("fd00:10:244:1::1"), 64)]),
        ], routes: [Route(destination: Self.prefix("::/0"), device: "eth0", gateway: Self.ip("fd00:18::1"))])
        #expect(h.outputSource(to: Self.ip("fd00:10:244:1::5")) == Self.ip("fd00:10:244:1::1"))
        #expect(h.outputSource(to: Self.ip("2001:db8::1")) == Self.ip("fd00:18::3"))
    }

    @Test func aBridgedFrameIsOneForTheInputInterfacesOwnSubnet() {
        var p = Packet(source: Self.ip("10.244.1.2"), destination: Self.ip("10.244.1.3"))
        p.inInterface = "cni0"
        #expect(Self.worker1.bridgedInterface(for: p) == "cni0")
        p.destination = Self.ip("10.96.0.10")
        #expect(Self.worker1.bridgedInterface(for: p) == nil, "a frame to the gateway's MAC is routed")
        p.destination = Self.ip("10.244.1.1")
        #expect(Self.worker1.bridgedInterface(for: p) == nil, "the bridge's own address is local")
    }

    @Test func withBridgeNFCallIPTablesOffABridgedFrameSkipsIPTables() throws {
        let rules = try Ruleset.parse(text: "*filter\n:FORWARD DROP [0:0]\nCOMMIT\n", file: "r")
        var host = Self.worker1
        var p = Packet(source: Self.ip("10.244.1.2"), destination: Self.ip("10.244.1.3"), proto: .tcp, sourcePort: 40000, destinationPort: 80)
        p.inInterface = "cni0"
        #expect(Tracer(ruleset: rules).trace(packet: p, host: host).paths[0].verdict == .dropped, "br_netfilter on: FORWARD's policy drops it")
        host.bridgeNFCallIPTables = false
        let t = Tracer(ruleset: rules).trace(packet: p, host: host)
        #expect(t.paths[0].verdict == .accepted)
        #expect(t.paths[0].deliveredTo == .out(interface: "cni0"))
        #expect(!t.paths[0].steps.contains { $0.hook == .forward })
    }

    @Test func withForwardingOffABridgedFrameStillPassesButADNATedOneIsRouted() throws {
        let rules = try Ruleset.parse(text: """
        *nat
        -A PREROUTING -d 10.244.1.9 -p tcp -j DNAT --to-destination 10.244.1.3:8080
        COMMIT

        """, file: "r")
        var host = Self.worker1
        host.forwarding = false
        var p = Packet(source: Self.ip("10.244.1.2"), destination: Self.ip("10.244.1.3"), proto: .tcp, sourcePort: 40000, destinationPort: 8080)
        p.inInterface = "cni0"
        #expect(Tracer(ruleset: rules).trace(packet: p, host: host).paths[0].verdict == .accepted, "bridged between two pods")
        p.destination = Self.ip("10.244.1.9")
        let t = Tracer(ruleset: rules).trace(packet: p, host: host)
        #expect(t.paths[0].verdict == .dropped, "DNATed: routed, and forwarding is off (the kernel showed it)")
        #expect(t.paths[0].reason == "not forwarded: ip_forward is off")
    }
}
