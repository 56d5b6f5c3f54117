import Testing
@testable import Wire

@Suite struct ChecksumTests {
    @Test func capturedFramesVerifyAndACorruptedByteFailsTheRightHeader() throws {
        // The TCP SYN: a flipped payload-side byte breaks TCP's checksum, a header byte IPv4's.
        var syn = PacketWalk.frame("Flags [S], seq")
        syn[14 + 20 + 4] ^= 0x01  // TCP sequence number
        do { _ = try PacketWalk.reemit(syn); Issue.record("no error") } catch { #expect(error.header == .tcp && error.offset == 14 + 20 + 16) }
        var v4 = PacketWalk.frame("Flags [S], seq")
        v4[14 + 8] ^= 0x01  // TTL
        do { _ = try PacketWalk.reemit(v4); Issue.record("no error") } catch { #expect(error.header == .ipv4 && error.offset == 14 + 10) }
        var udp6 = PacketWalk.frame("fd13::1.")
        udp6[udp6.count - 1] ^= 0xFF
        do { _ = try PacketWalk.reemit(udp6); Issue.record("no error") } catch { #expect(error.header == .udp || error.header == .tcp) }
        var icmp6 = PacketWalk.frame("ICMP6, echo request")
        icmp6[14 + 40 + 8] ^= 0x01
        do { _ = try PacketWalk.reemit(icmp6); Issue.record("no error") } catch { #expect(error.header == .icmpv6 && error.offset == 14 + 40 + 2) }
        // Ignoring checksums (offloaded captures) parses the same bytes.
        #expect(throws: Never.self) { try PacketWalk.reemit(syn, policy: .ignore) }
    }

    @Test func zeroUDPChecksumIsNoneOnIPv4AndInvalidOnIPv6() throws {
        // The captured DNS query with its checksum cleared, as a sender without checksums sends it.
        var dns = PacketWalk.frame("10.13.0.2.53: domain")
        dns[14 + 20 + 6] = 0; dns[14 + 20 + 7] = 0
        let (out, f) = try PacketWalk.reemit(dns)
        #expect(f.udp?.hasChecksum == false)
        #expect(out == dns)
        let d: [UInt8] = [0, 1, 0, 2, 0, 8, 0, 0]
        let err = d.withUnsafeBytes { b -> WireError? in
            do throws(WireError) { _ = try UDPRepr.parse(UDPDatagram(checking: b), source: .v6(.loopback), destination: .v6(.loopback)); return nil } catch { return error }
        }
        #expect(err == WireError(.udp, .invalidField("zero checksum on IPv6"), at: 6))
    }

    @Test func crc32cMatchesRFC3720Vectors() {
        #expect([UInt8](repeating: 0, count: 32).withUnsafeBytes { CRC32c.checksum($0) } == 0x8A91_36AA)
        #expect([UInt8](repeating: 0xFF, count: 32).withUnsafeBytes { CRC32c.checksum($0) } == 0x62A8_AB43)
        #expect((0..<32).map { UInt8($0) }.withUnsafeBytes { CRC32c.checksum($0) } == 0x46DD_794E)
    }

    @Test func sctpBadCRCIsReported() throws {
        var b = [UInt8](repeating: 0, count: 32)
        b[12] = 1; b[15] = 20
        SCTPRepr(sourcePort: 1, destinationPort: 2, verificationTag: 0, firstChunkType: 1, chunksLength: 20).withEmit(&b)
        b[20] ^= 1
        let err = b.withUnsafeBytes { r -> WireError? in do throws(WireError) { _ = try SCTPRepr.parse(SCTPPacket(checking: r)); return nil } catch { return error } }
        #expect(err?.header == .sctp && err?.offset == 8)
    }

    /// DNAT of the captured SYN: the destination address and port rewritten with RFC 1624
    /// updates give the same checksums as summing the rewritten packet again.
    @Test func incrementalUpdateEqualsFullRecomputeAfterDNAT() throws {
        var f = PacketWalk.frame("Flags [S], seq")
        let oldIP = IPv4Address(10, 13, 0, 2), newIP = IPv4Address(10, 244, 1, 7)
        f.withUnsafeMutableBytes { m in
            let ip = UnsafeMutableRawBufferPointer(rebasing: m[14...])
            let tcp = UnsafeMutableRawBufferPointer(rebasing: m[34...])
            let ipc = UnsafeRawBufferPointer(ip).be16(10), tc = UnsafeRawBufferPointer(tcp).be16(16)
            ip.put(16, newIP)
            ip.put16(10, InternetChecksum.update(ipc, old: oldIP.value, new: newIP.value))
            var t = InternetChecksum.update(tc, old: IPAddress.v4(oldIP), new: .v4(newIP))
            t = InternetChecksum.update(t, old: UInt16(8080), new: UInt16(80))
            tcp.put16(2, 80)
            tcp.put16(16, t)
        }
        let (out, found) = try PacketWalk.reemit(f)
        #expect(out == f)
        #expect(found.flow?.destinationEndpoint == SocketAddress(.v4(newIP), port: 80))
    }

    /// RFC 1071 as written: big-endian 16-bit words, an odd last byte padded with zero.
    static func bytewiseSum(_ b: [UInt8], initial: UInt64) -> UInt64 {
        var s = initial, i = 0
        while i + 1 < b.count { s += UInt64(b[i]) << 8 | UInt64(b[i + 1]); i += 2 }
        if i < b.count { s += UInt64(b[i]) << 8 }
        return s
    }

    @Test func wideSumFoldsToTheSameChecksumAsTheBytewiseDefinitionForEveryLengthAndAlignment() {
        var rng = SystemRandomNumberGenerator()
        // Every length across two 64-byte steps and their 32-, 8-, 2- and 1-byte tails, then
        // segment sizes, where the 64-bit accumulators carry many times.
        for length in Array(0..<140) + [191, 192, 255, 256, 1499, 1500, 9001] {
            for offset in 0..<8 {
                for _ in 0..<8 {
                    let storage = (0..<(length + offset)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    let bytes = Array(storage[offset...])
                    let initial = UInt64.random(in: 0...0xFFFF_FFFF, using: &rng)
                    let wide = storage.withUnsafeBytes { InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: $0[offset...]), initial: initial) }
                    #expect(InternetChecksum.finish(wide) == InternetChecksum.finish(Self.bytewiseSum(bytes, initial: initial)),
                            "length \(length) offset \(offset)")
                }
            }
        }
        // All ones and all zeros, where ones' complement has its two zeros.
        for length in [2, 8, 64, 1500] {
            for fill: UInt8 in [0x00, 0xFF] {
                let b = [UInt8](repeating: fill, count: length)
                #expect(b.withUnsafeBytes { InternetChecksum.finish(InternetChecksum.sum($0)) } == InternetChecksum.finish(Self.bytewiseSum(b, initial: 0)))
            }
        }
    }

    @Test func aPlainIPv4HeadersChecksumIsJudgedAsTheBytewiseDefinitionJudgesIt() throws {
        var rng = SystemRandomNumberGenerator()
        // Random 20-byte headers, each also with its checksum field set right, then all-zero and
        // all-ones fields (ones' complement's two zeros) and a header with options.
        var headers: [[UInt8]] = []
        for _ in 0..<2000 {
            var h = (0..<20).map { _ in UInt8.random(in: 0...255, using: &rng) }
            h[0] = 0x45
            h[2] = 0; h[3] = 20
            headers.append(h)
            h[10] = 0; h[11] = 0
            let c = InternetChecksum.finish(Self.bytewiseSum(h, initial: 0))
            h[10] = UInt8(c >> 8); h[11] = UInt8(c & 0xFF)
            headers.append(h)
        }
        for fill: UInt8 in [0x00, 0xFF] {
            var h = [UInt8](repeating: fill, count: 20)
            h[0] = 0x45; h[2] = 0; h[3] = 20
            headers.append(h)
        }
        var valid = 0
        for h in headers {
            let expected = InternetChecksum.finish(Self.bytewiseSum(h, initial: 0)) == 0
            let judged = try h.withUnsafeBytes { try IPv4Packet(checking: $0).checksumIsValid }
            #expect(judged == expected, "\(h)")
            if judged { valid += 1 }
        }
        #expect(valid >= 2000)
        // With options: 24 bytes.
        var opts = [UInt8](repeating: 0, count: 24)
        opts[0] = 0x46; opts[3] = 24; opts[8] = 64; opts[9] = 6; opts[20] = 1
        let c = InternetChecksum.finish(Self.bytewiseSum(opts, initial: 0))
        opts[10] = UInt8(c >> 8); opts[11] = UInt8(c & 0xFF)
        #expect(try opts.withUnsafeBytes { try IPv4Packet(checking: $0).checksumIsValid })
        opts[21] ^= 0x10
        #expect(try !opts.withUnsafeBytes { try IPv4Packet(checking: $0).checksumIsValid })
    }
}

extension SCTPRepr {
    func withEmit(_ b: inout [UInt8]) { b.withUnsafeMutableBytes { emit(into: $0) } }
}
