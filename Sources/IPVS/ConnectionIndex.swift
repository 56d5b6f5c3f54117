/// The connection table's index: open addressing (linear probing, backward-shift deletion) over
/// 8-byte slots, each the low 32 bits of the key's `hashValue64` (the tag) and the entry index.
/// The keys themselves stay in the entries.
///
/// Why not `ConnectionHashTable` (Bench's former baseline: 48-byte slots with the key inline): at a million connections
/// that table is 96 MiB, so nearly every probe misses the caches and the TLB. This one is 16 MiB;
/// a miss (every new connection) reads one slot and no entry, and a hit reads the slot and the
/// entry, which the caller reads next anyway. A tag match with a different key costs one extra
/// entry read and is otherwise harmless: the key comparison decides, as in the kernel's chain walk
/// (__ip_vs_conn_in_get compares every field).
struct ConnectionIndex: Sendable {
    /// `UInt64(tag) | UInt64(index + 1) << 32`; 0 is an empty slot.
    private var slots: [UInt64]
    /// `slots.count - 1`; below 2^32, so a slot's home is `tag & mask`.
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Self.emptySlots(size)
        mask = size - 1
    }

    static func emptySlots(_ size: Int) -> [UInt64] {
        [UInt64](unsafeUninitializedCapacity: size) { buf, count in
            if let b = buf.baseAddress {
                adviseHugePages(UnsafeMutableRawPointer(b), bytes: size * MemoryLayout<UInt64>.stride)
                b.initialize(repeating: 0, count: size)
            }
            count = size
        }
    }

    @inline(__always)
    static func pack(tag: UInt32, index: Int32) -> UInt64 {
        UInt64(tag) | UInt64(UInt32(bitPattern: index &+ 1)) << 32
    }

    @inline(__always)
    static func index(_ slot: UInt64) -> Int32 { Int32(bitPattern: UInt32(truncatingIfNeeded: slot >> 32)) &- 1 }

    /// The entry index whose key is `key`, or -1. `entries` holds the keys.
    @inline(__always)
    func find(_ key: ConnectionKey, hash: UInt64, entries: UnsafeBufferPointer<ConnectionEntry>) -> Int32 {
        find(hash: hash) { entries[Int($0)].key == key }
    }

    /// The first index stored under `hash` that `matches` accepts, or -1. `matches` decides
    /// whether the key stored elsewhere for that index is the one looked for.
    @inline(__always)
    func find(hash: UInt64, where matches: (Int32) -> Bool) -> Int32 {
        let tag = UInt32(truncatingIfNeeded: hash)
        let m = mask
        return slots.withUnsafeBufferPointer { buf in
            var i = Int(tag) & m
            while true {
                let s = buf[i]
                if s == 0 { return -1 }
                if UInt32(truncatingIfNeeded: s) == tag {
                    let e = Self.index(s)
                    if matches(e) { return e }
                }
                i = (i &+ 1) & m
            }
        }
    }

    /// The first index stored under `hash`'s tag, or -1: a guess (the key is not checked) for
    /// prefetching what the index leads to. Walking the chain rather than taking the home slot
    /// matters: at a load of 0.3 about one key in six is displaced from its home.
    @inline(__always)
    func guessIndex(hash: UInt64) -> Int32 { find(hash: hash) { _ in true } }

    /// Prefetches the home slot for `hash`.
    @inline(__always)
    func prefetch(hash: UInt64) {
        slots.withUnsafeBufferPointer { Prefetch.element($0, Int(UInt32(truncatingIfNeeded: hash)) & mask) }
    }

    /// Inserts `index` for `key`, or replaces the index stored for it; returns the one replaced, or -1.
    /// The entry at `index` must already hold `key` in `entries` (for later comparisons).
    @discardableResult
    mutating func insert(_ key: ConnectionKey, _ index: Int32, hash: UInt64, entries: UnsafeBufferPointer<ConnectionEntry>) -> Int32 {
        insert(index, hash: hash) { entries[Int($0)].key == key }
    }

    /// Inserts `index` under `hash`, or replaces the first stored index that `matches` accepts
    /// (the same key); returns the one replaced, or -1.
    @discardableResult
    @inline(__always)
    mutating func insert(_ index: Int32, hash: UInt64, replacing matches: (Int32) -> Bool) -> Int32 {
        if (count + 1) * 2 > slots.count { grow() }
        let tag = UInt32(truncatingIfNeeded: hash)
        let m = mask
        let packed = Self.pack(tag: tag, index: index)
        let (old, added) = slots.withUnsafeMutableBufferPointer { buf -> (Int32, Bool) in
            var i = Int(tag) & m
            while true {
                let s = buf[i]
                if s == 0 {
                    buf[i] = packed
                    return (-1, true)
                }
                if UInt32(truncatingIfNeeded: s) == tag {
                    let e = Self.index(s)
                    if matches(e) {
                        buf[i] = packed
                        return (e, false)
                    }
                }
                i = (i &+ 1) & m
            }
        }
        if added { count += 1 }
        return old
    }

    /// Removes the slot holding entry `index` under `hash`, if any; returns whether it did.
    /// Matching on the index rather than the key lets a caller remove an entry it is about to
    /// rewrite without a key comparison.
    @discardableResult
    mutating func remove(index: Int32, hash: UInt64) -> Bool {
        let tag = UInt32(truncatingIfNeeded: hash)
        let want = Self.pack(tag: tag, index: index)
        let m = mask
        let removed = slots.withUnsafeMutableBufferPointer { buf -> Bool in
            var i = Int(tag) & m
            while true {
                let s = buf[i]
                if s == 0 { return false }
                if s == want { break }
                i = (i &+ 1) & m
            }
            // Backward-shift deletion keeps every probe chain unbroken without tombstones.
            var hole = i
            var j = i
            while true {
                j = (j &+ 1) & m
                let s = buf[j]
                if s == 0 { break }
                let home = Int(UInt32(truncatingIfNeeded: s)) & m
                // Move j into the hole unless its home lies cyclically in (hole, j].
                let inRange = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
                if !inRange {
                    buf[hole] = s
                    hole = j
                }
            }
            buf[hole] = 0
            return true
        }
        if removed { count -= 1 }
        return removed
    }

    /// Grows now so that `n` keys fit without a rehash later.
    mutating func reserve(_ n: Int) {
        while n * 2 > slots.count { grow() }
    }

    /// Doubles the slot array; the tags say where every slot goes, so no key is read.
    private mutating func grow() {
        let old = slots
        slots = Self.emptySlots(old.count * 2)
        mask = slots.count - 1
        let m = mask
        slots.withUnsafeMutableBufferPointer { buf in
            for s in old where s != 0 {
                var i = Int(UInt32(truncatingIfNeeded: s)) & m
                while buf[i] != 0 { i = (i &+ 1) & m }
                buf[i] = s
            }
        }
    }
}


