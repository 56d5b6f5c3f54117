/// The services' hash index: open addressing (linear probing) over 16-byte slots, each the low
/// 32 bits of the service key's `hashValue64` (the tag), the service's index, and where its
/// servers and buckets begin in the `ServiceStore` pools (copied from its record).
///
/// Why the offsets ride in the slot: a packet's first read of its service is this slot, and
/// with the offsets in it the packet path can start loading the service's record, servers,
/// list and bucket at once, instead of waiting for the record to learn where the rest is (on a
/// busy table each wait is a trip to memory). Services are never removed, so there is no
/// deletion. 10,000 services fill 32,768 slots: 512 KiB.
struct ServiceIndex: Sendable {
    struct Slot: Sendable {
        var tag: UInt32
        /// The service's index + 1; 0 is an empty slot.
        var serviceAndOne: Int32
        var base: Int32
        var bucketBase: Int32

        @inline(__always) var service: Int32 { serviceAndOne &- 1 }
        static let empty = Slot(tag: 0, serviceAndOne: 0, base: 0, bucketBase: -1)
    }

    private var slots = [Slot](repeating: .empty, count: 16)
    private var mask = 15
    private(set) var count = 0

    /// The first service stored under `hash` that `matches` accepts, or -1.
    @inline(__always)
    func find(hash: UInt64, where matches: (Int32) -> Bool) -> Int32 {
        let tag = UInt32(truncatingIfNeeded: hash)
        let m = mask
        return slots.withUnsafeBufferPointer { buf in
            var i = Int(tag) & m
            while true {
                let s = buf[i]
                if s.serviceAndOne == 0 { return -1 }
                if s.tag == tag && matches(s.service) { return s.service }
                i = (i &+ 1) & m
            }
        }
    }

    /// The first slot under `hash`'s tag (the key is not checked): a guess for prefetching.
    @inline(__always)
    func guess(hash: UInt64) -> Slot? {
        let tag = UInt32(truncatingIfNeeded: hash)
        let m = mask
        return slots.withUnsafeBufferPointer { buf in
            var i = Int(tag) & m
            while true {
                let s = buf[i]
                if s.serviceAndOne == 0 { return nil }
                if s.tag == tag { return s }
                i = (i &+ 1) & m
            }
        }
    }

    /// Prefetches the home slot for `hash`.
    @inline(__always)
    func prefetch(hash: UInt64) {
        slots.withUnsafeBufferPointer { Prefetch.element($0, Int(UInt32(truncatingIfNeeded: hash)) & mask) }
    }

    /// Adds service `service` under `hash` (the caller has checked that its key is new).
    mutating func insert(service: Int32, hash: UInt64, base: Int32, bucketBase: Int32) {
        if (count + 1) * 2 > slots.count { grow() }
        place(Slot(tag: UInt32(truncatingIfNeeded: hash), serviceAndOne: service &+ 1, base: base, bucketBase: bucketBase))
        count += 1
    }

    /// Rewrites the offsets stored for `service` (after its pools moved or its buckets changed).
    mutating func update(service: Int32, hash: UInt64, base: Int32, bucketBase: Int32) {
        let tag = UInt32(truncatingIfNeeded: hash)
        let m = mask
        var i = Int(tag) & m
        while slots[i].serviceAndOne != 0 {
            if slots[i].serviceAndOne == service &+ 1 {
                slots[i].base = base
                slots[i].bucketBase = bucketBase
                return
            }
            i = (i &+ 1) & m
        }
    }

    private mutating func place(_ s: Slot) {
        let m = mask
        var i = Int(s.tag) & m
        while slots[i].serviceAndOne != 0 { i = (i &+ 1) & m }
        slots[i] = s
    }

    /// Doubles the slot array; the tags say where every slot goes.
    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: .empty, count: old.count * 2)
        mask = slots.count - 1
        for s in old where s.serviceAndOne != 0 { place(s) }
    }
}
