import Testing
@testable import Wire

/// NAT's rewrite of a captured packet: incremental checksum updates equal a full recompute.
@Suite struct IPPacketNATTests {
    static func v4(_ s: String) -> IPv4Address {
        guard case .v4(let a) = try! IPAddress(parsing: s) else { fatalError() }
        return a
    }

    /// A TCP/IPv4 packet emitted from Reprs: checksums computed in full.
    static func tcp(_ src: String, _ sp: UInt16, _ dst: String, _ dp: UInt16, ttl: UInt8 = 64) -> [UInt8] {
        let t = TCPRepr(sourcePort: sp, destinationPort: dp, sequenceNumber: 7, flags: [.syn], payloadLength: 13)
        var l4 = [UInt8](repeating: 0x5A, count: t.bufferLength + 13)
        l4.withUnsafeMutableBytes { t.emit(into: $0, source: .v4(v4(src)), destination: .v4(v4(dst))) }
        let ip = IPv4Repr(source: v4(src), destination: v4(dst), proto: .tcp, payloadLength: l4.count, ttl: ttl, identification: 9)
        var h = [UInt8](repeating: 0, count: ip.bufferLength)
        h.withUnsafeMutableBytes { ip.emit(into: $0) }
        return h + l4
    }

    static func udp(_ src: String, _ sp: UInt16, _ dst: String, _ dp: UInt16) -> [UInt8] {
        let u = UDPRepr(sourcePort: sp, destinationPort: dp, payloadLength: 11)
        var l4 = [UInt8](repeating: 0x33, count: 8 + 11)
        l4.withUnsafeMutableBytes { u.emit(into: $0, source: .v4(v4(src)), destination: .v4(v4(dst))) }
        let ip = IPv4Repr(source: v4(src), destination: v4(dst), proto: .udp, payloadLength: l4.count)
        var h = [UInt8](repeating: 0, count: ip.bufferLength)
        h.withUnsafeMutableBytes { ip.emit(into: $0) }
        return h + l4
    }

    @Test func aDNATAndTTLRewriteGivesTheBytesAFullRecomputeGives() throws {
        let before = Self.tcp("10.244.1.2", 40001, "10.96.0.1", 80)
        let flow = FlowKey(source: .v4(Self.v4("10.244.1.2")), sourcePort: 40001, destination: .v4(Self.v4("10.244.2.3")), destinationPort: 8080, proto: .tcp)
        let after = IPPacketNAT.rewrite(before, to: flow, ttlDecrement: 2)
        #expect(after == Self.tcp("10.244.1.2", 40001, "10.244.2.3", 8080, ttl: 62))
    }

    @Test func aMasqueradeOfUDPGivesTheBytesAFullRecomputeGives() throws {
        let before = Self.udp("203.0.113.5", 5353, "172.18.0.3", 30053)
        let flow = FlowKey(source: .v4(Self.v4("172.18.0.3")), sourcePort: 61000, destination: .v4(Self.v4("10.244.2.2")), destinationPort: 53, proto: .udp)
        #expect(IPPacketNAT.rewrite(before, to: flow) == Self.udp("172.18.0.3", 61000, "10.244.2.2", 53))
    }

    @Test func aPacketCutShortByTheSnaplenIsStillRewrittenWithoutTrapping() throws {
        let full = Self.tcp("10.244.1.2", 40001, "10.96.0.1", 80)
        let flow = FlowKey(source: .v4(Self.v4("10.244.1.2")), sourcePort: 40001, destination: .v4(Self.v4("10.244.2.3")), destinationPort: 8080, proto: .tcp)
        let expected = Self.tcp("10.244.1.2", 40001, "10.244.2.3", 8080)
        for n in 0..<full.count {
            let cut = Array(full.prefix(n))
            let out = IPPacketNAT.rewrite(cut, to: flow)
            // Once the TCP checksum is in the capture, the rewrite matches the full packet's.
            if n >= 20 + 18 { #expect(out == Array(expected.prefix(n))) }
        }
    }
}
