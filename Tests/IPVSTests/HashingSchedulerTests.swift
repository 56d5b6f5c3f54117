import Testing
import Wire
@testable import IPVS

@Suite struct SourceHashingTests {
    /// Last octets of the servers in a service's bucket table.
    func tableOctets(_ t: IPVSTable, _ svc: Int32) -> [Int] {
        let s = t.services[Int(svc)]
        return s.sched.table.map { Int(s.servers[Int($0)].address.v4!.value & 0xFF) }
    }

    @Test func shFillsWeightConsecutiveBucketsFromTheListHead() {
        var (t, svc) = makeTable(.sh, weights: [1, 1, 2])  // kernel order .3(2) .2(1) .1(1)
        let table = tableOctets(t, svc)
        #expect(Array(table[0..<8]) == [3, 3, 2, 1, 3, 3, 2, 1])
        #expect(Array(table[252..<256]) == [3, 3, 2, 1])
        try! t.deleteDestination(service: svc, address: ip("10.244.1.2"), port: 8080)
        let after = tableOctets(t, svc)
        #expect(Array(after[0..<6]) == [3, 3, 1, 3, 3, 1])
        #expect(after[254] == 1 && after[255] == 3)  // 85 × [3,3,1] = 255 buckets, then .3
    }

    @Test func shWeightZeroServerStillOwnsOneBucketPerCycle() {
        let (t, svc) = makeTable(.sh, weights: [1, 0, 1])
        #expect(Array(tableOctets(t, svc)[0..<6]) == [3, 2, 1, 3, 2, 1])
    }

    @Test func shHashesTheSourceAddressWithHash32() {
        var (t, _) = makeTable(.sh, weights: [1, 1, 2])
        // hash_32: 192.168.10.1 → 149 (149 % 4 = 1 → .3); 192.168.10.2 → 247 (→ .1); 10.0.0.1 → 39 (→ .1).
        #expect(syn(&t, "192.168.10.1") == 3)
        #expect(syn(&t, "192.168.10.2") == 1)
        #expect(syn(&t, "10.0.0.1") == 1)
    }

    @Test func shLegacyHashKeepsTheLowBitsOfTheProduct() {
        var (t, _) = makeTable(.sh, weights: [1, 1, 2], hash: .legacy)
        // legacy: 192.168.10.1 → 177 (→ .3); 192.168.10.2 → 98 (98 % 4 = 2 → .2).
        #expect(syn(&t, "192.168.10.1") == 3)
        #expect(syn(&t, "192.168.10.2") == 2)
    }

    @Test func shPortFlagAddsTheClientSourcePortToTheKey() {
        var (plain, _) = makeTable(.sh, weights: [1, 1, 1])
        var (withPort, _) = makeTable(.sh, weights: [1, 1, 1], flags: .sched2)
        // Without the port: bucket 149 → 149 % 3 = 2 → .1. With port 40000: hash_32(3232278081) = 57 → .3.
        #expect(syn(&plain, "192.168.10.1", 40000) == 1)
        #expect(syn(&withPort, "192.168.10.1", 40000) == 3)
    }

    @Test func shWithoutFallbackDropsClientsHashedToAWeightZeroServer() {
        var (t, svc) = makeTable(.sh, weights: [1, 1, 1])
        setWeight(&t, svc, 1, 0)
        // 192.168.10.3 → bucket 89 → 89 % 3 = 2 → .1, quiesced.
        #expect(syn(&t, "192.168.10.3") == 0)
    }

    @Test func shFallbackProbesFromBucketTwiceTheHashNotTheNextBucket() {
        var (t, svc) = makeTable(.sh, weights: [1, 1, 1], flags: .sched1)
        setWeight(&t, svc, 1, 0)
        // First probe (89 + 89) & 255 = 178 → 178 % 3 = 1 → .2 (bucket 90 would have been .3).
        #expect(syn(&t, "192.168.10.3") == 2)
    }
}

@Suite struct DestinationHashingTests {
    @Test func dhSendsEveryClientOfANormalServiceToOneServer() {
        var (t, _) = makeTable(.dh, weights: [1, 1, 1])
        // hash_32(10.96.0.10 = 174063626, 8) = 242; table is [.3,.2,.1] repeated: 242 % 3 = 2 → .1.
        #expect(picks(&t, 5) == [1, 1, 1, 1, 1])
    }

    @Test func dhLegacyHashPicksAnotherBucket() {
        var (t, _) = makeTable(.dh, weights: [1, 1, 1], hash: .legacy)
        // legacy 234 % 3 = 0 → .3.
        #expect(picks(&t, 3) == [3, 3, 3])
    }

    @Test func dhIgnoresWeightsWhenFillingButRefusesWeightZero() {
        var (t, svc) = makeTable(.dh, weights: [5, 1, 1])
        #expect(picks(&t, 1) == [1])
        setWeight(&t, svc, 1, 0)
        #expect(picks(&t, 1, from: 10) == [0])
    }
}

@Suite struct MaglevHashingTests {
    func slotCounts(_ t: IPVSTable, _ svc: Int32) -> [Int: Int] {
        let s = t.services[Int(svc)]
        var c: [Int: Int] = [:]
        for slot in s.sched.table { c[Int(s.servers[Int(slot)].address.v4!.value & 0xFF), default: 0] += 1 }
        return c
    }

    @Test func mhSplitsTheTableByWeight() {
        let (t, svc) = makeTable(.mh, weights: [1, 1, 1])
        #expect(slotCounts(t, svc) == [3: 1365, 2: 1364, 1: 1364])
        let (t2, svc2) = makeTable(.mh, weights: [1, 1, 2])
        #expect(slotCounts(t2, svc2) == [3: 2047, 2: 1023, 1: 1023])
    }

    @Test func mhLooksUpTheSipHashOfTheSourceAddress() {
        var (t, _) = makeTable(.mh, weights: [1, 1, 1])
        // hsiphash(192.168.10.1) % 4093 = 1173 → .3; .2 → 351 → .2; .3 → 1524 → .1
        // (slots computed from the permutation offsets/skips: .1 2960/590, .2 1139/3991, .3 1199/1954).
        #expect(syn(&t, "192.168.10.1") == 3)
        #expect(syn(&t, "192.168.10.2") == 2)
        #expect(syn(&t, "192.168.10.3") == 1)
    }

    @Test func mhQuiescingKeepsTheTableAndFailsOverOnlyWithFallback() {
        var (t, svc) = makeTable(.mh, weights: [1, 1, 1])
        let before = t.services[Int(svc)].sched.table
        setWeight(&t, svc, 3, 0)
        #expect(t.services[Int(svc)].sched.table == before)  // last_weight still 1
        #expect(syn(&t, "192.168.10.1") == 0)
        var (f, fsvc) = makeTable(.mh, weights: [1, 1, 1], flags: .sched1)
        setWeight(&f, fsvc, 3, 0)
        // First fallback probe: hsiphash(1173 + addr) % 4093 = 1212 → .1.
        #expect(syn(&f, "192.168.10.1") == 1)
    }

    @Test func mhServerAddedWithWeightZeroGetsNoSlots() {
        let (t, svc) = makeTable(.mh, weights: [1, 0, 1])
        let c = slotCounts(t, svc)
        #expect(c[2] == nil)
        #expect(c[1]! + c[3]! == 4093)
    }
}
