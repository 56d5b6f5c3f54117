import Testing
@testable import Netfilter
import TestSupport
import Wire

/// `-m owner` (issue 12 §3): parsed and printed as libxt_owner does, evaluated as xt_owner
/// does (only locally generated packets have a socket). The printed forms were recorded from
/// iptables-nft 1.8.9: each rule restored in a test namespace, then iptables-save.
@Suite struct OwnerMatchTests {
    /// (as written to iptables-restore, as iptables-save printed it back).
    static let recorded: [(String, String)] = [
        ("-m owner ! --uid-owner 1000-2000 -j ACCEPT", "-m owner ! --uid-owner 1000-2000 -j ACCEPT"),
        ("-m owner --gid-owner 5 ! --socket-exists -j ACCEPT", "-m owner ! --socket-exists --gid-owner 5 -j ACCEPT"),
        ("-m owner --socket-exists -j ACCEPT", "-m owner --socket-exists -j ACCEPT"),
        ("-m owner ! --gid-owner 10 --suppl-groups -j ACCEPT", "-m owner ! --gid-owner 10 --suppl-groups -j ACCEPT"),
        ("-m owner --uid-owner root -j ACCEPT", "-m owner --uid-owner 0 -j ACCEPT"),
        ("-m owner ! --uid-owner 0 ! --gid-owner 0 ! --socket-exists -j ACCEPT", "-m owner ! --socket-exists ! --uid-owner 0 ! --gid-owner 0 -j ACCEPT"),
        ("-m owner --uid-owner 1-1 -j ACCEPT", "-m owner --uid-owner 1 -j ACCEPT"),
        ("-m owner --uid-owner 0x10 -j ACCEPT", "-m owner --uid-owner 16 -j ACCEPT"),
        ("-m owner --uid-owner 010 -j ACCEPT", "-m owner --uid-owner 8 -j ACCEPT"),
        ("-m owner --uid-owner 4294967294 -j ACCEPT", "-m owner --uid-owner 4294967294 -j ACCEPT"),
        ("-m owner --socket-exists --uid-owner 7 -j ACCEPT", "-m owner --socket-exists --uid-owner 7 -j ACCEPT"),
        ("-m owner --gid-owner 3 --suppl-groups --uid-owner 7 -j ACCEPT", "-m owner --uid-owner 7 --gid-owner 3 --suppl-groups -j ACCEPT"),
        ("-m owner --uid-owner 10-0x20 -j ACCEPT", "-m owner --uid-owner 10-32 -j ACCEPT"),
        ("-m owner --uid-owner 10:20 -j ACCEPT", "-m owner --uid-owner 10-20 -j ACCEPT"),
    ]

    static func words(_ s: String) -> [String] { try! Tokenizer.words(Substring(s)).get().map(\.text) }

    @Test func kdpPrintsOwnerAsIPTablesSavePrintedIt() throws {
        for (written, saved) in Self.recorded {
            #expect(try SaveNormalizer.normalize(Self.words(written), family: .ipv4).joined(separator: " ") == saved, "\(written)")
        }
    }

    @Test func ownerRulesMirror() throws {
        let text = "*filter\n" + Self.recorded.map { "-A OUTPUT " + $0.1 + "\n" }.joined() + "COMMIT\n"
        let (checked, failures) = try SaveMirrorTests.mismatches(text, family: .ipv4, file: "owner")
        #expect(failures.isEmpty, "\(failures)")
        #expect(checked == Self.recorded.count)
    }

