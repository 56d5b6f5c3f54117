import Testing
@testable import IPVS

@Suite struct KernelHashTests {
    /// lib/tests/siphash_kunit.c, 64-bit hsiphash vectors: vector n hashes bytes 0..n-1 under key 00..0f.
    @Test func hsiphashMatchesKernelTestVectors() {
        let key: KernelHash.SipKey = (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908)
        let vectors: [UInt32] = [0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67,
                                 0xc59f22a7, 0x9bb11140, 0x8d299a8e, 0x6c063de4, 0x92ff097f, 0xf94dc352,
                                 0x57b4d9a2, 0x1229ffa7, 0xc0f95d34, 0x2a519956, 0x7d908b66]
        for (n, v) in vectors.enumerated() {
            #expect(KernelHash.hsiphash(bytes: (0..<n).map { UInt8($0) }, key: key) == v, "length \(n)")
        }
        // The 4-byte fast path mh uses reads the word little-endian: bytes 00 01 02 03.
        #expect(KernelHash.hsiphash(0x0302_0100, key: key) == 0x88d38328)
    }

    /// hash_32(x, 8) = (x * 0x61C88647 mod 2^32) >> 24; 10.0.0.1 = 167772161,
    /// 167772161 * 0x61C88647 mod 2^32 = 667452999 = 0x27C8_8647 → 0x27 = 39.
    @Test func hash32KeepsTopBitsOfGoldenRatioProduct() {
        #expect(KernelHash.hash32(167_772_161, bits: 8) == 39)
        // 192.168.10.1 = 3232238081 → product 2510244935 = 0x959E_8647 → 149.
        #expect(KernelHash.hash32(3_232_238_081, bits: 8) == 149)
        // Legacy: low byte of 3232238081 * 2654435761 = 177 (stride 177 for sequential IPs).
        #expect(KernelHash.legacy(3_232_238_081) & 255 == 177)
        #expect(KernelHash.legacy(167_772_161) & 255 == 177)
    }

    @Test func ipv6FoldIsXorOfWords() {
        let a = ip("2001:db8::1:2")
        #expect(KernelHash.fold(a) == 0x2001_0db8 ^ 0 ^ 0 ^ 0x0001_0002)
    }
}
