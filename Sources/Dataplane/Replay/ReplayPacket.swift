import Captures
import Netfilter
import Wire

/// One captured packet as replay sees it: its place in the file, when it was captured, the
/// fields netfilter reads, and, on a node's `-i any` capture, the interface and direction.
public struct ReplayPacket: Sendable {
    /// The record's number in the file, from 1 (as `tcpdump -r` counts).
    public var number: Int
    public var timestampNanoseconds: Int64
    /// The 5-tuple as captured.
    public var flow: FlowKey
    /// What netfilter reads: addresses, ports, TCP flags, ICMP type and code.
    public var packet: Packet
    /// For ICMP errors: the flow of the packet the error quotes (conntrack's RELATED).
    public var quoted: FlowKey?
    /// `tcpdump -i any` (LINUX_SLL2): the capturing interface's index and which way the
    /// packet went through it.
    public var interfaceIndex: UInt32?
    public var packetType: LinuxPacketType?
    /// The IP packet's bytes, kept only when an output (`-w`, `--hops`) needs them.
    public var bytes: [UInt8]?
    /// The transport checksum did not verify (usually checksum offload on the capturing host:
    /// the kernel fills it in after tcpdump saw the packet).
    public var badTransportChecksum = false

    /// A packet to decode into.
    public init() {
        number = 0
        timestampNanoseconds = 0
        flow = FlowKey(source: .v4(IPv4Address(0)), sourcePort: 0, destination: .v4(IPv4Address(0)), destinationPort: 0, proto: .tcp)
        packet = Packet(source: flow.source, destination: flow.destination)
    }
}

/// Why a record is not replayed, with the record's number.
public struct ReplaySkip: Error, Sendable, Hashable {
    public enum Kind: String, Sendable { case undecodable, notIP = "not-ip" }
    public var kind: Kind
    public var number: Int
    public var reason: String

    public init(kind: Kind, number: Int, reason: String) {
        self.kind = kind
        self.number = number
        self.reason = reason
    }
}

extension ReplayPacket {
    /// Decodes a capture record down to the transport header. A record that is not IP (ARP,
    /// LLDP...) or whose headers are broken or cut short by the snaplen is skipped with its
    /// reason; nothing here traps.
    ///
    /// - Complexity: O(header bytes), plus one pass over the transport bytes to verify its
    ///   checksum; `keepBytes` copies the IP packet.
    public static func decode(_ record: CaptureRecord, link: LinkHeader, keepBytes: Bool) -> Result<ReplayPacket, ReplaySkip> {
        var packet = ReplayPacket()
        if let skip = decode(record, link: link, keepBytes: keepBytes, into: &packet) { return .failure(skip) }
        return .success(packet)
    }

