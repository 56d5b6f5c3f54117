import Testing
@testable import Wire

/// emit(parse(bytes)) == bytes for every captured frame, every header in it re-emitted.
@Suite struct CapturedFrameRoundTripTests {
    @Test func everyCapturedFrameReemitsToItsOwnBytes() throws {
        for (label, hex) in capturedFrames {
            let frame = PacketWalk.bytes(hex)
            let (out, _) = try PacketWalk.reemit(frame)
            #expect(out == frame, "\(label)")
        }
    }

    @Test func walkReachesEveryHeaderKindInTheCapture() throws {
        var sawOptions = false, sawV6Fragment = false, sawHopByHop = false, sawVXLAN = false, sawQuote = false, sawTCPOptions = false
        for (_, hex) in capturedFrames {
            let (_, f) = try PacketWalk.reemit(PacketWalk.bytes(hex))
            if let o = f.ipv4?.options, !o.isEmpty { sawOptions = true }
            if f.upper?.fragment != nil { sawV6Fragment = true }
            if f.upper?.extensions.contains(.hopByHop) == true { sawHopByHop = true }
            if f.vxlan != nil { sawVXLAN = true }
            if f.quoted != nil { sawQuote = true }
            if f.tcp?.maxSegmentSize != nil { sawTCPOptions = true }
        }
        #expect(sawOptions && sawV6Fragment && sawHopByHop && sawVXLAN && sawQuote && sawTCPOptions)
    }
}

/// parse(emit(repr)) == repr for each header.
@Suite struct ReprRoundTripTests {
    let a4 = IPAddress.v4(IPv4Address(10, 0, 0, 1)), b4 = IPAddress.v4(IPv4Address(10, 0, 0, 2))
    let a6 = IPAddress.v6(IPv6Address(0xfd13 << 112 | 1)), b6 = IPAddress.v6(IPv6Address(0xfd13 << 112 | 2))

    @Test func ethernetWithQinQTags() throws {
        let r = EthernetRepr(destination: EthernetAddress(0x0201_0203_0405), source: EthernetAddress(0x0A0B_0C0D_0E0F),
                             outerTag: VLANTag(tpid: .qinq, priority: 5, dropEligible: true, id: 100),
                             innerTag: VLANTag(id: 20), etherType: .ipv6)
        let b = emitted(r.bufferLength) { r.emit(into: $0) }
        #expect(b.count == 22)
        let back = try b.withUnsafeBytes { try EthernetRepr.parse(EthernetFrame(checking: $0)) }
        #expect(back == r)
    }

    @Test func ipv4WithOptionsAndFragmentFields() throws {
        let r = IPv4Repr(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2), proto: .udp, payloadLength: 0,
                         ttl: 3, tos: 0x10, identification: 0xBEEF, dontFragment: false, moreFragments: true, fragmentOffset: 1480,
                         options: [7, 7, 4, 0, 0, 0, 0, 0])
        let b = emitted(r.bufferLength) { r.emit(into: $0) }
        let back = try b.withUnsafeBytes { try IPv4Repr.parse(IPv4Packet(checking: $0)) }
        #expect(back == r)
    }

    @Test func ipv6FixedHeader() throws {
        let r = IPv6Repr(source: IPv6Address(0xfd13 << 112 | 1), destination: IPv6Address(0xfd13 << 112 | 2), nextHeader: .tcp,
                         payloadLength: 0, hopLimit: 7, trafficClass: 0xB8, flowLabel: 0xABCDE)
        let b = emitted(r.bufferLength) { r.emit(into: $0) }
        #expect(try b.withUnsafeBytes { IPv6Repr.parse(try IPv6Packet(checking: $0)) } == r)
    }

    @Test(arguments: [false, true]) func tcpWithEveryOptionKind(v6: Bool) throws {
        let (s, d) = v6 ? (a6, b6) : (a4, b4)
        let r = TCPRepr(sourcePort: 40000, destinationPort: 80, sequenceNumber: 1, acknowledgmentNumber: 2, flags: [.syn, .ack, .ece],
                        window: 512, options: [.maxSegmentSize(1460), .noOperation, .windowScale(7), .sackPermitted,
                                               .sack([SACKBlock(left: 10, right: 20)]), .timestamps(value: 5, echoReply: 6),
                                               .unknown(kind: 30, data: [1, 2]), .endOfList],
                        optionTrailer: [0], payloadLength: 0)  // 35 option bytes + 1: a whole header
        let b = emitted(r.bufferLength) { r.emit(into: $0, source: s, destination: d) }
        let back = try b.withUnsafeBytes { try TCPRepr.parse(TCPSegment(checking: $0), source: s, destination: d) }
        #expect(back == r)
        #expect(back.maxSegmentSize == 1460 && back.windowScale == 7 && back.sackPermitted && back.timestamps?.value == 5)
    }

    @Test func udpOverBothFamiliesAndWithoutChecksumOnIPv4() throws {
        for (s, d, has) in [(a4, b4, true), (a4, b4, false), (a6, b6, true)] {
            let r = UDPRepr(sourcePort: 5353, destinationPort: 53, payloadLength: 0, hasChecksum: has)
            let b = emitted(r.bufferLength) { r.emit(into: $0, source: s, destination: d) }
            #expect(try b.withUnsafeBytes { try UDPRepr.parse(UDPDatagram(checking: $0), source: s, destination: d) } == r)
        }
    }

    @Test func sctpInitChunk() throws {
        // An INIT chunk header: type 1, flags 0, length 20, then 16 bytes of parameters.
        var b = [UInt8](repeating: 0, count: 32)
        b[12] = 1; b[15] = 20
        let r = SCTPRepr(sourcePort: 5000, destinationPort: 36412, verificationTag: 0, firstChunkType: 1, chunksLength: 20)
        b.withUnsafeMutableBytes { r.emit(into: $0) }
        #expect(try b.withUnsafeBytes { try SCTPRepr.parse(SCTPPacket(checking: $0)) } == r)
    }

    @Test(arguments: [false, true]) func icmpEcho(v6: Bool) throws {
        let (s, d) = v6 ? (a6, b6) : (a4, b4)
        let r = ICMPRepr(type: v6 ? 128 : 8, code: 0, restOfHeader: 0x1234_0001, dataLength: 0, isV6: v6)
        let b = emitted(r.bufferLength) { r.emit(into: $0, source: s, destination: d) }
        #expect(try b.withUnsafeBytes { try ICMPRepr.parse(ICMPMessage(checking: $0, v6: v6), source: s, destination: d) } == r)
    }

    @Test func vxlan() throws {
        let r = VXLANRepr(vni: 0xABCDEF)
        let b = emitted(8) { r.emit(into: $0) }
        #expect(b == [0x08, 0, 0, 0, 0xAB, 0xCD, 0xEF, 0])
        #expect(try b.withUnsafeBytes { VXLANRepr.parse(try VXLANHeader(checking: $0)) } == r)
    }
}
