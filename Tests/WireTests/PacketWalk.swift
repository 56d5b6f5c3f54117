@testable import Wire

/// Test helper: walks a captured frame through every header Wire knows, and re-emits each
/// header in place (innermost first, so outer checksums cover re-emitted inner bytes).
/// Header bytes are scribbled over before each emit, so a field emit forgets shows up.
enum PacketWalk {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.utf8.makeIterator()
        while let a = it.next(), let b = it.next() { out.append(UInt8(String(decoding: [a, b], as: UTF8.self), radix: 16)!) }
        return out
    }

    /// What a walk found, for assertions.
    struct Found {
        var flow: FlowKey?
        var tcp: TCPRepr?
        var udp: UDPRepr?
        var icmp: ICMPRepr?
        var quoted: QuotedPacket?
        var ipv4: IPv4Repr?
        var ipv6: IPv6Repr?
        var upper: IPv6UpperLayer?
        var vxlan: VXLANRepr?
        var ethernet: EthernetRepr?
    }

    /// Parses every header of `frame` (verifying checksums) and returns the re-emitted frame.
    static func reemit(_ frame: [UInt8], policy: ChecksumPolicy = .verify) throws(WireError) -> ([UInt8], Found) {
        var copy = frame
        var found = Found()
        var failure: WireError?
        copy.withUnsafeMutableBytes { m in
            do throws(WireError) { try ethernet(m, &found, policy) } catch { failure = error }
        }
        if let failure { throw failure }
        return (copy, found)
    }

    static func scribble(_ m: UnsafeMutableRawBufferPointer, _ n: Int) { for i in 0..<n { m[i] = 0xA5 } }

    static func ethernet(_ m: UnsafeMutableRawBufferPointer, _ f: inout Found, _ p: ChecksumPolicy) throws(WireError) {
        let frame = try EthernetFrame(checking: UnsafeRawBufferPointer(m))
        let repr = EthernetRepr.parse(frame)
        if f.ethernet == nil { f.ethernet = repr }
        let rest = UnsafeMutableRawBufferPointer(rebasing: m[repr.bufferLength...])
        do throws(WireError) {
            switch repr.etherType {
            case .ipv4: try ipv4(rest, &f, p)
            case .ipv6: try ipv6(rest, &f, p)
            default: break
            }
        } catch { throw error.shifted(by: repr.bufferLength) }
        scribble(m, repr.bufferLength)
        repr.emit(into: m)
    }

    static func ipv4(_ m: UnsafeMutableRawBufferPointer, _ f: inout Found, _ p: ChecksumPolicy) throws(WireError) {
        let packet = try IPv4Packet(checking: UnsafeRawBufferPointer(m))
        let repr = try IPv4Repr.parse(packet, checksum: p)
        if f.ipv4 == nil { f.ipv4 = repr }
        let hl = repr.bufferLength
        let body = UnsafeMutableRawBufferPointer(rebasing: m[hl..<(hl + repr.payloadLength)])
        if !packet.isFragment {
            do throws(WireError) { try transport(body, repr.proto, .v4(repr.source), .v4(repr.destination), &f, p) } catch { throw error.shifted(by: hl) }
        } else if packet.fragmentOffset == 0 {
            // A first fragment: the ports are there, the checksum covers the whole datagram.
            f.flow = ports(body, repr.proto, .v4(repr.source), .v4(repr.destination))
        }
        scribble(m, hl)
        repr.emit(into: m)
    }

    static func ipv6(_ m: UnsafeMutableRawBufferPointer, _ f: inout Found, _ p: ChecksumPolicy) throws(WireError) {
        let packet = try IPv6Packet(checking: UnsafeRawBufferPointer(m))
        let repr = IPv6Repr.parse(packet)
        let upper = try packet.upperLayer()
        if f.ipv6 == nil { f.ipv6 = repr; f.upper = upper }
        let body = UnsafeMutableRawBufferPointer(rebasing: m[upper.offset..<(40 + repr.payloadLength)])
        if upper.fragment == nil {
            do throws(WireError) { try transport(body, upper.proto, .v6(repr.source), .v6(repr.destination), &f, p) } catch { throw error.shifted(by: upper.offset) }
        } else if upper.fragment?.offset == 0 {
            f.flow = ports(body, upper.proto, .v6(repr.source), .v6(repr.destination))
        }
        scribble(m, 40)
        repr.emit(into: m)
    }

    static func ports(_ m: UnsafeMutableRawBufferPointer, _ proto: IPProtocol, _ src: IPAddress, _ dst: IPAddress) -> FlowKey? {
        let r = UnsafeRawBufferPointer(m)
        guard r.count >= 4 else { return nil }
        return FlowKey(source: src, sourcePort: r.be16(0), destination: dst, destinationPort: r.be16(2), proto: proto)
    }

    static func transport(_ m: UnsafeMutableRawBufferPointer, _ proto: IPProtocol, _ src: IPAddress, _ dst: IPAddress,
                          _ f: inout Found, _ p: ChecksumPolicy) throws(WireError) {
        let r = UnsafeRawBufferPointer(m)
        switch proto {
        case .tcp:
            let repr = try TCPRepr.parse(try TCPSegment(checking: r), source: src, destination: dst, checksum: p)
            if f.flow == nil { f.flow = FlowKey(source: src, sourcePort: repr.sourcePort, destination: dst, destinationPort: repr.destinationPort, proto: .tcp); f.tcp = repr }
            scribble(m, repr.bufferLength)
            repr.emit(into: m, source: src, destination: dst)
        case .udp:
            let repr = try UDPRepr.parse(try UDPDatagram(checking: r), source: src, destination: dst, checksum: p)
            if f.flow == nil { f.flow = FlowKey(source: src, sourcePort: repr.sourcePort, destination: dst, destinationPort: repr.destinationPort, proto: .udp); f.udp = repr }
            if repr.destinationPort == VXLANHeader.ianaPort {
                let vxlan = VXLANRepr.parse(try VXLANHeader(checking: r.tail(from: 8)))
                f.vxlan = vxlan
                do throws(WireError) { try ethernet(UnsafeMutableRawBufferPointer(rebasing: m[16...]), &f, p) } catch { throw error.shifted(by: 16) }
                scribble(UnsafeMutableRawBufferPointer(rebasing: m[8...]), 8)
                vxlan.emit(into: UnsafeMutableRawBufferPointer(rebasing: m[8...]))
            }
            scribble(m, 8)
            repr.emit(into: m, source: src, destination: dst)
        case .icmp, .icmpv6:
            let msg = try ICMPMessage(checking: r, v6: proto == .icmpv6)
            let repr = try ICMPRepr.parse(msg, source: src, destination: dst, checksum: p)
            if f.icmp == nil {
                f.icmp = repr
                if msg.isError { f.quoted = try msg.quoted() }
            }
            scribble(m, 8)
            repr.emit(into: m, source: src, destination: dst)
        case .sctp:
            let repr = try SCTPRepr.parse(try SCTPPacket(checking: r), checksum: p)
            scribble(m, 12)
            repr.emit(into: m)
        default: break
        }
    }

    static func frame(_ containing: String) -> [UInt8] {
        bytes(capturedFrames.first { $0.label.contains(containing) }!.hex)
    }
}
