import Testing
import Wire
@testable import IPVS

func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

let vip = ip("10.96.0.10")

/// A table with one TCP service on 10.96.0.10:80 and servers added one by one (as ipvsadm -a
/// and kube-proxy do), `10.244.1.<n>:8080` for each given weight in order.
func makeTable(_ scheduler: SchedulerName, weights: [Int32], flags: ServiceFlags = [], timeout: UInt32 = 0,
               netmask: UInt32? = nil, hash: HashVariant = .hash32, sysctls: IPVSSysctls = IPVSSysctls(),
               protocol proto: IPProtocol = .tcp, forward: ForwardMethod = .masq) -> (IPVSTable, Int32) {
    var t = IPVSTable(hashVariant: hash, sysctls: sysctls)
    let svc = try! t.addService(ServiceConfig(key: ServiceKey(protocol: proto, address: vip, port: 80), scheduler: scheduler,
                                              flags: flags, timeout: timeout, netmask: netmask))
    for (i, w) in weights.enumerated() {
        try! t.addDestination(service: svc, DestinationConfig(address: ip("10.244.1.\(i + 1)"), port: 8080, weight: w, forward: forward))
    }
    return (t, svc)
}

/// Sends a SYN (or a UDP datagram) from `client:port`; returns the last octet of the server, 0
/// for no destination, -1 for a drop / pass.
@discardableResult
func syn(_ t: inout IPVSTable, _ client: String, _ port: UInt16 = 40000, proto: IPProtocol = .tcp) -> Int {
    let p = IPVSPacket(protocol: proto, source: ip(client), sourcePort: port, destination: vip, destinationPort: 80,
                       tcpFlags: proto == .tcp ? [.syn] : [])
    switch t.input(p) {
    case .forwarded(let cp, _):
        return Int(t.entries[Int(cp)].destinationAddress.v4!.value & 0xFF)
    case .noDestination: return 0
    default: return -1
    }
}

/// Picks of `n` new connections from distinct clients.
func picks(_ t: inout IPVSTable, _ n: Int, from start: Int = 1) -> [Int] {
    (0..<n).map { syn(&t, "192.168.0.\(start + $0)") }
}

func server(_ t: IPVSTable, _ svc: Int32, _ n: Int) -> RealServer {
    let s = t.services[Int(svc)]
    return s.servers[Int(s.slot(of: ip("10.244.1.\(n)"), port: 8080)!)]
}

func setWeight(_ t: inout IPVSTable, _ svc: Int32, _ n: Int, _ w: Int32) {
    try! t.editDestination(service: svc, DestinationConfig(address: ip("10.244.1.\(n)"), port: 8080, weight: w))
}

/// Client FIN, server FIN (seen only for NAT), client ACK.
func close(_ t: inout IPVSTable, _ client: String, _ port: UInt16 = 40000) {
    var p = IPVSPacket(protocol: .tcp, source: ip(client), sourcePort: port, destination: vip, destinationPort: 80, tcpFlags: [.fin, .ack])
    _ = t.input(p)
    let i = t.connectionIndex(p.connectionKey)
    if i >= 0 { t.output(connection: i, flags: [.fin, .ack]) }
    p.tcpFlags = [.ack]
    _ = t.input(p)
}

/// SYN, SYN+ACK (NAT only), ACK: the entry becomes ESTABLISHED.
@discardableResult
func connect(_ t: inout IPVSTable, _ client: String, _ port: UInt16 = 40000) -> InputVerdict {
    var p = IPVSPacket(protocol: .tcp, source: ip(client), sourcePort: port, destination: vip, destinationPort: 80, tcpFlags: [.syn])
    let v = t.input(p)
    if case .forwarded(let cp, _) = v {
        t.output(connection: cp, flags: [.syn, .ack])
        p.tcpFlags = [.ack]
        _ = t.input(p)
    }
    return v
}

func entry(_ t: IPVSTable, _ client: String, _ port: UInt16 = 40000, proto: IPProtocol = .tcp) -> ConnectionEntry? {
    let i = t.connectionIndex(ConnectionKey(protocol: proto, client: ip(client), clientPort: port, virtual: vip, virtualPort: 80))
    return i < 0 ? nil : t.entries[Int(i)]
}