    /// `decode`, into a packet the caller reuses from record to record (replay's loop): the
    /// few hundred bytes of a `ReplayPacket` are written in place, not built and copied out.
    /// Returns why the record is skipped, or nil when `packet` holds it.
    public static func decode(_ record: CaptureRecord, link: LinkHeader, keepBytes: Bool, into out: inout ReplayPacket) -> ReplaySkip? {
        func skip(_ kind: ReplaySkip.Kind, _ reason: String) -> ReplaySkip {
            ReplaySkip(kind: kind, number: record.number, reason: reason)
        }
        var ip = UnsafeRawBufferPointer(rebasing: record.bytes[min(link.payloadOffset, record.bytes.count)...])
        var etherType = link.etherType
        var interfaceIndex: UInt32?, packetType: LinuxPacketType?
        switch link.kind {
        case .ethernet:
            do {
                let frame = try EthernetFrame(checking: record.bytes)
                etherType = frame.etherType.rawValue
                ip = frame.payload
            } catch {
                return skip(.undecodable, "\(error)")
            }
        case .linuxSLL2(let h):
            interfaceIndex = h.interfaceIndex
            packetType = h.packetType
        case .linuxSLL(let h):
            packetType = h.packetType
        default:
            break
        }
        guard etherType == LinkHeader.etherTypeIPv4 || etherType == LinkHeader.etherTypeIPv6 else {
            let name = etherType.map { $0 == 0x0806 ? "ARP" : "EtherType 0x" + String($0, radix: 16, uppercase: false) } ?? "unknown protocol"
            return skip(.notIP, "\(name): not an IP packet")
        }
        let flow: FlowKey, transport: UnsafeRawBufferPointer, firstFragment: Bool
        do { (flow, transport, firstFragment) = try FlowKey.parse(ipPacket: ip, checksum: .verify) } catch {
            return skip(.undecodable, "\(error)")
        }
        // Field by field into the reused packet (as `Packet(source:…)` with its defaults would
        // set them): building a new one and assigning it cost a fifth of decoding.
        out.packet.source = flow.source
        out.packet.destination = flow.destination
        out.packet.proto = flow.proto
        out.packet.sourcePort = flow.sourcePort
        out.packet.destinationPort = flow.destinationPort
        out.packet.tcpFlags = 0
        out.packet.icmpType = 8
        out.packet.icmpCode = 0
        out.packet.mark = 0
        // Cleared only when set: assigning nil released the old string on every record.
        if out.packet.inInterface != nil { out.packet.inInterface = nil }
        if out.packet.outInterface != nil { out.packet.outInterface = nil }
        if out.packet.quoted != nil { out.packet.quoted = nil }  // likewise its box
        var quoted: FlowKey?
        var badChecksum = false
        // The transport header, past IPv4 options or IPv6 extension headers, as the flow key's
        // parse found it (an IPv4 fragment after the first has none).
        let l4 = ip[0] >> 4 == 6 || firstFragment ? transport : UnsafeRawBufferPointer(start: nil, count: 0)
        switch flow.proto {
        case .tcp:
            guard let s = try? TCPSegment(checking: l4) else { return skip(.undecodable, "TCP header cut short") }
            out.packet.tcpFlags = s.flags.rawValue
            badChecksum = !checksumVerifies(l4, flow)
        case .udp:
            guard let d = try? UDPDatagram(checking: l4) else { return skip(.undecodable, "UDP header cut short") }
            // UDP over IPv4 may go without a checksum (0).
            badChecksum = !(flow.destination.family == .ipv4 && d.checksum == 0) && !checksumVerifies(l4, flow)
        case .icmp, .icmpv6:
            guard let m = try? ICMPMessage(checking: l4, v6: flow.proto == .icmpv6) else { return skip(.undecodable, "ICMP header cut short") }
            out.packet.icmpType = m.type
            out.packet.icmpCode = m.code
            out.packet.sourcePort = m.isEcho ? m.identifier : 0
            if m.isError {
                guard let q = try? m.quoted() else { return skip(.undecodable, "ICMP error quotes a packet too short to read") }
                quoted = q.flowKey
            }
        default:
            break
        }
        out.number = record.number
        out.timestampNanoseconds = record.timestampNanoseconds
        out.flow = flow
        out.quoted = quoted
        out.interfaceIndex = interfaceIndex
        out.packetType = packetType
        out.bytes = keepBytes ? Array(ip) : nil
        out.badTransportChecksum = badChecksum
        return nil
    }

    /// Whether a TCP or UDP segment's checksum, over its pseudo-header, verifies (RFC 1071: the
    /// sum of everything it covers, checksum included, is all ones).
    static func checksumVerifies(_ l4: UnsafeRawBufferPointer, _ flow: FlowKey) -> Bool {
        let pseudo = InternetChecksum.pseudoHeader(source: flow.source, destination: flow.destination, proto: flow.proto, length: l4.count)
        return InternetChecksum.finish(InternetChecksum.sum(l4, initial: pseudo)) == 0
    }

    /// The capture timestamp in seconds (the clock every timer of the replay runs on).
    public var seconds: Double { Double(timestampNanoseconds) / 1e9 }
}
