@testable import NFTables
import Testing

/// The flat index behind every set and map lookup must answer as a dictionary would: every
/// key inserted is found with its element, the first element of a repeated key wins (nft
/// refuses the duplicate), keys never inserted are missed, and growth loses nothing.
@Suite struct NFTKeyIndexTests {
    /// Keys shaped like `service-ips`' (address . protocol . port), some differing only in the
    /// high half, so both 128-bit halves take part in the hash and the comparison.
    static func key(_ i: Int) -> NFTKey {
        var k = NFTKey()
        k.append(UInt128(0x0A60_0000 | UInt32(i & 0xFFFF)), bits: 32)
        k.append(UInt128(i % 3 == 0 ? 17 : 6), bits: 8)
        k.append(UInt128(80 + i % 7), bits: 16)
        if i % 5 == 0 { k.high = UInt128(i) << 64 }
        return k
    }

    @Test(arguments: [0, 1, 7, 1000, 40_000])
    func answersAsADictionaryWould(count: Int) {
        var sized = NFTKeyIndex(capacity: count), growing = NFTKeyIndex()
        var reference: [NFTKey: Int32] = [:]
        for i in 0..<count {
            let k = Self.key(i)
            sized.insertIfAbsent(k, Int32(i))
            growing.insertIfAbsent(k, Int32(i))
            if reference[k] == nil { reference[k] = Int32(i) }
        }
        #expect(sized.count == reference.count && growing.count == reference.count)
        for (k, e) in reference {
            #expect(sized[k] == e && growing[k] == e)
        }
        for i in count..<(count + 2000) where reference[Self.key(i)] == nil {
            #expect(sized[Self.key(i)] == nil && growing[Self.key(i)] == nil)
        }
    }

    @Test func theFirstElementOfARepeatedKeyWins() {
        var index = NFTKeyIndex(capacity: 2)
        index.insertIfAbsent(Self.key(3), 10)
        index.insertIfAbsent(Self.key(3), 11)
        #expect(index[Self.key(3)] == 10 && index.count == 1)
        #expect(index[Self.key(4)] == nil)
    }

    @Test func anEmptyIndexFindsNothing() {
        #expect(NFTKeyIndex()[NFTKey()] == nil)
        #expect(NFTKeyIndex(capacity: 0)[Self.key(1)] == nil)
    }
}
