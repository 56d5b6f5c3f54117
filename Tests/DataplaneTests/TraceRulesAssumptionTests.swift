import Cluster
import Dataplane
import Foundation
@testable import Netfilter
import Testing
import TestSupport
import Wire

/// `kdp trace-rules` states what it assumed about the node (interfaces, routes, sysctls), takes
/// what the user states instead (`--iface`, `--route`, `--sysctl`), and answers with it.
@Suite struct TraceRulesAssumptionTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }
    static let upstream = UpstreamKubeProxyRules.withBuiltinJumps()

    static func localhostNodePort(_ rules: String = upstream) -> TraceRulesRequest {
        TraceRulesRequest(rulesText: rules, rulesFile: "r", localAddresses: [ip("192.168.0.2")],
                          source: ip("127.0.0.1"), destination: ip("127.0.0.1"), destinationPort: 3001)
    }

    @Test func localhostNodePortsImplyRouteLocalnetAndAreDNATedAndMasqueraded() throws {
        let t = try Self.localhostNodePort().run()
        #expect(t.packet.inInterface == nil, "127.0.0.1 is a process on the node")
        #expect(t.paths[0].verdict == .accepted)
        #expect(t.paths[0].dnat?.description == "10.180.0.2:80")
        #expect(t.paths[0].snat?.description == "192.168.0.2:40000", "masqueraded to eth0's address")
        #expect(t.notes.contains { $0.contains("net.ipv4.conf.all.route_localnet=1 (assumed: kube-proxy sets it") })
    }

    @Test func routeLocalnetGivenAsZeroDropsTheLocalhostNodePort() throws {
        var req = Self.localhostNodePort()
        req.sysctls[.routeLocalnet] = false
        let t = try req.run()
        #expect(t.paths[0].verdict == .dropped)
        #expect(t.paths[0].reason?.contains("route_localnet=0") == true)
        #expect(t.notes.contains { $0.contains("net.ipv4.conf.all.route_localnet=0 (given)") })
    }

    @Test func rulesThatBlockLocalhostNodePortsImplyRouteLocalnetOff() throws {
        let blocked = Self.upstream.replacingOccurrences(of: "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS",
                                                         with: "-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS")
        #expect(blocked != Self.upstream)
        let t = try Self.localhostNodePort(blocked).run()
        #expect(t.notes.contains { $0.contains("net.ipv4.conf.all.route_localnet=0 (assumed: the kernel's default") })
        #expect(t.paths[0].dnat == nil)
    }

    @Test func ipForwardGivenAsZeroDropsForwardedTraffic() throws {
        var req = TraceRulesRequest(rulesText: Self.upstream, rulesFile: "r", localAddresses: [Self.ip("192.168.0.2")],
                                    source: Self.ip("10.0.1.5"), destination: Self.ip("172.30.0.41"), inInterface: "cni0")
        #expect(try req.run().paths[0].verdict == .accepted)
        req.sysctls[.ipForward] = false
        let t = try req.run()
        #expect(t.paths[0].verdict == .dropped)
        #expect(t.notes.contains { $0.contains("net.ipv4.ip_forward=0 (given)") })
    }

    @Test func withoutIfaceAndRouteTheTraceSaysWhatItAssumed() throws {
        let t = try Self.localhostNodePort().run()
        #expect(t.notes.contains("assumed: eth0 has 192.168.0.2/24; state interfaces with --iface NAME=ADDR/LEN"))
        #expect(t.notes.contains("assumed: default route out eth0, no gateway; state routes with --route DEST[,via=GW],dev=IFACE"))
    }

    @Test func masqueradeTakesTheOutgoingInterfacesAddressInTheNextHopsSubnet() throws {
        var req = Self.localhostNodePort()
        req.localAddresses = []
        req.interfaces = [Interface(name: "eth0", addresses: [(Self.ip("192.168.0.2"), 24)]),
                          Interface(name: "eth1", addresses: [(Self.ip("10.1.0.5"), 16), (Self.ip("10.2.0.5"), 16)])]
        req.routes = [try TraceRulesRequest.parseRoute("default,via=192.168.0.1,dev=eth0"),
                      try TraceRulesRequest.parseRoute("10.180.0.0/16,via=10.2.0.1,dev=eth1")]
        let t = try req.run()
        #expect(t.paths[0].deliveredTo == .out(interface: "eth1"))
        #expect(t.paths[0].snat?.description == "10.2.0.5:40000", "inet_select_addr prefers the address in the gateway's subnet")
        #expect(!t.notes.contains { $0.hasPrefix("assumed: eth0") || $0.hasPrefix("assumed: default route") })
    }

    @Test func withBridgeNFCallIPTablesOffABridgedFrameNeverReachesIPTables() throws {
        var req = TraceRulesRequest(rulesText: Self.upstream, rulesFile: "r", localAddresses: [Self.ip("192.168.0.2")],
                                    source: Self.ip("10.0.1.5"), destination: Self.ip("10.0.1.6"), inInterface: "cni0")
        req.interfaces = [Interface(name: "cni0", addresses: [(Self.ip("10.0.1.1"), 24)])]
        #expect(try req.run().paths[0].steps.contains { $0.hook == .forward }, "bridge-nf-call-iptables=1 (assumed): FORWARD sees it")
        req.sysctls[.bridgeNFCallIPTables] = false
        let t = try req.run()
        #expect(t.paths[0].verdict == .accepted)
        #expect(t.paths[0].steps.count == 1 && t.paths[0].steps[0].action.contains("bridge-nf-call-iptables=0"))
    }

    @Test func routeIfaceAndSysctlTextsParseOrSayWhatIsWrong() throws {
        let r = try TraceRulesRequest.parseRoute("10.0.0.0/8,via=172.18.0.1,dev=eth0,src=172.18.0.3")
        #expect(r.destination == (try Prefix(parsing: "10.0.0.0/8")) && r.gateway == Self.ip("172.18.0.1") && r.device == "eth0"
                && r.source == Self.ip("172.18.0.3"))
        #expect(try TraceRulesRequest.parseRoute("default,dev=eth0").destination.length == 0)
        #expect(try TraceRulesRequest.parseRoute("default,via=fd00::1,dev=eth0").destination.family == .ipv6)
        for bad in ["", "10.0.0.0/8", "10.0.0.0/8,dev=", "10.0.0.0/8,gw=1.2.3.4,dev=eth0", "10.0.0.0/33,dev=eth0",
                    "10.0.0.0/8,via=fd00::1,dev=eth0", "10.0.0.0/8,via=nope,dev=eth0"] {
            #expect(throws: InputError.self, "\(bad)") { try TraceRulesRequest.parseRoute(bad) }
        }
        let i = try TraceRulesRequest.parseInterface("eth1=10.1.0.5/16")
        #expect(i.name == "eth1" && i.address == Self.ip("10.1.0.5") && i.prefixLength == 16)
        for bad in ["eth1", "=10.0.0.1/8", "eth1=10.0.0.1", "eth1=10.0.0.1/40", "averyveryverylongname=10.0.0.1/8"] {
            #expect(throws: InputError.self, "\(bad)") { try TraceRulesRequest.parseInterface(bad) }
        }
        #expect(try Sysctl.parseAssignment("net/ipv4/ip_forward=0") == (.ipForward, false))
        for bad in ["net.ipv4.ip_forward", "net.ipv4.ip_forward=2", "net.ipv4.tcp_syncookies=1"] {
            #expect(throws: InputError.self, "\(bad)") { try Sysctl.parseAssignment(bad) }
        }
    }
}
