@testable import NFTables
import Testing
import Wire

/// A seeded one-path draw (`NFTChooser(seed:)`, what `kdp trace`, replay and the bench take)
/// draws one value and weighs it by its class's size, read from `NFTEngine`'s flat per-set
/// table; the all-paths walk (`NFTChooser.enumerate`) branches once per class. For any seed, the one path must be one of the enumerated
/// branches, with the same verdict and the same probability.
@Suite struct NFTNumgenDrawTests {
    static let ruleset = """
    table ip t {
        map m {
            type integer : verdict
            elements = { 0 : goto a, 1 : goto b }
        }
        chain a { accept }
        chain b { drop }
        chain c {
            type filter hook input priority 0; policy accept;
            numgen random mod 7 vmap { 0 : goto a, 1-4 : goto b }
            numgen random mod 2 vmap @m
        }
        chain d {
            type filter hook forward priority 0; policy drop;
            numgen random mod 3 vmap @m
            numgen random mod 2 vmap @m
        }
    }
    """

    func onePathAgreesWithAllPaths(_ hook: NFTHook) throws {
        let engine = NFTEngine(try NFTRuleset.parse(Self.ruleset))
        func walk(_ chooser: inout NFTChooser) -> NFTHookVerdict {
            var p = NFTPacket(source: try! IPAddress(parsing: "10.0.0.1"), destination: try! IPAddress(parsing: "10.0.0.2"))
            var state = NFTDynamicState()
            var steps: [NFTStep]? = nil
            return engine.run(hook: hook, packet: &p, ct: .new, local: [], state: &state, chooser: &chooser, steps: &steps).verdict
        }
        let branches = NFTChooser.enumerate { walk(&$0) }
        #expect(abs(branches.map(\.1).reduce(0, +) - 1) < 1e-12)
        var seen = Set<Int>()
        for seed in UInt64(0)..<400 {
            var chooser = NFTChooser(seed: seed)
            let verdict = walk(&chooser)
            let match = branches.firstIndex { $0.0 == verdict && abs($0.1 - chooser.probability) < 1e-12 }
            #expect(match != nil, "seed \(seed): \(verdict) with probability \(chooser.probability) is no enumerated branch")
            if let match { seen.insert(match) }
        }
        // 400 draws reach every distinct outcome (the rarest is 1/7 × 1/2 or 1/3 × 1/2; two
        // branches with the same verdict and probability are one outcome here).
        let distinct = Set(branches.indices.map { i in branches.firstIndex { $0.0 == branches[i].0 && abs($0.1 - branches[i].1) < 1e-12 }! })
        #expect(seen == distinct)
        #expect(distinct.count >= 3)
    }

    /// `c`: an anonymous map whose classes are {0}, {1…4} and the others {5, 6} (sizes 1, 4, 2),
    /// then a named map read by one numgen site.
    @Test func aSeededDrawIsAnEnumeratedBranchWithItsProbability() throws {
        try onePathAgreesWithAllPaths(.input)
    }

    /// `d`: one named map read by two numgen sites of different moduli: the flat table keeps
    /// one site per set, so this set's draws take the classes' own path.
    @Test func aMapReadByTwoNumgenSitesDrawsAsTheClassesSay() throws {
        try onePathAgreesWithAllPaths(.forward)
    }
}
