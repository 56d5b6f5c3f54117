import Testing
import Wire
@testable import IPVS

/// The sizes the hot paths are laid out for, pinned here rather than stated in comments: the
/// connection entry and real server are 96 bytes (`IPAddress` fields would make them larger),
/// and the packet path prefetches a whole `ServiceRecord` and a service's servers by these
/// strides. A field added or reordered that changes them fails here, where the reason is.
@Suite struct MemoryLayoutTests {
    /// An IPv6 address is two 64-bit halves, not a 16-byte-aligned UInt128, so the tag byte
    /// pads to 24, not 32, and a flow key is 48 bytes (conntrack's tuple: `ConntrackTupleIndexTests`).
    @Test func anIPAddressIs17BytesPaddedTo24() {
        #expect(MemoryLayout<IPAddress>.size == 17)
        #expect(MemoryLayout<IPAddress>.stride == 24)
        #expect(MemoryLayout<FlowKey>.stride == 48)
    }

    /// Two 16-byte addresses, two ports, protocol and family: 38 bytes in a 48-byte stride, whose
    /// tail padding `ConnectionEntry` fills with its small fields.
    @Test func aConnectionKeyIs38BytesInA48ByteStride() {
        #expect(MemoryLayout<ConnectionKey>.size == 38)
        #expect(MemoryLayout<ConnectionKey>.stride == 48)
    }

    @Test func aConnectionEntryIs96Bytes() {
        #expect(MemoryLayout<ConnectionEntry>.stride == 96)
        // The small fields sit in the key's tail padding.
        #expect(MemoryLayout<ConnectionEntry>.offset(of: \.state)! < MemoryLayout<ConnectionKey>.stride)
        #expect(MemoryLayout<ConnectionEntry>.offset(of: \.destinationPort)! < MemoryLayout<ConnectionKey>.stride)
    }

    @Test func aRealServerIs96Bytes() {
        #expect(MemoryLayout<RealServer>.stride == 96)
    }

    /// What a new connection reads of its service: one line.
    @Test func aServiceRecordIsOneCacheLine() {
        #expect(MemoryLayout<ServiceRecord>.stride == 64)
    }

    /// The connection index's slot (tag and entry index), the service index's slot (tag, index
    /// and pool offsets) and the batch's per-packet lookahead.
    @Test func indexSlotsAndLookaheadsAreSmall() {
        #expect(MemoryLayout<UInt64>.stride == 8)
        #expect(MemoryLayout<ServiceIndex.Slot>.stride == 16)
        #expect(MemoryLayout<IPVSTable.Lookahead>.stride == 64)
    }
}

/// The flat store's pools, as the packet path addresses them.
@Suite struct ServicePoolLayoutTests {
    /// A service's servers sit contiguously in the store's pool, where its record says.
    @Test func aServicesServersAreContiguousInThePool() {
        var t = IPVSTable()
        for n in 1...3 {
            let svc = try! t.addService(ServiceConfig(key: ServiceKey(protocol: .tcp, address: ip("10.96.0.\(n)"), port: 80), scheduler: .rr))
            for i in 1...(n + 2) { try! t.addDestination(service: svc, DestinationConfig(address: ip("10.244.\(n).\(i)"), port: 80, weight: 1)) }
        }
        for si in 0..<3 {
            let r = t.store.records[si]
            let snapshot = t.services[si]
            #expect(Int(r.slots) == snapshot.servers.count && r.slots <= r.capacity)
            for (k, s) in snapshot.servers.enumerated() { #expect(t.store.servers[Int(r.base) + k] == s) }
            #expect(Array(t.store.order[Int(r.base) ..< Int(r.base) + Int(r.orderCount)]) == snapshot.order)
        }
    }
}