    @Test func whatLibxtOwnerRefusesIsRefused() {
        for bad in ["-m owner -j ACCEPT", "-m owner --uid-owner 0 --uid-owner 1 -j ACCEPT", "-m owner --uid-owner nosuchuser -j ACCEPT",
                    "-m owner --uid-owner 4294967295 -j ACCEPT", "-m owner --uid-owner -1 -j ACCEPT", "-m owner --uid-owner 5-3 -j ACCEPT",
                    "-m owner --suppl-groups -j ACCEPT", "-m owner --uid-owner 0 --suppl-groups -j ACCEPT", "-m owner --uid-owner 08 -j ACCEPT",
                    "-m owner ! --suppl-groups --gid-owner 1 -j ACCEPT"] {
            #expect(throws: SaveNormalizer.Problem.self, "\(bad)") { try SaveNormalizer.normalize(Self.words(bad), family: .ipv4) }
        }
        #expect(throws: RulesetParseError.self) { try Ruleset.parse(text: "*filter\n-A INPUT -m owner --uid-owner 0 -j ACCEPT\nCOMMIT\n") }
        #expect(throws: RulesetParseError.self) {
            try Ruleset.parse(text: "*filter\n:X - [0:0]\n-A FORWARD -j X\n-A X -m owner --socket-exists -j ACCEPT\nCOMMIT\n")
        }
    }

    /// xt_owner.c owner_mt.
    @Test func onlyASocketHasAnOwner() {
        var m = OwnerMatch()
        m.uid = 0...0
        #expect(m.matches(SocketOwner(uid: 0, gid: 0)))
        #expect(!m.matches(SocketOwner(uid: 1000, gid: 0)))
        #expect(!m.matches(nil), "no socket: a plain --uid-owner does not match")
        m.uidNegated = true
        #expect(m.matches(nil), "no socket: matches when every option given is inverted")
        #expect(m.matches(SocketOwner(uid: 1000, gid: 0)))
        m.gid = 5...9
        #expect(!m.matches(nil))
        #expect(m.matches(SocketOwner(uid: 1000, gid: 7)))
        var s = OwnerMatch()
        s.socketExists = true
        #expect(s.matches(SocketOwner()) && !s.matches(nil))
        s.socketNegated = true
        #expect(!s.matches(SocketOwner()) && s.matches(nil))
        var g = OwnerMatch()
        g.gid = 3...3
        g.gidNegated = true
        g.supplementaryGroups = true
        #expect(!g.matches(nil), "--suppl-groups is never inverted")
    }

    @Test func theTracerGivesLocallyGeneratedPacketsTheirSocket() throws {
        let rules = "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m owner --uid-owner 1000 -j DROP\nCOMMIT\n"
        let tracer = Tracer(ruleset: try Ruleset.parse(text: rules))
        let host = Host.simple(localAddresses: [try IPAddress(parsing: "10.0.0.1")])
        let p = Packet(source: try IPAddress(parsing: "10.0.0.1"), destination: try IPAddress(parsing: "10.0.0.9"), proto: .tcp,
                       sourcePort: 40000, destinationPort: 80)
        #expect(tracer.trace(packet: p, host: host).paths[0].verdict == .accepted, "root by default")
        var o = TraceOptions()
        o.socketOwner = SocketOwner(uid: 1000, gid: 1000)
        #expect(tracer.trace(packet: p, host: host, options: o).paths[0].verdict == .dropped)
    }

    /// The recorded spellings, live: each rule restored with the real iptables-restore in a test
    /// namespace, and what iptables-save prints back is what kdp prints.
    @Test(.enabled(if: KernelCheck.enabled, "kernel check: needs root and the iptables tools"))
    func theRealIPTablesSavePrintsOwnerAsKdpDoes() throws {
        if KernelCheck.unavailable() { return }
        let ns = try NetworkNamespace("owner")
        defer { ns.delete() }
        let text = "*filter\n" + Self.recorded.map { "-A OUTPUT " + $0.0 + "\n" }.joined() + "COMMIT\n"
        try ns.sh("iptables-restore <<'KDP_RULES'\n\(text)KDP_RULES\n")
        let saved = try ns.sh("iptables-save -t filter").split(separator: "\n").filter { $0.hasPrefix("-A OUTPUT ") }
        let kdp = try Self.recorded.map { "-A OUTPUT " + (try SaveNormalizer.normalize(Self.words($0.0), family: .ipv4).joined(separator: " ")) }
        #expect(saved.map(String.init) == kdp)
    }
}
