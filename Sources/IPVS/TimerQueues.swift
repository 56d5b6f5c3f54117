/// Connection timers as one FIFO queue per timeout value.
///
/// Every timer is armed as `now + timeout` with a clock that never goes back, so within one
/// timeout value the expiries are already in order: arming is an append (no search, no cache
/// miss on a heap parent), and the next timer due is the smallest of a handful of queue heads.
/// Re-arming appends a new record and leaves the old one to be skipped when it surfaces (it no
/// longer matches the entry's `expires`).
struct TimerQueues: Sendable {
    struct Record: Sendable {
        var expires: Int64
        var entry: Int32
    }

    struct Queue: Sendable {
        var timeout: Int64
        var records: [Record] = []
        var head = 0
    }

    private(set) var queues: [Queue] = []
    /// Records not yet popped, over all queues.
    private(set) var count = 0
    private var last = -1
    /// Records each queue has room for up front (`reserve`), so arming never reallocates.
    private var reservation = 0

    /// Makes room for `n` more records in every queue, and in every queue made later.
    mutating func reserve(_ n: Int) {
        reservation = max(reservation, n)
        for i in queues.indices { Self.reserve(&queues[i].records, queues[i].records.count + n) }
    }

    /// Reserves room for `n` records, asking for huge pages on the part not yet touched: the
    /// queue is filled sequentially while packets arrive, so every 4 KiB page would otherwise
    /// fault (and be zeroed) on the packet path.
    static func reserve(_ records: inout [Record], _ n: Int) {
        guard n > records.capacity else { return }
        records.reserveCapacity(n)
        let used = records.count
        let capacity = records.capacity
        records.withUnsafeMutableBufferPointer { b in
            if let base = b.baseAddress {
                adviseHugePages(UnsafeMutableRawPointer(base + used), bytes: (capacity - used) * MemoryLayout<Record>.stride)
            }
        }
    }

    mutating func push(_ r: Record, timeout: Int64) {
        var q = last
        if q < 0 || queues[q].timeout != timeout {
            q = -1
            for i in queues.indices where queues[i].timeout == timeout { q = i; break }
            if q < 0 {
                var fresh = Queue(timeout: timeout)
                Self.reserve(&fresh.records, reservation)
                queues.append(fresh)
                q = queues.count - 1
            }
            last = q
        }
        queues[q].records.append(r)
        count += 1
        pushes &+= 1
    }

    /// The queue whose head is due first, or -1.
    private func firstQueue() -> Int {
        var best = -1
        var bestExpires = Int64.max
        for i in queues.indices where queues[i].head < queues[i].records.count {
            let e = queues[i].records[queues[i].head].expires
            if e < bestExpires { best = i; bestExpires = e }
        }
        return best
    }

    var top: Record? {
        let q = firstQueue()
        return q < 0 ? nil : queues[q].records[queues[q].head]
    }

    mutating func pop() -> Record? {
        let q = firstQueue()
        if q < 0 { return nil }
        let r = queues[q].records[queues[q].head]
        queues[q].head += 1
        count -= 1
        if queues[q].head == queues[q].records.count {
            queues[q].records.removeAll(keepingCapacity: true)
            queues[q].head = 0
        } else if queues[q].head > 4096 && queues[q].head * 2 > queues[q].records.count {
            queues[q].records.removeFirst(queues[q].head)
            queues[q].head = 0
        }
        return r
    }

    /// Records read by `compact` so far: the work compaction did, which tests compare with the
    /// number of records pushed to pin compaction's cost as amortised O(1) per push.
    private(set) var compactionReads = 0
    /// Records pushed so far.
    private(set) var pushes = 0

    /// Keeps only the records `keep` accepts, in order: queue by queue in index order, each from
    /// its head (the order in which `pop` would surface records of equal expiry).
    mutating func compact(_ keep: (Record) -> Bool) {
        count = 0
        for i in queues.indices {
            compactionReads += queues[i].records.count - queues[i].head
            let kept = queues[i].records[queues[i].head...].filter(keep)
            queues[i].records = Array(kept)
            queues[i].head = 0
            count += kept.count
        }
    }
}
