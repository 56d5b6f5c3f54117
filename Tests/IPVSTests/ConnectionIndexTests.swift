import Testing
import Wire
@testable import IPVS

/// `ConnectionIndex` keeps only a 32-bit tag and the entry index per slot; these check it against
/// a dictionary, with real hashes and with hashes squeezed so that tags collide and chains wrap.
@Suite struct ConnectionIndexTests {
    static func entry(_ k: ConnectionKey) -> ConnectionEntry {
        ConnectionEntry(key: k, destinationAddress: .v4(.zero), destinationPort: 0, state: 0, flags: [], service: 0, server: 0,
                        control: -1, nControl: 0, timeout: 0, expires: 0, live: true, hashed: true)
    }

    /// `squeeze` maps the real hash to the one the index sees (identity, or few distinct values).
    func run(seed: UInt64, squeeze: (UInt64) -> UInt64) {
        var index = ConnectionIndex(capacity: 4)
        var rng = SeededGenerator(seed: seed)
        var entries: [ConnectionEntry] = []
        var model: [ConnectionKey: Int32] = [:]
        for _ in 0..<20000 {
            let k = ConnectionKey(protocol: .tcp, client: .v4(IPv4Address(UInt32(rng.next() % 400))), clientPort: UInt16(rng.next() % 5),
                                  virtual: .v4(IPv4Address(0x0A60_0001)), virtualPort: 80)
            let h = squeeze(k.hashValue64)
            switch rng.next() % 3 {
            case 0:
                let had = model.removeValue(forKey: k)
                let found = entries.withUnsafeBufferPointer { index.find(k, hash: h, entries: $0) }
                #expect(found == (had ?? -1))
                #expect(index.remove(index: found, hash: h) == (had != nil))
            default:
                // A new entry for the key (as createEntry does): the old one, if any, is replaced.
                entries.append(Self.entry(k))
                let i = Int32(entries.count - 1)
                let old = entries.withUnsafeBufferPointer { index.insert(k, i, hash: h, entries: $0) }
                #expect(old == (model[k] ?? -1))
                model[k] = i
            }
        }
        #expect(index.count == model.count)
        entries.withUnsafeBufferPointer { e in
            for (k, v) in model { #expect(index.find(k, hash: squeeze(k.hashValue64), entries: e) == v) }
            // Keys never inserted are not found.
            let absent = ConnectionKey(protocol: .udp, client: .v4(IPv4Address(1)), clientPort: 1, virtual: .v4(IPv4Address(2)), virtualPort: 3)
            #expect(index.find(absent, hash: squeeze(absent.hashValue64), entries: e) == -1)
        }
    }

    @Test func matchesADictionaryWithRealHashes() { run(seed: 11) { $0 } }

    @Test func matchesADictionaryWhenTagsCollide() {
        // Eight distinct tags, all with home 0 or near it: every lookup walks a long chain of
        // equal tags and must decide on the key; removals shift across the wrap-around.
        run(seed: 12) { ($0 % 8) &* 0x1_0000 }
    }

    @Test func grownIndexKeepsEveryKey() {
        var index = ConnectionIndex(capacity: 1)
        var entries: [ConnectionEntry] = []
        for i in 0..<5000 {
            let k = ConnectionKey(protocol: .tcp, client: .v4(IPv4Address(UInt32(i))), clientPort: 1, virtual: .v4(IPv4Address(9)), virtualPort: 80)
            entries.append(Self.entry(k))
            _ = entries.withUnsafeBufferPointer { index.insert(k, Int32(i), hash: k.hashValue64, entries: $0) }
        }
        entries.withUnsafeBufferPointer { e in
            for (i, x) in e.enumerated() { #expect(index.find(x.key, hash: x.key.hashValue64, entries: e) == Int32(i)) }
        }
    }
}

/// The service table is a `ConnectionIndex` whose keys live in the services' configs.
@Suite struct ServiceIndexTests {
    @Test func everyServiceIsFoundByKeyAndByPacketWithTheKernelsPrecedence() throws {
        var t = IPVSTable()
        var tcp: [Int32] = [], udp: [Int32] = []
        for i in 0..<3000 {  // enough to share tags' home slots and wrap chains
            let a = IPAddress.v4(IPv4Address(0x0A60_0000 &+ UInt32(i)))
            tcp.append(try t.addService(ServiceConfig(key: ServiceKey(protocol: .tcp, address: a, port: 80), scheduler: .rr)))
            udp.append(try t.addService(ServiceConfig(key: ServiceKey(protocol: .udp, address: a, port: 80), scheduler: .rr)))
        }
        let any = try t.addService(ServiceConfig(key: ServiceKey(protocol: .tcp, address: .v4(IPv4Address(0x0A60_0005)), port: 0), scheduler: .rr))
        let mark = try t.addService(ServiceConfig(key: ServiceKey(fwmark: 9), scheduler: .rr))
        #expect(throws: IPVSError.serviceExists) {
            try t.addService(ServiceConfig(key: ServiceKey(protocol: .udp, address: .v4(IPv4Address(0x0A60_0007)), port: 80), scheduler: .sh))
        }
        for i in 0..<3000 {
            let a = IPAddress.v4(IPv4Address(0x0A60_0000 &+ UInt32(i)))
            #expect(t.serviceIndex(ServiceKey(protocol: .tcp, address: a, port: 80)) == tcp[i])
            #expect(t.serviceIndex(ServiceKey(protocol: .udp, address: a, port: 80)) == udp[i])
            #expect(t.serviceIndex(ServiceKey(protocol: .tcp, address: a, port: 81)) == nil)
        }
        #expect(t.serviceIndex(ServiceKey(fwmark: 9)) == mark)
        #expect(t.serviceIndex(ServiceKey(fwmark: 10)) == nil)
        func packet(_ addr: UInt32, _ port: UInt16, proto: IPProtocol = .tcp, mark: UInt32 = 0) -> IPVSPacket {
            IPVSPacket(protocol: proto, source: .v4(IPv4Address(0xC0A8_0001)), sourcePort: 1000,
                       destination: .v4(IPv4Address(addr)), destinationPort: port, tcpFlags: [.syn], fwmark: mark)
        }
        // ip_vs_service_find: fwmark first, then <protocol, addr, port>, then the port-0 service.
        #expect(t.findService(packet(0x0A60_0005, 80, mark: 9)) == mark)
        #expect(t.findService(packet(0x0A60_0005, 80, mark: 10)) == tcp[5])
        #expect(t.findService(packet(0x0A60_0005, 80, proto: .udp)) == udp[5])
        #expect(t.findService(packet(0x0A60_0005, 443)) == any)
        #expect(t.findService(packet(0x0A60_0006, 443)) == -1)
        #expect(t.findService(packet(0x0B00_0000, 80)) == -1)
    }
}
