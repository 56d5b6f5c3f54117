import Captures
import Cluster
import Wire

/// A generated capture for replay's benchmark: `flows` TCP connections from the cluster's pods
/// to its Services' ClusterIPs, each a handshake and then data and acknowledgements both ways,
/// interleaved round-robin until the file holds `packets` packets. Real bytes (Wire's emitters,
/// checksums included) in EN10MB, as `tcpdump -i eth0` inside the client pods would write them.
public enum SyntheticCapture {
    /// Writes the capture and returns how many flows it holds. Cost: O(`packets`) writes; the
    /// frames of each flow are built once.
    @discardableResult
    public static func write(to path: String, cluster: Cluster, flows: Int, packets: Int, synOnly: Bool = false) throws -> Int {
        let clients = cluster.pods.filter { !$0.hostNetwork && !$0.ips.isEmpty && $0.nodeName != nil }
        let targets = cluster.services.flatMap { s in
            s.clusterIPs.filter { $0.family == .ipv4 }.prefix(1).flatMap { ip in s.ports.filter { $0.protocol == .tcp }.map { (ip, $0.port) } }
        }
        guard !clients.isEmpty, !targets.isEmpty else { return 0 }
        let writer = try CaptureWriter(path: path, linkType: .ethernet, precision: .nanosecond)
        var time: Int64 = 1_700_000_000_000_000_000
        func put(_ frame: [UInt8]) throws {
            time += 10_000
            try writer.write(frame, timestampNanoseconds: time)
        }
        var flowFrames: [[[UInt8]]] = []
        for i in 0..<flows {
            let client = clients[i % clients.count].ips.first { $0.family == .ipv4 }!
            let (service, port) = targets[i % targets.count]
            let sport = UInt16(20_000 + (i / clients.count) % 40_000)
            flowFrames.append([
                frame(client, sport, service, port, .syn, seq: 1, ack: 0, payload: 0),
                frame(service, port, client, sport, [.syn, .ack], seq: 100, ack: 2, payload: 0),
                frame(client, sport, service, port, [.psh, .ack], seq: 2, ack: 101, payload: 64),
                frame(service, port, client, sport, .ack, seq: 101, ack: 66, payload: 512),
            ])
        }
        var written = 0
        for f in flowFrames where written < packets {
            try put(f[0])
            written += 1
            if !synOnly, written < packets { try put(f[1]); written += 1 }
        }
        var round = 0
        while !synOnly && written < packets {
            let f = flowFrames[round % flows]
            try put(f[2 + (round / flows) % 2])
            written += 1
            round += 1
        }
        try writer.close()
        return flows
    }

    static func frame(_ src: IPAddress, _ sport: UInt16, _ dst: IPAddress, _ dport: UInt16, _ flags: TCPFlags,
                      seq: UInt32, ack: UInt32, payload: Int) -> [UInt8] {
        guard case .v4(let s) = src, case .v4(let d) = dst else { return [] }
        let tcp = TCPRepr(sourcePort: sport, destinationPort: dport, sequenceNumber: seq, acknowledgmentNumber: ack, flags: flags, payloadLength: payload)
        var l4 = [UInt8](repeating: 0x61, count: tcp.bufferLength + payload)
        l4.withUnsafeMutableBytes { tcp.emit(into: $0, source: src, destination: dst) }
        let ip = IPv4Repr(source: s, destination: d, proto: .tcp, payloadLength: l4.count, identification: 1, dontFragment: true)
        var header = [UInt8](repeating: 0, count: ip.bufferLength)
        header.withUnsafeMutableBytes { ip.emit(into: $0) }
        let eth = EthernetRepr(destination: EthernetAddress(0x0200_0000_0002), source: EthernetAddress(0x0200_0000_0001), etherType: .ipv4)
        var e = [UInt8](repeating: 0, count: eth.bufferLength)
        e.withUnsafeMutableBytes { eth.emit(into: $0) }
        return e + header + l4
    }
}
