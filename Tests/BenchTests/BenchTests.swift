@testable import Bench
import IPVS
import Testing
import Wire

@Suite struct BenchTests {
    /// `lookup.nftables` walks real packets through a compiled nft table: on a small cluster
    /// the probes get through (it throws when none does) and the row has a per-packet cost.
    @Test func nftablesLookupDeliversThroughTheCompiledTable() throws {
        let cluster = try BenchCluster.build(BenchCluster.spec(services: 20, endpointsPerService: 2, seed: 1))
        let rows = try NFTablesBench.lookup(cluster, seed: 1)
        #expect(rows.map(\.name) == ["lookup.nftables", "lookup.nftables.map", "parse.nftables.per_rule"])
        for row in rows { #expect(row.nsPerOp > 0 && row.nsPerOp.isFinite) }
    }

    /// The ratios the issues set targets on are computed from rows of the same run, and a
    /// ratio whose rows are missing is left out rather than invented.
    @Test func ratiosComeFromRowsOfTheSameRun() {
        let rows = [BenchResult(name: "lookup.nftables.map", opsPerSecond: 0, nsPerOp: 30, seconds: 0),
                    BenchResult(name: "baseline.hash_probe", opsPerSecond: 0, nsPerOp: 20, seconds: 0),
                    BenchResult(name: "lookup.iptables.linear", opsPerSecond: 0, nsPerOp: 5000, seconds: 0)]
        let ratios = BenchRatio.all(rows)
        let map = ratios.first { $0.name == "lookup.nftables.map / baseline.hash_probe" }
        #expect(map?.value == 1.5)
        #expect(map?.met == true)
        #expect(!ratios.contains { $0.name.contains("lookup.iptables.compiled") })
    }

    @Test func aSweepRatioIsTheLargestRunsLookupOverTheSmallests() {
        func report(_ services: Int, compiled: Double, nft: Double) -> BenchReport {
            BenchReport(workload: BenchWorkload(services: services, endpointsPerService: 2, connections: 1, seed: 1, nodes: 10, iptablesRules: 0),
                        results: [BenchResult(name: "lookup.iptables.compiled", opsPerSecond: 0, nsPerOp: compiled, seconds: 0),
                                  BenchResult(name: "lookup.nftables", opsPerSecond: 0, nsPerOp: nft, seconds: 0)])
        }
        // Listed out of order: the ratio is the most Services' run over the fewest's.
        let ratios = BenchRatio.sweep([report(10_000, compiled: 900, nft: 700), report(30_000, compiled: 1_600, nft: 870), report(1_000, compiled: 1_000, nft: 600)])
        #expect(ratios.map(\.name) == ["lookup.iptables.compiled @30000 / @1000", "lookup.nftables @30000 / @1000"])
        #expect(ratios.map(\.met) == [false, true])
        #expect(abs(ratios[1].value - 1.45) < 1e-9)
        #expect(BenchRatio.sweep([report(1_000, compiled: 1, nft: 1)]).isEmpty)
    }

    @Test func benchReportsEveryIssueMeasurementName() {
        let names = IPVSBench.run(services: 4, endpoints: 2, connections: 200, seed: 1, repetitions: 1).map(\.name)
        for n in ["ipvs.new.rr", "ipvs.new.wrr", "ipvs.new.lc", "ipvs.new.wlc", "ipvs.new.sh", "ipvs.new.mh",
                  "ipvs.established", "baseline.hash_probe", "ipvs.new.lc.1000servers", "kernel_scan.lc.1000servers"] {
            #expect(names.contains(n), "missing \(n)")
        }
    }

    /// The baseline of `baseline.hash_probe` is a working map: inserts, replaces, removes
    /// (backward shift) and finds agree with a dictionary.
    @Test func hashTableSurvivesManyInsertsAndDeletes() {
        var h = ConnectionHashTable()
        var rng = SeededGenerator(seed: 9)
        var model: [ConnectionKey: Int32] = [:]
        for i in 0..<20000 {
            let k = ConnectionKey(protocol: .tcp, client: .v4(IPv4Address(UInt32(rng.next() % 500))), clientPort: UInt16(rng.next() % 7),
                                  virtual: .v4(IPv4Address(10, 96, 0, 10)), virtualPort: 80)
            if rng.next() % 3 == 0 {
                #expect(h.remove(k) == (model.removeValue(forKey: k) != nil))
            } else {
                h.insert(k, Int32(i))
                model[k] = Int32(i)
            }
        }
        #expect(h.count == model.count)
        for (k, v) in model { #expect(h.find(k) == v) }
    }

    /// `verify.*` runs on a generated cluster: every invariant holds there, every class is
    /// counted, and the figures are filled in.
    @Test func verifyBenchMeasuresAGeneratedCluster() throws {
        let cluster = try VerifyBench.generated(nodes: 3, podsPerNode: 4, services: 5)
        let run = try VerifyBench.measure(cluster, name: "verify.test")
        #expect(run.nodes == 3 && run.pods == 12 && run.services >= 5)
        #expect(run.holds)
        #expect(run.classes > 3 * 3 * 4)   // at least node pairs × protocols for pod-to-pod
        #expect(run.invariants.count == 7)
        #expect(run.residentBytes > 0)
    }
}