/// `kdp bench`'s `baseline.hash_probe`: the connection table's own layout and nothing else of
/// IPVS — a `ConnectionIndex` (8-byte tagged slots, load ≤ 1/2, huge pages) over a flat array of
/// `ConnectionEntry` holding the keys, filled in the order given. A probe hashes the key, reads
/// its slot and, on a tag match, the entry's key: the floor under `ipvs.established` and under
/// the lookup every new connection starts with.
package struct ConnectionIndexProbe: Sendable {
    private var index: ConnectionIndex
    private var entries: [ConnectionEntry]

    package init(keys: [ConnectionKey]) {
        index = ConnectionIndex(capacity: keys.count)
        entries = [ConnectionEntry](unsafeUninitializedCapacity: keys.count) { buf, count in
            if let b = buf.baseAddress {
                adviseHugePages(UnsafeMutableRawPointer(b), bytes: keys.count * MemoryLayout<ConnectionEntry>.stride)
            }
            count = 0
        }
        for (i, k) in keys.enumerated() {
            entries.append(ConnectionEntry(key: k, destinationAddress: .v4(.zero), destinationPort: UInt16(truncatingIfNeeded: i), state: 0,
                                           flags: [], service: 0, server: 0, control: -1, nControl: 0, timeout: 0, expires: 0,
                                           live: true, hashed: true))
            entries.withUnsafeBufferPointer { _ = index.insert(k, Int32(i), hash: k.hashValue64, entries: $0) }
        }
    }

    /// The entry index stored for `key`, or -1.
    @inline(__always)
    package func find(_ key: ConnectionKey) -> Int32 {
        entries.withUnsafeBufferPointer { index.find(key, hash: key.hashValue64, entries: $0) }
    }

    /// Probes every key in turn and sums the indexes found (so the work is observable). The
    /// loop runs here, where the probe inlines, so the timed work is the probes and nothing else:
    /// no call per key across the module boundary.
    @inline(never)
    package func probeAll(_ keys: [ConnectionKey]) -> Int {
        entries.withUnsafeBufferPointer { e in
            var n = 0
            for k in keys { n &+= Int(index.find(k, hash: k.hashValue64, entries: e)) }
            return n
        }
    }
}
