import Testing
@testable import Netfilter
import TestSupport
import Wire

/// `PrefixSet.sameSide` (its IPv4 integer path and `AddressSet`) must say exactly whether every
/// prefix holds both addresses or neither.
@Suite struct PrefixSetTests {
    @Test func sameSideAgreesWithTestingEveryPrefix() {
        var rng = SeededGenerator(seed: 12)
        func r(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        func v4() -> IPAddress { .v4(IPv4Address(10, UInt8(r(3)), UInt8(r(4)), UInt8(r(256)))) }
        for _ in 0..<40 {
            var prefixes: [Prefix] = []
            for _ in 0..<(1 + r(200)) {
                if r(10) == 0 {
                    prefixes.append(Prefix(containing: .v6(IPv6Address(UInt128(r(4)) << 64)), length: 64))
                } else {
                    prefixes.append(Prefix(containing: v4(), length: [0, 8, 16, 22, 24, 30, 32][r(7)]))
                }
            }
            let set = PrefixSet(prefixes)
            for _ in 0..<500 {
                let a = r(20) == 0 ? IPAddress.v6(IPv6Address(UInt128(r(4)) << 64 | 5)) : v4()
                let b = r(3) == 0 ? a : (r(20) == 0 ? IPAddress.v6(IPv6Address(UInt128(r(4)) << 64 | 9)) : v4())
                let expected = prefixes.allSatisfy { $0.contains(a) == $0.contains(b) }
                #expect(set.sameSide(a, b) == expected, "\(a) \(b)")
            }
        }
    }

    @Test func addressSetHoldsWhatWasInserted() {
        var set = AddressSet(), model = Set<IPAddress>()
        var rng = SeededGenerator(seed: 4)
        for i in 0..<5_000 {
            let a: IPAddress = i % 7 == 0 ? .v6(IPv6Address(UInt128(rng.next() % 300))) : .v4(IPv4Address(UInt32(truncatingIfNeeded: rng.next() % 20_000)))
            if i % 2 == 0 { set.insert(a); model.insert(a) }
            #expect(set.contains(a) == model.contains(a))
        }
        #expect(set.contains(.v4(IPv4Address(UInt32.max))) == model.contains(.v4(IPv4Address(UInt32.max))))
    }
}
