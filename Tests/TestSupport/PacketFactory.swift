import Captures
import Foundation
import Wire

/// Builds real IPv4 packets (TCP, UDP, ICMP) with Wire's emitters, checksums included, and
/// writes them to pcap files, so replay tests feed kdp the bytes a capture would hold.
public struct PacketFactory {
    public var frames: [(time: Int64, bytes: [UInt8])] = []
    /// Nanoseconds since the epoch of the next packet.
    public var clock: Int64 = 1_700_000_000_000_000_000
    /// The gap between packets.
    public var step: Int64 = 1_000_000

    public init() {}

    static func v4(_ text: String) -> IPv4Address {
        guard case .v4(let a) = try! IPAddress(parsing: text) else { fatalError("not IPv4: \(text)") }
        return a
    }

    /// One IPv4 packet carrying `proto`'s header and `payload` bytes of zeros.
    public static func ipv4(_ src: String, _ dst: String, proto: IPProtocol, l4: [UInt8], ttl: UInt8 = 64, id: UInt16 = 1) -> [UInt8] {
        let repr = IPv4Repr(source: v4(src), destination: v4(dst), proto: proto, payloadLength: l4.count, ttl: ttl, identification: id, dontFragment: true)
        var out = [UInt8](repeating: 0, count: repr.bufferLength)
        out.withUnsafeMutableBytes { repr.emit(into: $0) }
        return out + l4
    }

    public static func tcp(_ src: String, _ sport: UInt16, _ dst: String, _ dport: UInt16, _ flags: TCPFlags, seq: UInt32 = 1, ack: UInt32 = 0, payload: Int = 0) -> [UInt8] {
        let repr = TCPRepr(sourcePort: sport, destinationPort: dport, sequenceNumber: seq, acknowledgmentNumber: ack, flags: flags, payloadLength: payload)
        var l4 = [UInt8](repeating: 0, count: repr.bufferLength + payload)
        l4.withUnsafeMutableBytes { repr.emit(into: $0, source: .v4(v4(src)), destination: .v4(v4(dst))) }
        return ipv4(src, dst, proto: .tcp, l4: l4)
    }

    public static func udp(_ src: String, _ sport: UInt16, _ dst: String, _ dport: UInt16, payload: Int = 20) -> [UInt8] {
        let repr = UDPRepr(sourcePort: sport, destinationPort: dport, payloadLength: payload)
        var l4 = [UInt8](repeating: 0, count: 8 + payload)
        l4.withUnsafeMutableBytes { repr.emit(into: $0, source: .v4(v4(src)), destination: .v4(v4(dst))) }
        return ipv4(src, dst, proto: .udp, l4: l4)
    }

    /// ICMP destination unreachable (type 3) quoting `quoted`'s IP header and first 8 bytes.
    public static func unreachable(_ src: String, _ dst: String, code: UInt8, quoting quoted: [UInt8]) -> [UInt8] {
        let inner = Array(quoted.prefix(Int(quoted[0] & 0xF) * 4 + 8))
        let repr = ICMPRepr(type: 3, code: code, dataLength: inner.count)
        var l4 = [UInt8](repeating: 0, count: 8) + inner
        l4.withUnsafeMutableBytes { repr.emit(into: $0, source: .v4(v4(src)), destination: .v4(v4(dst))) }
        return ipv4(src, dst, proto: .icmp, l4: l4)
    }

    /// Appends `ip` as an Ethernet frame at the next tick of the clock.
    public mutating func add(_ ip: [UInt8]) {
        clock += step
        frames.append((clock, [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00] + ip))
    }

    /// Moves the clock on (idle time between packets).
    public mutating func wait(seconds: Double) { clock += Int64(seconds * 1e9) }

    /// A TCP connection's handshake, one data segment each way, and the FIN exchange, as the
    /// client sees it (the server is `dst`: a ClusterIP, or a pod).
    public mutating func connection(_ client: String, _ sport: UInt16, _ dst: String, _ dport: UInt16) {
        add(Self.tcp(client, sport, dst, dport, .syn))
        add(Self.tcp(dst, dport, client, sport, [.syn, .ack], seq: 100, ack: 2))
        add(Self.tcp(client, sport, dst, dport, .ack, seq: 2, ack: 101))
        add(Self.tcp(client, sport, dst, dport, [.psh, .ack], seq: 2, ack: 101, payload: 40))
        add(Self.tcp(dst, dport, client, sport, [.psh, .ack], seq: 101, ack: 42, payload: 200))
        add(Self.tcp(client, sport, dst, dport, [.fin, .ack], seq: 42, ack: 301))
        add(Self.tcp(dst, dport, client, sport, [.fin, .ack], seq: 301, ack: 43))
        add(Self.tcp(client, sport, dst, dport, .ack, seq: 43, ack: 302))
    }

    /// Writes every frame to `path` as EN10MB.
    public func write(to path: String) throws {
        let w = try CaptureWriter(path: path, linkType: .ethernet, precision: .nanosecond)
        for f in frames { try w.write(f.bytes, timestampNanoseconds: f.time) }
        try w.close()
    }
}
