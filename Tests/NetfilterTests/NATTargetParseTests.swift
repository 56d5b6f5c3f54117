import Testing
@testable import Netfilter
import Wire

/// The NAT targets read their options as their own libxt parsers do (issue 12 §3: rules
/// iptables-restore refuses are refused). Each refusal here was checked against
/// iptables-restore 1.8.9 (RestoreAcceptanceKernelCheckTests holds them to the kernel).
@Suite struct NATTargetParseTests {
    func parse(_ rule: String) throws -> Ruleset {
        try Ruleset.parse(text: "*nat\n\(rule)\nCOMMIT\n", file: "nat")
    }

    func target(_ rule: String) throws -> Target? {
        try parse(rule).table(.nat)?.chains.flatMap(\.rules).first?.target
    }

    @Test func anOptionGivenTwiceIsRefusedWithItsLine() {
        for rule in ["-A PREROUTING -p tcp -j DNAT --to-destination :0 --persistent --to-destination :0 --persistent --to-destination 0.0.0.0:0",
                     "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:80 --random --random",
                     "-A POSTROUTING -p tcp -j SNAT --to-source 1.2.3.4 --to-source 1.2.3.5",
                     "-A POSTROUTING -p tcp -j MASQUERADE --to-ports 80 --to-ports 90",
                     "-A PREROUTING -p tcp -j REDIRECT --to-ports 80 --to-ports 81"] {
            #expect(throws: RulesetParseError.self, "\(rule)") { try parse(rule) }
        }
        let e = #expect(throws: RulesetParseError.self) { try parse("-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4 --to-destination 1.2.3.5") }
        #expect(e?.line == 2)
        #expect(e?.reason == "DNAT: option \"--to-destination\" can only be used once")
    }

    @Test func portsAndAddressesAreReadAsLibxtNATReadsThem() throws {
        for bad in ["-A POSTROUTING -p tcp -j MASQUERADE --to-ports 80:90", "-A POSTROUTING -p tcp -j MASQUERADE --to-ports 80-",
                    "-A PREROUTING -p tcp -j DNAT --to-destination [1.2.3.4]:80", "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:80:90",
                    "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:080", "-A PREROUTING -p tcp -j DNAT --to-destination -1.2.3.4",
                    "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4-", "-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:80-70",
                    "-A PREROUTING -p tcp -j REDIRECT --to-ports 80-90/85", "-A PREROUTING -j DNAT --to-destination 1.2.3.4:80"] {
            #expect(throws: RulesetParseError.self, "\(bad)") { try parse(bad) }
        }
        let ip = { (s: String) in try! IPAddress(parsing: s) }
        #expect(try target("-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:0x50")
            == .dnat(NATRange(firstAddress: ip("1.2.3.4"), lastAddress: ip("1.2.3.4"), ports: PortRange(80)), random: false, persistent: false))
        #expect(try target("-A PREROUTING -p tcp -j DNAT --to-destination :0")
            == .dnat(NATRange(firstAddress: nil, lastAddress: nil, ports: PortRange(0)), random: false, persistent: false))
        #expect(try target("-A PREROUTING -p tcp -j DNAT --to-destination [fd00::1]:80")
            == .dnat(NATRange(firstAddress: ip("fd00::1"), lastAddress: ip("fd00::1"), ports: PortRange(80)), random: false, persistent: false))
        #expect(try target("-A POSTROUTING -p tcp -j MASQUERADE --to-ports 1-65535") == .masquerade(ports: PortRange(1, 65535), random: false, randomFully: false))
    }

    @Test func longOptionsTakeGetoptsAbbreviations() throws {
        #expect(try target("-A PREROUTING -p tcp -j DNAT --to 1.2.3.4 --rand")
            == .dnat(NATRange(firstAddress: try IPAddress(parsing: "1.2.3.4"), lastAddress: try IPAddress(parsing: "1.2.3.4"), ports: nil),
                     random: true, persistent: false))
        #expect(throws: RulesetParseError.self, "--random and --random-fully") { try parse("-A POSTROUTING -p tcp -j SNAT --to-source 1.2.3.4 --rand") }
    }
}
