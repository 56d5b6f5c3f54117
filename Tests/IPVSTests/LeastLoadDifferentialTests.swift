import Bench
import Testing
import Wire
@testable import IPVS

/// The tournament tree must pick exactly what the kernel's linear scan picks, ties included,
/// through any sequence of adds, deletes, weight edits, connections, closes and expiries.
@Suite struct LeastLoadDifferentialTests {
    func reference(_ s: VirtualService) -> Int32 {
        let list = s.destinations
        let i: Int?
        switch s.scheduler {
        case .lc: i = LinearScan.lc(list)
        case .wlc: i = LinearScan.wlc(list)
        case .sed: i = LinearScan.wlc(list, sed: true)
        case .nq: i = LinearScan.nq(list)
        default: i = nil
        }
        return i.map { s.order[$0] } ?? -1
    }

    @Test(arguments: [SchedulerName.lc, .wlc, .sed, .nq], [UInt64(1), 2, 3])
    func treePickEqualsLinearScan(_ scheduler: SchedulerName, seed: UInt64) {
        var rng = SeededGenerator(seed: seed &* 7919 &+ UInt64(scheduler.rawValue.count))
        var t = IPVSTable()
        let svc = try! t.addService(ServiceConfig(key: ServiceKey(protocol: .tcp, address: vip, port: 80), scheduler: scheduler))
        var nextServer = 0
        var clients: [UInt16] = []
        var nextPort: UInt16 = 1
        func addServer() {
            nextServer += 1
            let a = IPAddress.v4(IPv4Address(0x0AF4_0000 | UInt32(nextServer)))
            // Few distinct weights and small counts make ties common.
            let w = Int32(rng.next() % 4)
            let u: UInt32 = rng.next() % 5 == 0 ? UInt32(2 + rng.next() % 4) : 0
            try? t.addDestination(service: svc, DestinationConfig(address: a, port: 8080, weight: w, upperThreshold: u))
        }
        for _ in 0..<40 { addServer() }
        var compared = 0
        for _ in 0..<3000 {
            let r = rng.next() % 100
            switch r {
            case 0..<50:
                let expected = reference(t.services[Int(svc)])
                let p = IPVSPacket(protocol: .tcp, source: ip("192.168.0.1"), sourcePort: nextPort, destination: vip, destinationPort: 80, tcpFlags: [.syn])
                let v = t.input(p)
                let got: Int32
                if case .forwarded(let cp, _) = v { got = t.entries[Int(cp)].server } else { got = -1 }
                #expect(got == expected)
                compared += 1
                if got >= 0 { clients.append(nextPort) }
                nextPort &+= 1
            case 50..<65 where !clients.isEmpty:
                let port = clients[Int(rng.next() % UInt64(clients.count))]
                var p = IPVSPacket(protocol: .tcp, source: ip("192.168.0.1"), sourcePort: port, destination: vip, destinationPort: 80, tcpFlags: [.fin, .ack])
                _ = t.input(p)
                p.tcpFlags = [.ack]
                _ = t.input(p)
            case 65..<78 where !clients.isEmpty:
                let k = Int(rng.next() % UInt64(clients.count))
                let i = t.connectionIndex(ConnectionKey(protocol: .tcp, client: ip("192.168.0.1"), clientPort: clients[k], virtual: vip, virtualPort: 80))
                if i >= 0 { t.expire(connection: i) }
                clients.remove(at: k)
            case 78..<86:
                let d = t.services[Int(svc)].destinations
                if !d.isEmpty {
                    let s = d[Int(rng.next() % UInt64(d.count))]
                    try? t.editDestination(service: svc, DestinationConfig(address: s.address, port: s.port, weight: Int32(rng.next() % 4),
                                                                          upperThreshold: s.upperThreshold, lowerThreshold: s.lowerThreshold))
                }
            case 86..<92:
                addServer()
            case 92..<96:
                let d = t.services[Int(svc)].destinations
                if d.count > 1 {
                    let s = d[Int(rng.next() % UInt64(d.count))]
                    try? t.deleteDestination(service: svc, address: s.address, port: s.port)
                }
            default:
                t.advance(bySeconds: Int64(rng.next() % 200))
            }
        }
        #expect(compared > 1000)
    }

    @Test func treeBreaksTiesToTheFirstServerInListOrderAmongThousands() {
        var (t, svc) = makeTable(.wlc, weights: [])
        for i in 0..<1000 {
            try! t.addDestination(service: svc, DestinationConfig(address: .v4(IPv4Address(0x0AF4_0000 | UInt32(i + 1))), port: 8080, weight: 2))
        }
        // All idle and equal: the head (last added, 10.244.3.232) wins, then the next in order.
        let first = syn(&t, "192.168.0.1", 1)
        #expect(first == 0xE8)
        #expect(t.services[Int(svc)].order[0] == t.services[Int(svc)].slot(of: .v4(IPv4Address(0x0AF4_03E8)), port: 8080))
    }
}
