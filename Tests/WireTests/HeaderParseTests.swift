import Testing
@testable import Wire

/// The WireError `body` throws, nil when it throws nothing; any other error fails the test.
private func error(_ body: () throws -> Void) -> WireError? {
    do { try body(); return nil } catch let e as WireError { return e } catch { Issue.record("not a WireError: \(error)"); return nil }
}

/// Every prefix of every captured frame is refused with a typed error, never a trap.
@Suite struct TruncationTests {
    @Test func everyPrefixOfEveryCapturedFrameGivesAWireError() {
        for (label, hex) in capturedFrames {
            let frame = PacketWalk.bytes(hex)
            for n in 0..<frame.count {
                let e = error { _ = try PacketWalk.reemit(Array(frame[0..<n])) }
                #expect(e != nil, "\(label) cut at \(n)")
                guard let e else { continue }
                // The right header: the Ethernet header below 14 bytes, else the IP packet whose
                // stated length no longer fits.
                #expect(e.header == (n < 14 ? HeaderKind.ethernet : (frame[12] == 0x08 ? .ipv4 : .ipv6)), "\(label) cut at \(n): \(e)")
                if case .truncated = e.reason {} else { Issue.record("\(label) cut at \(n): \(e)") }
            }
        }
    }

    @Test func truncatedTransportHeadersNameTheirHeaderAndOffset() {
        let syn = PacketWalk.frame("Flags [S], seq")
        let tcp = Array(syn[34...])  // 40-byte header with options
        for n in 0..<tcp.count {
            let e = error { try tcp[0..<n].withUnsafeBytes { b in _ = try TCPSegment(checking: b) } }
            if n < tcp.count { #expect(e == WireError(.tcp, .truncated(needed: n < 20 ? 20 : 40, available: n), at: n < 20 ? 0 : 12)) }
        }
        let dns = PacketWalk.frame("10.13.0.2.53: domain")
        let udp = Array(dns[34...])
        for n in 0..<udp.count {
            let e = error { try udp[0..<n].withUnsafeBytes { b in _ = try UDPDatagram(checking: b) } }
            #expect(e == WireError(.udp, .truncated(needed: n < 8 ? 8 : udp.count, available: n), at: n < 8 ? 0 : 4))
        }
        for n in 0..<8 {
            let bytes = [UInt8](repeating: 0x08, count: n)
            #expect(error { try bytes.withUnsafeBytes { b in _ = try VXLANHeader(checking: b) } }?.header == .vxlan)
            #expect(error { try bytes.withUnsafeBytes { b in _ = try ICMPMessage(checking: b, v6: true) } }?.header == .icmpv6)
        }
        for n in [0, 11, 13, 15] {
            let bytes = [UInt8](repeating: 0, count: n)
            #expect(error { try bytes.withUnsafeBytes { b in _ = try SCTPPacket(checking: b) } }?.header == .sctp)
        }
    }

    @Test func malformedHeadersAreRefusedWithTheirReason() {
        var v4 = PacketWalk.frame("Flags [S], seq")
        v4[14] = 0x44  // IHL 4
        #expect(error { _ = try PacketWalk.reemit(v4) } == WireError(.ipv4, .badHeaderLength(16), at: 14))
        v4[14] = 0x65
        #expect(error { _ = try PacketWalk.reemit(v4) } == WireError(.ipv4, .badVersion(6), at: 14))
        var tcp = PacketWalk.frame("Flags [S], seq")
        tcp[34 + 12] = 0x40  // data offset 16 bytes
        #expect(error { _ = try PacketWalk.reemit(tcp, policy: .ignore) } == WireError(.tcp, .badHeaderLength(16), at: 34 + 12))
        var opt = PacketWalk.frame("Flags [S], seq")
        opt[34 + 21] = 3  // MSS option with length 3
        #expect(error { _ = try PacketWalk.reemit(opt, policy: .ignore) } == WireError(.tcpOption, .malformedOption(kind: 2), at: 34 + 21))
        opt[34 + 21] = 1  // length below 2
        #expect(error { _ = try PacketWalk.reemit(opt, policy: .ignore) } == WireError(.tcpOption, .malformedOption(kind: 2), at: 34 + 21))
        let vx: [UInt8] = [0x00, 0, 0, 0, 0, 0, 1, 0]
        #expect(error { try vx.withUnsafeBytes { b in _ = try VXLANHeader(checking: b) } } == WireError(.vxlan, .invalidField("I flag clear"), at: 0))
    }
}

/// ICMP errors give the flow of the packet they quote: what conntrack relates them to.
@Suite struct ICMPQuoteTests {
    @Test(arguments: [("10.13.0.2.53: domain", "udp port 53 unreachable"),
                      ("fd13::2.53: domain", "fd13::2 udp port 53"),
                      ("10.13.0.2.9999: UDP", "udp port 9999 unreachable"),
                      ("frag (0|1448) ", "fd13::2 udp port 9999")])
    func portUnreachableQuotesTheFlowItAnswers(sent: String, error: String) throws {
        let (_, request) = try PacketWalk.reemit(PacketWalk.frame(sent))
        let (_, answer) = try PacketWalk.reemit(PacketWalk.frame(error))
        #expect(answer.icmp?.type == (answer.ipv6 == nil ? 3 : 1))
        #expect(answer.icmp?.code == (answer.ipv6 == nil ? 3 : 4))
        #expect(answer.quoted?.flowKey == request.flow)
        #expect(request.flow != nil)
    }

