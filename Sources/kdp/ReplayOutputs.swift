import Captures
import Cluster
import Dataplane
import Foundation
import Netfilter
import Wire

/// The capture files a replay writes: `-w` (every packet as delivered, after NAT) and
/// `--hops DIR` (one file per interface the packets crossed, as `tcpdump -i IFACE` would have
/// captured there). Every file goes through a temporary file renamed on close, so an output
/// that fails leaves nothing half-written.
final class ReplayOutputs {
    private var delivered: CaptureWriter?
    private let hopsFolder: String?
    private var hops: [String: CaptureWriter] = [:]
    /// Hop files in the order they were first written.
    private(set) var hopFiles: [String] = []

    init(deliveredPath: String?, hopsFolder: String?) throws(InputError) {
        self.hopsFolder = hopsFolder
        if let hopsFolder {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: hopsFolder, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else { throw InputError("--hops \(hopsFolder): exists and is not a folder") }
            } else {
                do { try FileManager.default.createDirectory(atPath: hopsFolder, withIntermediateDirectories: true) } catch {
                    throw InputError("--hops \(hopsFolder): cannot create the folder: \(error.localizedDescription)")
                }
            }
        }
        if let deliveredPath {
            do { delivered = try CaptureWriter(path: deliveredPath, linkType: .ethernet, precision: .nanosecond) } catch {
                throw InputError(error.description)
            }
        }
    }

    var wantsBytes: Bool { delivered != nil || hopsFolder != nil }

    /// Writes what one replayed packet produced.
    func write(_ outcome: ReplayOutcome, packet: ReplayPacket) throws(InputError) {
        guard let bytes = packet.bytes else { return }
        do {
            if let w = delivered, let flow = outcome.delivered {
                let ip = IPPacketNAT.rewrite(bytes, to: flow, ttlDecrement: outcome.routedHops)
                try w.write(Self.frame(ip, from: "delivered-src", to: "delivered-dst"), timestampNanoseconds: packet.timestampNanoseconds)
            }
            if hopsFolder != nil, let path = outcome.path { try writeHops(path, bytes: bytes, time: packet.timestampNanoseconds) }
        } catch {
            throw InputError(error.description)
        }
    }

    private func writeHops(_ path: DataplanePath, bytes: [UInt8], time: Int64) throws(CaptureError) {
        var routed = 0
        var lastNode: String?
        for step in path.steps {
            for c in step.crossings {
                let flow = FlowKey(source: step.packet.source, sourcePort: step.packet.sourcePort, destination: step.packet.destination,
                                   destinationPort: step.packet.proto.hasPorts ? step.packet.destinationPort : 0, proto: step.packet.proto)
                let ip = IPPacketNAT.rewrite(bytes, to: flow, ttlDecrement: routed)
                let frame: [UInt8]
                let peer: String
                switch c.owner {
                case .node(let n): peer = n
                case .pod(let ns, let name): peer = "\(ns)/\(name)"
                }
                if c.encapsulated, let outer = step.outer {
                    frame = Self.vxlan(Self.frame(ip, from: lastNode ?? peer, to: peer), source: outer.source, destination: outer.destination, port: outer.port, vni: outer.vni)
                } else {
                    frame = Self.frame(ip, from: c.direction == .sent ? peer : (lastNode ?? "peer"), to: c.direction == .sent ? "next" : peer)
                }
                try writer(for: c.fileStem).write(frame, timestampNanoseconds: time)
                if c.direction == .sent, case .node(let n) = c.owner, !c.encapsulated {
                    routed += 1
                    lastNode = n
                }
            }
        }
    }

    private func writer(for stem: String) throws(CaptureError) -> CaptureWriter {
        if let w = hops[stem] { return w }
        let w = try CaptureWriter(path: "\(hopsFolder!)/\(stem).pcap", linkType: .ethernet, precision: .nanosecond)
        hops[stem] = w
        hopFiles.append(stem + ".pcap")
        return w
    }

    func close() throws(InputError) {
        do {
            try delivered?.close()
            for stem in hopFiles { try hops[String(stem.dropLast(5))]?.close() }
        } catch {
            throw InputError(error.description)
        }
    }

    func abandon() {
        delivered?.abandon()
        for w in hops.values { w.abandon() }
    }

    /// An Ethernet frame around `ip`. The MAC addresses are made up (locally administered,
    /// derived from the names of the two ends): the emulation has no ARP.
    static func frame(_ ip: [UInt8], from: String, to: String) -> [UInt8] {
        let etherType: EtherType = ip.first.map { $0 >> 4 == 6 } == true ? .ipv6 : .ipv4
        let repr = EthernetRepr(destination: mac(to), source: mac(from), etherType: etherType)
        var out = [UInt8](repeating: 0, count: repr.bufferLength)
        out.withUnsafeMutableBytes { repr.emit(into: $0) }
        return out + ip
    }

    /// flannel's VXLAN encapsulation of an inner frame: outer IPv4 (or IPv6), UDP to 8472
    /// (source port from the inner flow, as the kernel hashes it; here fixed), VXLAN with the VNI.
    static func vxlan(_ inner: [UInt8], source: IPAddress, destination: IPAddress, port: UInt16, vni: Int) -> [UInt8] {
        let outer = (source: source, destination: destination, port: port, vni: vni)
        var vx = [UInt8](repeating: 0, count: 8)
        vx[0] = 0x08
        vx[4] = UInt8(truncatingIfNeeded: outer.vni >> 16)
        vx[5] = UInt8(truncatingIfNeeded: outer.vni >> 8)
        vx[6] = UInt8(truncatingIfNeeded: outer.vni)
        let udpPayload = vx + inner
        let udp = UDPRepr(sourcePort: 49152, destinationPort: outer.port, payloadLength: udpPayload.count)
        var udpBytes = [UInt8](repeating: 0, count: 8 + udpPayload.count)
        udpBytes.withUnsafeMutableBytes { b in
            b.copyBytes(from: [UInt8](repeating: 0, count: 8) + udpPayload)
            udp.emit(into: b, source: outer.source, destination: outer.destination)
        }
        var ip: [UInt8]
        switch (outer.source, outer.destination) {
        case (.v4(let s), .v4(let d)):
            let repr = IPv4Repr(source: s, destination: d, proto: .udp, payloadLength: udpBytes.count)
            ip = [UInt8](repeating: 0, count: repr.bufferLength)
            ip.withUnsafeMutableBytes { repr.emit(into: $0) }
        default:
            // IPv6 underlay: fixed header, next header UDP, hop limit 64.
            ip = [0x60, 0, 0, 0, UInt8(udpBytes.count >> 8), UInt8(truncatingIfNeeded: udpBytes.count), 17, 64]
            for a in [outer.source, outer.destination] {
                if case .v6(let v) = a { for k in 0..<16 { ip.append(UInt8(truncatingIfNeeded: v.value >> (8 * (15 - k)))) } }
            }
        }
        return frame(ip + udpBytes, from: "\(outer.source)", to: "\(outer.destination)")
    }

    static func mac(_ name: String) -> EthernetAddress {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        // 02:xx: locally administered, unicast.
        return EthernetAddress(0x0200_0000_0000 | (h & 0x00FF_FFFF_FFFF))
    }
}
