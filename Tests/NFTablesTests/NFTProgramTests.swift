@testable import NFTables
import Testing
import Wire

/// The flat program `NFTEngine` walks: chains laid out in the order packets reach them, ops
/// that hold no references, numgen maps inlined as one branch per value, and verdict maps whose
/// verdict comes from the index's slot.
@Suite struct NFTProgramTests {
    /// kube-proxy's shape: `services` dispatches by verdict map to per-Service chains, each of
    /// which picks an endpoint chain by `numgen`. Chains are declared in another order.
    static let kubeProxyShape = """
    table ip kube-proxy {
        map service-ips {
            type ipv4_addr . inet_proto . inet_service : verdict
            elements = { 10.96.0.10 . tcp . 80 : goto service-b, 10.96.0.11 . tcp . 80 : goto service-a }
        }
        chain endpoint-a1 { meta l4proto tcp dnat to 10.244.1.2:8080 }
        chain endpoint-a2 { meta l4proto tcp dnat to 10.244.2.2:8080 }
        chain endpoint-b1 { meta l4proto tcp dnat to 10.244.1.3:8080 }
        chain mark-for-masquerade { mark set mark or 0x4000 }
        chain service-a {
            ip daddr 10.96.0.11 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
            numgen random mod 2 vmap { 0 : goto endpoint-a1, 1 : goto endpoint-a2 }
        }
        chain service-b { numgen random mod 1 vmap { 0 : goto endpoint-b1 } }
        chain services { ip daddr . meta l4proto . th dport vmap @service-ips }
        chain nat-prerouting {
            type nat hook prerouting priority dstnat; policy accept;
            jump services
        }
    }
    """

    static func engine(_ text: String) throws -> NFTEngine { NFTEngine(try NFTRuleset.parse(text)) }

    @Test func chainsAreLaidOutInTheOrderPacketsReachThem() throws {
        let engine = try Self.engine(Self.kubeProxyShape)
        let names = ["nat-prerouting", "services", "service-b", "endpoint-b1", "service-a", "mark-for-masquerade", "endpoint-a1", "endpoint-a2"]
        let starts = try names.map { name in
            let c = try #require(engine.ruleset.chain(0, name), "no chain \(name)")
            return engine.program.chainStart[c]
        }
        // Depth first from the base chain; the map's targets in element order, each Service's
        // chain followed by the chains it reaches.
        #expect(starts == starts.sorted(), "program order \(zip(names, starts).sorted { $0.1 < $1.1 }.map(\.0))")
    }

    @Test func anOpHoldsNoReferenceAndTakes24Bytes() {
        #expect(MemoryLayout<NFTOp>.stride == 24)
        #expect(_isPOD(NFTOp.self))
    }

    /// `numgen random mod 7` over an anonymous map with an element for 0, one for 1–4 and none
    /// for 5–6: each seeded draw must take the branch of the value it drew, with that value's
    /// class share as its probability, and a value with no element falls through to the next
    /// rule.
    @Test func eachDrawnValueTakesItsOwnElementsBranch() throws {
        let engine = try Self.engine("""
        table ip t {
            chain a { accept }
            chain b { drop }
            chain c {
                type filter hook input priority 0; policy accept;
                numgen random mod 7 vmap { 0 : goto a, 1-4 : goto b }
                reject
            }
        }
        """)
        for seed in UInt64(0)..<64 {
            var rng = SeededGenerator(seed: seed)
            let value = UInt32(rng.next() % 7)
            var chooser = NFTChooser(seed: seed)
            var p = NFTPacket(source: try IPAddress(parsing: "10.0.0.1"), destination: try IPAddress(parsing: "10.0.0.2"))
            var state = NFTDynamicState()
            var steps: [NFTStep]? = []
            let verdict = engine.run(hook: .input, packet: &p, ct: .new, local: [], state: &state, chooser: &chooser, steps: &steps).verdict
            let (want, share): (NFTHookVerdict, Double) = switch value {
            case 0: (.accept, 1.0 / 7)
            case 1...4: (.drop, 4.0 / 7)
            default: (.reject, 2.0 / 7)
            }
            #expect(verdict == want, "seed \(seed) drew \(value)")
            #expect(abs(chooser.probability - share) < 1e-12, "seed \(seed) drew \(value)")
            // A matched numgen rule's step shows the value drawn; with no element it takes no step.
            if value <= 4 { #expect(steps?.first?.numgen == value) } else { #expect(steps?.count == 1) }
        }
    }

    @Test func aVerdictMapHitReadsTheElementsVerdictFromTheIndex() throws {
        let engine = try Self.engine(Self.kubeProxyShape)
        let s = try #require(engine.set(named: "service-ips"))
        let set = engine.ruleset.sets[Int(s)]
        for (i, e) in set.elements.enumerated() {
            let key = set.key(of: e.low)
            let hit = try #require(withUnsafePointer(to: set) { p in
                e.low.withUnsafeBufferPointer { NFTSet.lookupVerdict(p, key, fields: $0) }
            })
            #expect(hit.element == Int32(i))
            guard case .verdict(let v)? = e.value else { Issue.record("element \(i) maps to no verdict"); continue }
            #expect(NFTVerdict(packed: hit.verdict) == v)
        }
    }

    @Test func aPackedVerdictUnpacksToItself() {
        for v: NFTVerdict in [.accept, .drop, .continue, .return, .jump(0), .goto(7), .jump(Int32.max)] {
            #expect(NFTVerdict(packed: v.packed) == v)
            #expect(v.packed != 0)
        }
        #expect(NFTVerdict(packed: 0) == nil)
    }

    /// Constants wider than 32 bits (an IPv6 prefix, an interface name) take the wide pool; an
    /// IPv4 packet never matches an `ip6` field.
    @Test func aComparisonWiderThan32BitsMatchesAsWritten() throws {
        let engine = try Self.engine("""
        table inet t {
            chain c {
                type filter hook input priority 0; policy accept;
                ip6 daddr fd00::/64 iifname "eth0" drop
            }
        }
        """)
        func verdict(_ destination: String, _ iif: String) throws -> NFTHookVerdict {
            var p = NFTPacket(source: try IPAddress(parsing: destination.contains(":") ? "fd00::9" : "10.0.0.9"),
                              destination: try IPAddress(parsing: destination), inInterface: NFTInterfaceName.pack(iif))
            var state = NFTDynamicState()
            var chooser = NFTChooser(seed: 1)
            var steps: [NFTStep]? = nil
            return engine.run(hook: .input, packet: &p, ct: .new, local: [], state: &state, chooser: &chooser, steps: &steps).verdict
        }
        #expect(try verdict("fd00::5", "eth0") == .drop)
        #expect(try verdict("fd00:0:0:1::5", "eth0") == .accept)
        #expect(try verdict("fd00::5", "eth1") == .accept)
        #expect(try verdict("10.0.0.5", "eth0") == .accept)
        #expect(engine.program.wide.count == 2)
    }
}