    @Test func echoQuotesNothing() throws {
        let f = PacketWalk.frame("ICMP echo request")
        let e = f.withUnsafeBytes { b in error { _ = try ICMPMessage(checking: b.tail(from: 14 + 32), v6: false).quoted() } }
        #expect(e?.header == .icmpv4)
    }

    @Test func quotedICMPEchoGivesIdAndTypeAsConntrackDoes() throws {
        // Time exceeded quoting the captured echo request (its header and first 8 bytes).
        let echo = PacketWalk.frame("ICMP echo request, id 4660")
        var msg: [UInt8] = [11, 0, 0, 0, 0, 0, 0, 0] + Array(echo[14..<(14 + 20 + 8)])
        if echo[14] != 0x45 { msg = [11, 0, 0, 0, 0, 0, 0, 0] + Array(echo[14..<(14 + Int(echo[14] & 0xF) * 4 + 8)]) }
        let q = try msg.withUnsafeBytes { b in try ICMPMessage(checking: b, v6: false).quoted() }
        #expect(q.flowKey == FlowKey(source: .v4(IPv4Address(10, 13, 0, 1)), sourcePort: 0x1234,
                                     destination: .v4(IPv4Address(10, 13, 0, 2)), destinationPort: 8 << 8, proto: .icmp))
        // Cut inside the quoted transport bytes: an error, not a trap.
        let cut = Array(msg[0..<(msg.count - 1)])
        #expect(cut.withUnsafeBytes { b in error { _ = try ICMPMessage(checking: b, v6: false).quoted() } }?.header == .icmpv4)
    }
}

@Suite struct IPv6ExtensionWalkTests {
    @Test func hopByHopBeforeICMPv6() throws {
        let (_, f) = try PacketWalk.reemit(PacketWalk.frame("HBH ICMP6, multicast listener report v2"))
        #expect(f.upper == IPv6UpperLayer(proto: .icmpv6, offset: 48, extensions: .hopByHop, fragment: nil))
    }

    @Test func fragmentHeadersGiveOffsetMoreFlagAndId() throws {
        let (_, first) = try PacketWalk.reemit(PacketWalk.frame("frag (0|1448)"))
        let (_, second) = try PacketWalk.reemit(PacketWalk.frame("frag (1448|560)"))
        #expect(first.upper?.proto == .udp && first.upper?.offset == 48)
        #expect(first.upper?.fragment?.offset == 0 && first.upper?.fragment?.moreFragments == true)
        #expect(second.upper?.fragment?.offset == 1448 && second.upper?.fragment?.moreFragments == false)
        #expect(first.upper?.fragment?.identification == second.upper?.fragment?.identification)
    }

    @Test func routingAndDestinationOptionsChain() throws {
        // fixed header -> destination options (8) -> routing (24) -> TCP
        var p = [UInt8](repeating: 0, count: 40 + 8 + 24 + 20)
        p[0] = 0x60; p[5] = UInt8(p.count - 40); p[6] = 60
        p[40] = 43; p[41] = 0
        p[48] = 6; p[49] = 2
        p[72 + 12] = 0x50
        let u = try p.withUnsafeBytes { b in try IPv6Packet(checking: b).upperLayer() }
        #expect(u == IPv6UpperLayer(proto: .tcp, offset: 72, extensions: [.destinationOptions, .routing], fragment: nil))
        let cut = Array(p[0..<60]) + []
        var c = cut; c[5] = 20
        #expect(c.withUnsafeBytes { b in error { _ = try IPv6Packet(checking: b).upperLayer() } } == WireError(.ipv6Extension, .truncated(needed: 72, available: 60), at: 48))
    }
}

