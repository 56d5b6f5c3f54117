import Testing
@testable import Netfilter
import TestSupport
import Wire

/// Conntrack's tuple hash must behave as a map through growth and backward-shift removals.
@Suite struct ConntrackTupleIndexTests {
    /// Every connection stores two tuples in the index and two in its entry: 48 bytes each
    /// (two 24-byte addresses, ports, protocol), not the 64 a 16-byte-aligned IPv6 made them.
    @Test func aTupleIs48BytesAndAnEntry136() {
        #expect(MemoryLayout<ConntrackTuple>.stride == 48)
        #expect(MemoryLayout<ConntrackEntry>.stride == 136)
    }

    @Test func indexAgreesWithADictionaryThroughInsertsRemovesAndGrowth() {
        var index = ConntrackTupleIndex()
        var model: [ConntrackTuple: Int] = [:]
        var rng = SeededGenerator(seed: 31)
        func r(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        // A small space of tuples, so removals, re-inserts and long probe runs all happen.
        func tuple() -> ConntrackTuple {
            let v6 = r(5) == 0
            let a: IPAddress = v6 ? .v6(IPv6Address(UInt128(r(40)) << 64 | 1)) : .v4(IPv4Address(10, 0, UInt8(r(4)), UInt8(r(50))))
            let b: IPAddress = v6 ? .v6(IPv6Address(UInt128(2))) : .v4(IPv4Address(10, 96, 0, UInt8(r(3))))
            return ConntrackTuple(source: a, sourcePort: UInt16(r(20)), destination: b, destinationPort: 80, proto: r(2) == 0 ? .tcp : .udp)
        }
        for step in 0..<60_000 {
            let t = tuple()
            if r(3) == 0 {
                index[t] = nil
                model[t] = nil
            } else {
                index[t] = step
                model[t] = step
            }
            if step % 997 == 0 {
                #expect(index.count == model.count)
                for (k, v) in model { #expect(index[k] == v) }
            }
        }
        #expect(index.count == model.count)
        for (k, v) in model where index[k] != v { Issue.record("\(k) maps to \(String(describing: index[k])), not \(v)") }
        var rebuilt = ConntrackTupleIndex()
        for (k, v) in model.sorted(by: { $0.value < $1.value }) { rebuilt[k] = v }
        #expect(rebuilt == index)
        rebuilt[model.first!.key] = 999_999
        #expect(rebuilt != index)
    }
}
