import Bench
import Testing
import Wire
@testable import IPVS

/// The flat service store: services that grow move to the pools' end without losing anything,
/// the index slots and `bases` always say where each service's servers and buckets are, and a
/// snapshot written back is the same service.
@Suite struct ServiceStoreTests {
    /// Every offset the packet path reads without the record agrees with the record, and no two
    /// services share pool slots.
    func expectConsistent(_ t: IPVSTable) {
        let st = t.store
        var owner = [Int](repeating: -1, count: st.servers.count)
        for i in 0..<st.count {
            let r = st.records[i]
            #expect(st.bases[i] == r.base)
            #expect(r.slots <= r.capacity && Int(r.base) + Int(r.capacity) <= st.servers.count)
            for k in Int(r.base) ..< Int(r.base) + Int(r.capacity) {
                #expect(owner[k] == -1, "service \(i) shares pool slot \(k) with service \(owner[k])")
                owner[k] = i
            }
            let slot = st.index.guess(hash: r.lookupKey.hashValue64)
            #expect(slot?.service == Int32(i) && slot?.base == r.base && slot?.bucketBase == r.bucketBase)
            #expect(t.findService(lookupKey: r.lookupKey) == Int32(i))
        }
    }

    func expectSame(_ a: VirtualService, _ b: VirtualService) {
        #expect(a.config == b.config && a.servers == b.servers && a.order == b.order && a.stats == b.stats)
        #expect(Array(a.position.prefix(a.servers.count)) == Array(b.position.prefix(b.servers.count)))
        #expect(a.sched.rrCursor == b.sched.rrCursor && a.sched.wrrCl == b.sched.wrrCl && a.sched.wrrCw == b.sched.wrrCw
            && a.sched.wrrMw == b.sched.wrrMw && a.sched.wrrDi == b.sched.wrrDi && a.sched.table == b.sched.table)
        #expect(a.sched.tree.leaves == b.sched.tree.leaves && a.sched.tree.nodes.count == b.sched.tree.nodes.count)
    }

    @Test(arguments: [SchedulerName.rr, .wrr, .wlc, .sh, .mh])
    func servicesThatOutgrowTheirSlotsMoveAndKeepEverything(_ scheduler: SchedulerName) throws {
        var t = IPVSTable()
        var rng = SeededGenerator(seed: 21)
        for s in 0..<6 {
            _ = try t.addService(ServiceConfig(key: ServiceKey(protocol: .tcp, address: .v4(IPv4Address(0x0A60_0000 | UInt32(s))), port: 80),
                                               scheduler: scheduler))
        }
        var port: UInt16 = 1
        for step in 0..<300 {
            let s = Int32(rng.next() % 6)
            let server = IPAddress.v4(IPv4Address(0x0AF4_0000 | UInt32(s) << 8 | UInt32(rng.next() % 12)))
            switch rng.next() % 4 {
            case 0, 1:
                try? t.addDestination(service: s, DestinationConfig(address: server, port: 8080, weight: Int32(1 + rng.next() % 3)))
            case 2:
                try? t.deleteDestination(service: s, address: server, port: 8080)
            default:
                port &+= 1
                _ = t.input(IPVSPacket(protocol: .tcp, source: .v4(IPv4Address(0xC0A8_0001)), sourcePort: port,
                                       destination: .v4(IPv4Address(0x0A60_0000 | UInt32(s))), destinationPort: 80, tcpFlags: [.syn]))
            }
            if step % 25 == 0 { expectConsistent(t) }
        }
        expectConsistent(t)
        #expect(t.store.records.contains { $0.base != 0 && $0.capacity > 2 }, "some service outgrew its first slots")
        // A snapshot stored back changes nothing.
        for i in 0..<t.store.count {
            let before = t.services[i]
            t.store.write(before, at: i)
            expectSame(t.services[i], before)
        }
        expectConsistent(t)
    }

    /// `input(_:)` prefetches its own service before the lookup; that must change nothing: the
    /// same verdicts and the same state as the path without the prefetch stage.
    @Test(arguments: IPVSBench.schedulers + [.dh, .sed, .nq])
    func aSinglePacketsOwnPrefetchesChangeNoVerdict(_ scheduler: SchedulerName) {
        var a = IPVSBench.makeTable(services: 20, endpoints: 3, scheduler: scheduler, expectedConnections: 64, seed: 3)
        var b = a
        var rng = SeededGenerator(seed: 5)
        for i in 0..<2000 {
            let flags: TCPFlags = [[.syn], [.ack], [.fin, .ack], [.rst]][Int(rng.next() % 4)]
            let p = IPVSPacket(protocol: rng.next() % 5 == 0 ? .udp : .tcp, source: .v4(IPv4Address(0xC0A8_0000 | UInt32(rng.next() % 64))),
                               sourcePort: UInt16(1000 + rng.next() % 8), destination: .v4(IPv4Address(0x0A60_0000 | UInt32(rng.next() % 24))),
                               destinationPort: 80, tcpFlags: flags)
            let va = a.input(p)
            let k = p.connectionKey
            let vb = b.input(p, key: k, hash: k.hashValue64, serviceHash: nil)
            #expect(va == vb, "packet \(i)")
            if i % 100 == 0 { a.advance(bySeconds: 7); b.advance(bySeconds: 7) }
        }
        for i in 0..<a.store.count { expectSame(a.services[i], b.services[i]) }
        #expect(a.liveConnections == b.liveConnections)
    }
}