@Suite struct VLANTests {
    /// The captured SYN with tags inserted after the MAC addresses (this kernel has no 8021q
    /// module to capture tagged frames from).
    func tagged(_ tags: [(UInt16, UInt16)]) -> [UInt8] {
        let f = PacketWalk.frame("Flags [S], seq")
        return Array(f[0..<12]) + tags.flatMap { [UInt8($0.0 >> 8), UInt8($0.0 & 0xFF), UInt8($0.1 >> 8), UInt8($0.1 & 0xFF)] } + Array(f[12...])
    }

    @Test func singleTag() throws {
        let f = tagged([(0x8100, 0xA00A)])
        let (out, found) = try PacketWalk.reemit(f)
        #expect(out == f)
        #expect(found.ethernet?.outerTag == VLANTag(tpid: .vlan, priority: 5, dropEligible: false, id: 10))
        #expect(found.ethernet?.innerTag == nil && found.ethernet?.etherType == .ipv4 && found.tcp != nil)
    }

    @Test func qinqOuterServiceTagAndInnerCustomerTag() throws {
        let f = tagged([(0x88A8, 100), (0x8100, 0x1014)])
        let (out, found) = try PacketWalk.reemit(f)
        #expect(out == f)
        #expect(found.ethernet?.outerTag == VLANTag(tpid: .qinq, id: 100))
        #expect(found.ethernet?.innerTag == VLANTag(tpid: .vlan, priority: 0, dropEligible: true, id: 20))
        #expect(found.flow?.destinationPort == 8080)
    }

    @Test func thirdTagAndTruncatedTagAreErrors() {
        #expect(error { _ = try PacketWalk.reemit(tagged([(0x88A8, 1), (0x8100, 2), (0x8100, 3)])) } == WireError(.vlan, .invalidField("third VLAN tag"), at: 20))
        let cut = Array(tagged([(0x8100, 1)])[0..<17])
        #expect(error { _ = try PacketWalk.reemit(cut) } == WireError(.vlan, .truncated(needed: 18, available: 17), at: 12))
    }
}

@Suite struct VocabularyTests {
    @Test func tcpFlagsAreTheHeaderByteAndPrintAsTcpdump() throws {
        let (_, synack) = try PacketWalk.reemit(PacketWalk.frame("Flags [S.]"))
        #expect(synack.tcp?.flags == [.syn, .ack])
        #expect(synack.tcp?.flags.rawValue == 0x12)
        #expect(synack.tcp?.flags.description == "S.")
        #expect(TCPFlags([.fin, .psh, .ack]).description == "FP.")
    }

    @Test func flowKeyReversesAndNamesEndpoints() throws {
        let (_, syn) = try PacketWalk.reemit(PacketWalk.frame("Flags [S], seq"))
        let (_, synack) = try PacketWalk.reemit(PacketWalk.frame("Flags [S.]"))
        #expect(syn.flow?.reversed == synack.flow)
        #expect(syn.flow?.destinationEndpoint.description == "10.13.0.2:8080")
    }
}

@Suite struct FlowKeyFromPacketTests {
    @Test func everyCapturedIPPacketGivesTheFlowTheFullWalkGives() throws {
        for (label, hex) in capturedFrames {
            let frame = PacketWalk.bytes(hex)
            let (_, found) = try PacketWalk.reemit(frame)
            guard frame[12] == 0x08 && frame[13] == 0 || frame[12] == 0x86, let walked = found.flow else { continue }
            let key = try frame.withUnsafeBytes { try FlowKey(ipPacket: $0.tail(from: 14)) }
            #expect(key == walked, "\(label)")
        }
    }

    @Test func icmpEchoKeysIdAndTypeCode() throws {
        let f = PacketWalk.frame("ICMP6, echo request")
        let key = try f.withUnsafeBytes { try FlowKey(ipPacket: $0.tail(from: 14)) }
        #expect(key.proto == .icmpv6 && key.sourcePort == 17185 && key.destinationPort == 128 << 8)
    }
}
