import IPVS

/// An open-addressing (linear probing, backward-shift deletion) map from `ConnectionKey` to an
/// entry index, the layout IPVS's connection table had before `ConnectionIndex` (see there for
/// why it moved on). It was `kdp bench`'s `baseline.hash_probe` until then; that row now probes
/// the layout IPVS really uses (`IPVS.ConnectionIndexProbe`), since a probe of this one-read
/// table was a floor the connection table could not reach. Keys live inline in one flat array, so a lookup is one hash and, at the load
/// factor kept here (≤ 1/2), about one cache line; nothing is allocated per lookup or insert
/// except when the table doubles.
public struct ConnectionHashTable: Sendable {
    struct Slot: Sendable {
        var key: ConnectionKey
        var value: Int32
    }

    private var slots: [Slot]
    private var mask: Int
    public private(set) var count = 0

    static let emptyKey = ConnectionKey.unused

    public init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Self.emptySlots(size)
        mask = size - 1
    }

    /// `size` empty slots, with huge pages requested before the memory is first touched.
    static func emptySlots(_ size: Int) -> [Slot] {
        [Slot](unsafeUninitializedCapacity: size) { buf, count in
            if let b = buf.baseAddress {
                adviseHugePages(UnsafeMutableRawPointer(b), bytes: size * MemoryLayout<Slot>.stride)
                b.initialize(repeating: Slot(key: emptyKey, value: -1), count: size)
            }
            count = size
        }
    }

    /// The entry index stored for `key`, or -1.
    @inline(__always)
    public func find(_ key: ConnectionKey) -> Int32 { find(key, hash: key.hashValue64) }

    /// `find` with the key's `hashValue64` already computed.
    @inline(__always)
    public func find(_ key: ConnectionKey, hash: UInt64) -> Int32 {
        var i = Int(truncatingIfNeeded: hash) & mask
        return slots.withUnsafeBufferPointer { buf in
            while true {
                let s = buf[i]
                if s.value < 0 { return -1 }
                if s.key == key { return s.value }
                i = (i + 1) & mask
            }
        }
    }

    /// Inserts or replaces; returns the value replaced, or -1.
    @discardableResult
    public mutating func insert(_ key: ConnectionKey, _ value: Int32) -> Int32 { insert(key, value, hash: key.hashValue64) }

    /// `insert` with the key's `hashValue64` already computed.
    @discardableResult
    public mutating func insert(_ key: ConnectionKey, _ value: Int32, hash: UInt64) -> Int32 {
        if (count + 1) * 2 > slots.count { grow() }
        let m = mask
        return slots.withUnsafeMutableBufferPointer { buf in
            var i = Int(truncatingIfNeeded: hash) & m
            while true {
                if buf[i].value < 0 {
                    buf[i] = Slot(key: key, value: value)
                    count += 1
                    return -1
                }
                if buf[i].key == key {
                    let old = buf[i].value
                    buf[i].value = value
                    return old
                }
                i = (i + 1) & m
            }
        }
    }

    /// Removes `key` if present; returns whether it was.
    @discardableResult
    public mutating func remove(_ key: ConnectionKey) -> Bool {
        var i = Int(truncatingIfNeeded: key.hashValue64) & mask
        while true {
            if slots[i].value < 0 { return false }
            if slots[i].key == key { break }
            i = (i + 1) & mask
        }
        // Backward-shift deletion keeps every probe chain unbroken without tombstones.
        var hole = i
        var j = i
        while true {
            j = (j + 1) & mask
            if slots[j].value < 0 { break }
            let home = Int(truncatingIfNeeded: slots[j].key.hashValue64) & mask
            // Move j into the hole unless its home lies cyclically in (hole, j].
            let inRange = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !inRange {
                slots[hole] = slots[j]
                hole = j
            }
        }
        slots[hole] = Slot(key: Self.emptyKey, value: -1)
        count -= 1
        return true
    }

    /// Grows now so that `n` keys fit without a rehash later.
    public mutating func reserve(_ n: Int) {
        while n * 2 > slots.count { grow() }
    }

    public mutating func removeAll() {
        for i in slots.indices { slots[i] = Slot(key: Self.emptyKey, value: -1) }
        count = 0
    }

    private mutating func grow() {
        let old = slots
        slots = Self.emptySlots(old.count * 2)
        mask = slots.count - 1
        count = 0
        for s in old where s.value >= 0 { insert(s.key, s.value) }
    }
}
