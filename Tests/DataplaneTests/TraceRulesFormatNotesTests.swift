import Dataplane
@testable import Netfilter
import Testing
import Wire

/// What `trace-rules` must not assume silently (issue 12 §3): a `-m set` naming a set that was
/// not given, `-m owner`'s socket, rules iptables-restore refuses; and the formats of §2
/// through the request (format detection, `--table`).
@Suite struct TraceRulesFormatNotesTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    /// An AKS-like NetworkPolicy chain: without the sets, every rule consults a set.
    static let policyRules = """
    *filter
    :INPUT ACCEPT [0:0]
    :FORWARD ACCEPT [0:0]
    :OUTPUT ACCEPT [0:0]
    :AZURE-NPM - [0:0]
    -A FORWARD -j AZURE-NPM
    -A AZURE-NPM -m set --match-set azure-npm-123 dst -m set ! --match-set azure-npm-456 src -j DROP
    -A AZURE-NPM -m set --match-set azure-npm-789 dst -j ACCEPT
    COMMIT

    """

    func request(_ rules: String, lenient: Bool = false, ipsets: String? = nil) -> TraceRulesRequest {
        TraceRulesRequest(rulesText: rules, rulesFile: "node.rules", ipsetsText: ipsets, localAddresses: [Self.ip("10.240.0.4")],
                          source: Self.ip("10.244.1.5"), destination: Self.ip("10.244.2.7"), inInterface: "azv1", lenient: lenient)
    }

    @Test func aMissingSetIsAnErrorNamingTheSetTheLineAndIpsets() {
        do {
            _ = try request(Self.policyRules).run()
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix("node.rules:7: rule matches set 'azure-npm-123', which was not given: pass the node's `ipset save`"))
            #expect(error.description.contains("--ipsets"))
        }
        do {
            _ = try request(Self.policyRules, ipsets: "create azure-npm-123 hash:net family inet\n").run(ipsetsFile: "sets.txt")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix("node.rules:7: rule matches set 'azure-npm-456', which is not in sets.txt"))
        }
    }

    @Test func leniencyTakesAMissingSetAsEmptyOnEveryStepThatConsultedIt() throws {
        let t = try request(Self.policyRules, lenient: true).run()
        #expect(t.notes.contains("node.rules:7: set azure-npm-123 was not given (--ipsets): taken as empty (--lenient)"))
        #expect(t.notes.contains("node.rules:8: set azure-npm-789 was not given (--ipsets): taken as empty (--lenient)"))
        let steps = t.paths[0].steps.filter { $0.chain == "AZURE-NPM" }
        #expect(steps.count == 2)
        #expect(steps[0].action == "no match (set azure-npm-123 not given: taken as empty, --lenient)")
        #expect(steps[1].action == "no match (set azure-npm-789 not given: taken as empty, --lenient)")
        #expect(t.paths[0].verdict == .accepted)
        // `! --match-set` of an empty set holds: the step that matched says so too.
        let negated = Self.policyRules.replacingOccurrences(of: "-m set --match-set azure-npm-123 dst ", with: "")
        let n = try request(negated, lenient: true).run()
        #expect(n.paths[0].verdict == .dropped)
        #expect(n.paths[0].steps.contains { $0.action == "drop (set azure-npm-456 not given: taken as empty, --lenient)" })
    }

    @Test func givenSetsAreNotNoted() throws {
        let sets = "create azure-npm-123 hash:net family inet\ncreate azure-npm-456 hash:net family inet\ncreate azure-npm-789 hash:net family inet\nadd azure-npm-789 10.244.2.0/24\n"
        let t = try request(Self.policyRules, ipsets: sets).run()
        #expect(!t.notes.contains { $0.contains("not given") }, "\(t.notes)")
        #expect(t.paths[0].verdict == .accepted)
        #expect(t.paths[0].decidedBy.description.contains("azure-npm-789"))
    }

    /// Azure NPM matches namespaces through list:set sets of hash:net sets.
    @Test func aListSetIsMatchedThroughItsMemberSets() throws {
        let sets = "create azure-npm-123 hash:net family inet\ncreate azure-npm-456 hash:net family inet\nadd azure-npm-456 10.244.1.0/24\n"
            + "create azure-npm-789 list:set size 8\nadd azure-npm-789 azure-npm-123\nadd azure-npm-789 azure-npm-456\n"
        let rules = Self.policyRules.replacingOccurrences(of: "-m set --match-set azure-npm-123 dst -m set ! --match-set azure-npm-456 src -j DROP",
                                                          with: "-m set --match-set azure-npm-789 src -j DROP")
        let t = try request(rules, ipsets: sets).run()
        #expect(t.paths[0].verdict == .dropped, "10.244.1.5 is in azure-npm-456, a member of the list azure-npm-789")
    }

    /// kubernetes#114537: kube-proxy once wrote a garbled DNAT that iptables-restore refuses.
    @Test func aGarbledDNATIsRefusedWithItsLineOrSkippedWithANote() throws {
        let rules = """
        *nat
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -p tcp -j DNAT --to-destination :0 --persistent --to-destination :0 --persistent --to-destination 0.0.0.0:0
        COMMIT

        """
        var r = request(rules)
        r.destination = Self.ip("10.96.0.1")
        do {
            _ = try r.run()
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "node.rules:3: DNAT: option \"--to-destination\" can only be used once: '--to-destination'")
        }
        r.lenient = true
        let t = try r.run()
        #expect(t.paths[0].dnat == nil, "the rule is skipped, never translated to 0.0.0.0:0")
        #expect(t.notes.contains { $0.hasPrefix("node.rules: line 3: DNAT: option \"--to-destination\" can only be used once") })
    }

    static let aks = """
    *security
    :INPUT ACCEPT [0:0]
    :FORWARD ACCEPT [0:0]
    :OUTPUT ACCEPT [0:0]
    -A OUTPUT -d 168.63.129.16/32 -p tcp -m tcp --dport 53 -j ACCEPT
    -A OUTPUT -d 168.63.129.16/32 -p tcp -m owner --uid-owner 0 -j ACCEPT
    -A OUTPUT -d 168.63.129.16/32 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP
    COMMIT

    """

    func wireServer(uid: UInt32?) -> TraceRulesRequest {
        var r = TraceRulesRequest(rulesText: Self.aks, rulesFile: "aks", localAddresses: [Self.ip("10.240.0.4")],
                                  source: Self.ip("10.240.0.4"), destination: Self.ip("168.63.129.16"))
        if let uid { r.socketOwner = SocketOwner(uid: uid, gid: uid) }
        return r
    }

    @Test func ownerMatchesTheLocalSocketRootByDefaultAndSaysSo() throws {
        let root = try wireServer(uid: nil).run()
        #expect(root.paths[0].verdict == .accepted)
        #expect(root.notes.contains("-m owner: the packet leaves a socket of uid 0 gid 0 (root, assumed; --uid and --gid set them)"))
        let user = try wireServer(uid: 1000).run()
        #expect(user.paths[0].verdict == .dropped, "AKS drops a non-root process's connection to WireServer")
        #expect(user.notes.contains("-m owner: the packet leaves a socket of uid 1000 gid 1000 (--uid/--gid; one not given is 0)"))
    }

    @Test func aForwardedPacketHasNoSocket() throws {
        var r = wireServer(uid: nil)
        r.rulesText = "*filter\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:X - [0:0]\n-A OUTPUT -j X\n-A X -m owner ! --uid-owner 0 -j DROP\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -m owner ! --uid-owner 0 -j MASQUERADE\nCOMMIT\n"
        r.source = Self.ip("10.244.1.5")
        let t = try r.run()
        #expect(t.paths[0].masquerade, "no socket: an inverted owner match holds (xt_owner)")
        #expect(t.notes.contains { $0.hasPrefix("-m owner: the packet is not locally generated") })
    }

    @Test func iptablesSInputIsDetectedAndTheTableFlagApplies() throws {
        let listing = "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n-A OUTPUT -d 168.63.129.16/32 -p tcp -m owner --uid-owner 0 -j ACCEPT\n-A OUTPUT -d 168.63.129.16/32 -p tcp -j DROP\n"
        var r = wireServer(uid: 5)
        r.rulesText = listing
        r.table = .security
        let t = try r.run()
        #expect(t.notes.first == "aks: lines 1-5 are `iptables -S` output of table security (--table)")
        #expect(t.paths[0].steps.contains { $0.table == "security" && $0.action == "drop" })
        r.rulesText = Self.aks
        #expect(try r.run().notes.contains("--table security not used: aks is iptables-save text, which names its tables"))
    }
}
