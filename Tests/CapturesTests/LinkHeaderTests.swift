import Captures
import Testing

@Suite struct LinkHeaderTests {
    func decode(_ bytes: [UInt8], _ t: LinkType) throws(UndecodableReason) -> LinkHeader {
        var r: Result<LinkHeader, UndecodableReason>!
        bytes.withUnsafeBytes { b in r = Result { () throws(UndecodableReason) in try LinkHeader.decode(b, linkType: t) } }
        return try r.get()
    }

    @Test func sll2HeaderFieldsAreReadBigEndianAtLibpcapsOffsets() throws {
        // protocol 0x0800, reserved, ifindex 7, ARPHRD 1, pkttype 4 (outgoing), halen 6, address, then an IPv4 byte.
        let bytes: [UInt8] = [0x08, 0x00, 0, 0, 0, 0, 0, 7, 0, 1, 4, 6, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0, 0, 0x45]
        let h = try decode(bytes, .linuxSLL2)
        guard case let .linuxSLL2(s) = h.kind else { Issue.record("not SLL2"); return }
        #expect(s.interfaceIndex == 7)
        #expect(s.packetType == .outgoing)
        #expect(s.hardwareType == 1)
        #expect(s.address.description == "aa:bb:cc:dd:ee:ff")
        #expect(h.payloadOffset == 20)
        #expect(h.etherType == 0x0800)
    }

    @Test func sllHeaderFieldsAreReadAtLibpcapsOffsets() throws {
        // pkttype 0 (host), ARPHRD 772 (loopback), halen 6, 8 address bytes, protocol 0x86DD.
        let bytes: [UInt8] = [0, 0, 0x03, 0x04, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x86, 0xdd, 0x60]
        let h = try decode(bytes, .linuxSLL)
        guard case let .linuxSLL(s) = h.kind else { Issue.record("not SLL"); return }
        #expect(s.packetType == .host)
        #expect(s.hardwareType == 772)
        #expect(s.address.bytes == [1, 2, 3, 4, 5, 6])
        #expect(h.payloadOffset == 16)
        #expect(h.etherType == 0x86DD)
    }

    @Test func nullFamilyIsHostOrderAndLoopFamilyIsNetworkOrder() throws {
        let null = try decode([2, 0, 0, 0, 0x45], .null)
        #expect(null.kind == .null(NullHeader(family: 2, swapped: false)))
        #expect(null.etherType == 0x0800 && null.payloadOffset == 4)
        // A DLT_NULL file written on a big-endian host: read swapped, as tcpdump does.
        let bigEndianNull = try decode([0, 0, 0, 30, 0x60], .null)
        #expect(bigEndianNull.kind == .null(NullHeader(family: 30, swapped: true)))
        #expect(bigEndianNull.etherType == 0x86DD)
        let loop = try decode([0, 0, 0, 24, 0x60], .loop)
        #expect(loop.kind == .null(NullHeader(family: 24, swapped: false)))
        #expect(loop.etherType == 0x86DD)
    }

    @Test func rawIPTakesItsProtocolFromTheVersionNibble() throws {
        #expect(try decode([0x45], .raw).etherType == 0x0800)
        #expect(try decode([0x60], .ipv6).etherType == 0x86DD)
        #expect(throws: UndecodableReason.unknownIPVersion(5)) { try decode([0x50], .raw) }
    }

    @Test(arguments: [(LinkType.ethernet, 14), (.linuxSLL, 16), (.linuxSLL2, 20), (.null, 4), (.loop, 4), (.raw, 1)])
    func recordShorterThanItsLinkHeaderIsUndecodable(_ t: LinkType, _ needed: Int) {
        let short = [UInt8](repeating: 0x45, count: needed - 1)
        #expect(throws: UndecodableReason.shorterThanLinkHeader(linkType: t, captured: needed - 1, needed: needed)) {
            try decode(short, t)
        }
    }
}
