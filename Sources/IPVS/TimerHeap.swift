/// Connection timers: a binary min-heap of (expiry, entry). Re-arming pushes a new record and
/// leaves the old one to be skipped when it surfaces (it no longer matches the entry's
/// `expires`), so no per-packet search or removal is needed.
struct TimerHeap: Sendable {
    struct Record: Sendable {
        var expires: Int64
        var entry: Int32
    }

    private(set) var items: [Record] = []

    var isEmpty: Bool { items.isEmpty }
    var top: Record? { items.first }
    var count: Int { items.count }

    mutating func reserve(_ n: Int) { items.reserveCapacity(n) }

    mutating func push(_ r: Record) {
        items.append(r)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) >> 1
            if items[parent].expires <= r.expires { break }
            items[i] = items[parent]
            i = parent
        }
        items[i] = r
    }

    mutating func pop() -> Record? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        var i = 0
        let n = items.count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            let r = l + 1
            let c = r < n && items[r].expires < items[l].expires ? r : l
            if items[c].expires >= last.expires { break }
            items[i] = items[c]
            i = c
        }
        items[i] = last
        return first
    }

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    /// Replaces the contents with `records` and restores the heap order bottom-up (O(n)).
    mutating func rebuild(_ records: [Record]) {
        items = records
        var i = items.count / 2 - 1
        while i >= 0 {
            var j = i
            let r = items[j]
            while true {
                let l = 2 * j + 1
                if l >= items.count { break }
                let rr = l + 1
                let c = rr < items.count && items[rr].expires < items[l].expires ? rr : l
                if items[c].expires >= r.expires { break }
                items[j] = items[c]
                j = c
            }
            items[j] = r
            i -= 1
        }
    }
}
