import Wire

/// What the kernel knows about one connection (struct nf_conn): both tuples, NAT status bits,
/// whether a reply was seen, the connection mark, the protocol state (TCP's `tcp_conntracks`
/// state, see `TCPConntrackState`), IPS_ASSURED and when the entry expires.
public struct ConntrackEntry: Hashable, Sendable {
    public var original: ConntrackTuple
    public var reply: ConntrackTuple
    /// IPS_SRC_NAT: the source was translated (SNAT/MASQUERADE).
    public var sourceNAT = false
    /// IPS_DST_NAT: the destination was translated (DNAT/REDIRECT).
    public var destinationNAT = false
    /// Whether nat chains already ran for the SRC/DST manip (nf_nat_initialized).
    public var sourceNATDone = false
    public var destinationNATDone = false
    /// IPS_SEEN_REPLY: a packet went the reply direction (set after the protocol tracker ran,
    /// as nf_conntrack_in does).
    public var seenReply = false
    public var mark: UInt32 = 0
    /// ct->proto.tcp.state; `.none` for other protocols.
    public var tcpState = TCPConntrackState.none
    /// IPS_ASSURED: TCP reached ESTABLISHED after traffic both ways; UDP saw traffic after a
    /// reply more than 2 s after the first packet. early_drop never evicts an assured entry.
    public var assured = false
    /// When the entry times out, on the `Host.now` clock (seconds): ct->timeout, refreshed by
    /// every packet the protocol tracker accepts. Infinite for entries whose clock is unknown
    /// (parsed from `conntrack -L` without a time, or made by hand).
    public var expires = Double.infinity
    /// When the first packet was seen: UDP's stream_ts is this plus 2 s.
    public var created = 0.0
    /// TCP tracker memory (ct->proto.tcp): a FIN started the close in some direction
    /// (IP_CT_TCP_FLAG_CLOSE_INIT), the last accepted packet's kind and direction
    /// (last_index, last_dir), a simultaneous open (IP_CT_TCP_SIMULTANEOUS_OPEN) and an
    /// RFC 5961 challenge ACK expected after a SYN ignored in LAST_ACK (IP_CT_EXP_CHALLENGE_ACK).
    public var closeInitiated = false
    public var lastIndex = TCPPacketIndex.none
    public var lastWasReply = false
    public var simultaneousOpen = false
    public var challengeAckExpected = false

    public init(original: ConntrackTuple) {
        self.original = original
        self.reply = original.inverted
    }

    /// What the protocol trackers write (`tcpPacket`, `udpPacket`, `refresh`), with
    /// conntrack_in's SEEN_REPLY: all that a packet of a known connection changes, so all that
    /// undoing one takes. Small, so an undo copies a few words, not the entry.
    public struct TrackerState: Sendable {
        var seenReply: Bool
        var tcpState: TCPConntrackState
        var assured: Bool
        var expires: Double
        var closeInitiated: Bool
        var lastIndex: TCPPacketIndex
        var lastWasReply: Bool
        var simultaneousOpen: Bool
        var challengeAckExpected: Bool
    }

    var trackerState: TrackerState {
        get {
            TrackerState(seenReply: seenReply, tcpState: tcpState, assured: assured, expires: expires, closeInitiated: closeInitiated,
                         lastIndex: lastIndex, lastWasReply: lastWasReply, simultaneousOpen: simultaneousOpen,
                         challengeAckExpected: challengeAckExpected)
        }
        set {
            seenReply = newValue.seenReply
            tcpState = newValue.tcpState
            assured = newValue.assured
            expires = newValue.expires
            closeInitiated = newValue.closeInitiated
            lastIndex = newValue.lastIndex
            lastWasReply = newValue.lastWasReply
            simultaneousOpen = newValue.simultaneousOpen
            challengeAckExpected = newValue.challengeAckExpected
        }
    }

    public init(original: ConntrackTuple, reply: ConntrackTuple, seenReply: Bool = true) {
        self.original = original
        self.reply = reply
        self.seenReply = seenReply
        let seen = reply.inverted  // the original tuple as translated
        sourceNAT = seen.source != original.source || seen.sourcePort != original.sourcePort
        destinationNAT = seen.destination != original.destination || seen.destinationPort != original.destinationPort
        sourceNATDone = true
        destinationNATDone = true
    }

    /// Whether the entry is gone at `now` (nf_ct_is_expired: `ct->timeout - nfct_time_stamp <= 0`).
    @inlinable public func isExpired(at now: Double) -> Bool { expires <= now }
}

/// The conntrack table: confirmed connections, found by either direction's tuple, with the
/// kernel's limit (`nf_conntrack_max`), expiry and early drop.
///
/// Storage is a slot array with a free list, so an entry's index is stable for its life and a
/// removal costs O(1) (plus its two dictionary removals); lookups are one dictionary probe.
/// Expiry is found through a min-heap keyed on each entry's expiry time, with stale keys
/// skipped lazily, so `expire(now:)` costs O(*k* log *n*) for *k* expired entries; early drop
/// takes the oldest unassured entry from a FIFO, O(1) amortized. None of it allocates per
/// packet once the arrays have grown.
public struct ConntrackTable: Hashable, Sendable {
    private var slots: [ConntrackEntry] = []
    private var alive: [Bool] = []
    /// Bumped when a slot's entry is removed, so queued references to it go stale.
    private var generations: [UInt32] = []
    /// The expiry key of each slot's newest heap item (older items for the slot are stale).
    private var scheduled: [Double] = []
    private var free: [Int] = []
    private var index = ConntrackTupleIndex()
    private var heap: [HeapItem] = []
    private var unassured: [QueueItem] = []
    private var unassuredHead = 0

    /// nf_conntrack_max: at most this many entries. The kernel's default
    /// (nf_conntrack_init_start, 6.x) is nf_conntrack_htable_size × 1 with the size from
    /// memory: 262144 on a 64-bit machine with more than 4 GiB, 65536 above 1 GiB, else
    /// RAM/16384/8 but at least 1024. kube-proxy raises it to max(conntrack.maxPerCore 32768 ×
    /// cores, conntrack.min 131072) when it is lower.
    public var maxEntries = 262_144
    /// Entries in the table (expired ones count until a lookup or `expire(now:)` removes
    /// them, as until the kernel's gc worker reaps them).
    public private(set) var liveCount = 0
    /// Unassured entries evicted to make room for a new connection (early_drop, the
    /// `early_drop` counter of `conntrack -S`).
    public private(set) var earlyDrops = 0
    /// New connections dropped because the table was full and nothing could be evicted
    /// ("nf_conntrack: table full, dropping packet"; the `drop` counter of `conntrack -S`).
    public private(set) var tableFullDrops = 0

    private struct HeapItem: Hashable, Sendable {
        var key: Double
        var slot: Int32
        var generation: UInt32
    }

    private struct QueueItem: Hashable, Sendable {
        var slot: Int32
        var generation: UInt32
    }

    public init() {}

    public init(entries: [ConntrackEntry]) {
        for e in entries { insert(e) }
    }

    /// The live entries in slot order (a new array: for listings and tests, not per packet).
    public var entries: [ConntrackEntry] {
        var out: [ConntrackEntry] = []
        out.reserveCapacity(liveCount)
        for i in slots.indices where alive[i] { out.append(slots[i]) }
        return out
    }

    /// Which connection `slot` holds: the number changes whenever the slot's entry is removed,
    /// so a caller that kept a slot and its generation knows, in O(1) and without comparing
    /// tuples, whether the slot still holds the same connection.
    public func generation(ofSlot slot: Int) -> UInt32 { generations[slot] }

    /// The entry at a slot `lookup` or `insert` returned.
    public subscript(slot: Int) -> ConntrackEntry { slots[slot] }

    /// Whether `slot` holds a connection now, unexpired: O(1), without hashing a tuple (a
    /// caller that kept a slot checks that it still holds the same connection).
    public func isLive(slot: Int, now: Double) -> Bool {
        slot >= 0 && slot < slots.count && alive[slot] && !slots[slot].isExpired(at: now)
    }

    /// As `isLive(slot:now:)`, and the slot still holds the connection `tuple` belongs to
    /// (either direction). Reads the entry in place: O(1), no copy.
    public func isLive(slot: Int, now: Double, holding tuple: ConntrackTuple) -> Bool {
        isLive(slot: slot, now: now) && (slots[slot].original == tuple || slots[slot].reply == tuple)
    }

    /// The entry whose original or reply tuple is `tuple`, and whether it is the reply;
    /// expired entries included.
    public func lookup(_ tuple: ConntrackTuple) -> (index: Int, isReply: Bool)? {
        guard let i = index[tuple] else { return nil }
        return (i, slots[i].reply == tuple && slots[i].original != tuple)
    }

    /// As `lookup(_:)`, but an entry expired at `now` is absent (nf_ct_is_expired in
    /// ____nf_conntrack_find).
    public func lookup(_ tuple: ConntrackTuple, now: Double) -> (index: Int, isReply: Bool)? {
        guard let hit = lookup(tuple), !slots[hit.index].isExpired(at: now) else { return nil }
        return hit
    }

    /// __nf_conntrack_find_get: the entry for `tuple`; an expired one met on the way is
    /// removed (nf_ct_gc_expired) and the lookup misses.
    public mutating func find(_ tuple: ConntrackTuple, now: Double) -> (index: Int, isReply: Bool)? {
        guard let hit = lookup(tuple) else { return nil }
        if slots[hit.index].isExpired(at: now) {
            remove(at: hit.index)
            return nil
        }
        return hit
    }

    /// True when some connection already uses `tuple` in either direction
    /// (nf_conntrack_tuple_taken, which skips expired entries).
    public func isTaken(_ tuple: ConntrackTuple, now: Double = -.infinity) -> Bool {
        guard let i = index[tuple] else { return false }
        return !slots[i].isExpired(at: now)
    }

    /// Confirms a connection (__nf_conntrack_confirm): both tuples become findable. Returns
    /// its slot. Does not check `maxEntries` (see `makeRoom(now:)`).
    @discardableResult
    public mutating func insert(_ entry: ConntrackEntry) -> Int {
        let i: Int
        if let f = free.popLast() {
            i = f
            slots[i] = entry
            alive[i] = true
            scheduled[i] = entry.expires
        } else {
            i = slots.count
            slots.append(entry)
            alive.append(true)
            generations.append(0)
            scheduled.append(entry.expires)
        }
        index[entry.original] = i
        index[entry.reply] = i
        liveCount += 1
        if entry.expires.isFinite { push(HeapItem(key: entry.expires, slot: Int32(i), generation: generations[i])) }
        if !entry.assured {
            if unassured.count - unassuredHead > 4 * liveCount + 4096 { rebuildQueue() }
            unassured.append(QueueItem(slot: Int32(i), generation: generations[i]))
        }
        return i
    }

    /// Changes an entry in place (its tuples must stay the same).
    public mutating func update(_ i: Int, _ body: (inout ConntrackEntry) -> Void) {
        body(&slots[i])
        reschedule(i)
    }

    /// One more packet of a known connection, for a caller that reuses an earlier walk's
    /// result (replay's flow cache): the entry at `slot` moves on as conntrack_in would move it
    /// (TCP's state machine, UDP's and ICMP's timeouts, SEEN_REPLY), in place, provided the slot
    /// still holds the connection it held at `generation`, unexpired at `now`, and the packet changes nothing a
    /// walk reads: its TCP state, ASSURED, SEEN_REPLY and mark. The tracker's own bookkeeping
    /// (the last packet's kind and direction, the timeout) may change; it decides nothing on
    /// the path. Returns what the entry's tracker held before, for `restore` when another node
    /// refuses the packet; nil, with the entry as it was, when this one refuses (the packet then
    /// takes the full walk).
    ///
    /// - Complexity: O(1); in place, no copy of the entry.
    public mutating func advance(slot i: Int, generation: UInt32, isReply: Bool, proto: IPProtocol, tcpFlags: UInt8,
                                 now: Double) -> ConntrackEntry.TrackerState? {
        guard i >= 0, i < slots.count, alive[i], generations[i] == generation else { return nil }
        // One pointer to the entry: each `slots[i]` write checked the array's bounds and
        // uniqueness again, a dozen times per packet on replay's cached path.
        let saved: ConntrackEntry.TrackerState? = slots.withUnsafeMutableBufferPointer { b in
            let e = b.baseAddress! + i
            guard !e.pointee.isExpired(at: now) else { return nil }
            let saved = e.pointee.trackerState
            if proto == .tcp {
                guard saved.tcpState != .none, e.pointee.tcpPacket(flags: tcpFlags, reply: isReply, now: now) == .accepted else {
                    e.pointee.trackerState = saved
                    return nil
                }
            } else {
                e.pointee.refresh(now: now)
            }
            if isReply { e.pointee.seenReply = true }
            guard e.pointee.tcpState == saved.tcpState, e.pointee.assured == saved.assured, e.pointee.seenReply == saved.seenReply else {
                e.pointee.trackerState = saved
                return nil
            }
            return saved
        }
        if saved != nil { reschedule(i) }
        return saved
    }

    /// Puts back what `advance` changed at `slot`.
    public mutating func restore(slot i: Int, _ saved: ConntrackEntry.TrackerState) {
        slots[i].trackerState = saved
        reschedule(i)
    }

    /// Replaces the entry at slot `i` (same tuples), as `update`.
    public mutating func replace(_ i: Int, with entry: ConntrackEntry) {
        slots[i] = entry
        reschedule(i)
    }

    /// An entry whose expiry moved earlier than its heap key gets a new key (the old one goes
    /// stale); later expiries are found when the old key comes up.
    private mutating func reschedule(_ i: Int) {
        let e = slots[i].expires
        if e < scheduled[i] {
            scheduled[i] = e
            push(HeapItem(key: e, slot: Int32(i), generation: generations[i]))
        }
    }

    /// Removes the entry at slot `i` (nf_ct_delete); the slot is reused.
    public mutating func remove(at i: Int) {
        guard alive[i] else { return }
        let e = slots[i]
        if index[e.original] == i { index[e.original] = nil }
        if index[e.reply] == i { index[e.reply] = nil }
        alive[i] = false
        generations[i] &+= 1
        scheduled[i] = .infinity
        free.append(i)
        liveCount -= 1
    }

    /// Removes every entry expired at `now` (the gc worker's pass); returns how many.
    @discardableResult
    public mutating func expire(now: Double) -> Int {
        var removed = 0
        while let top = heap.first, top.key <= now {
            popHeap()
            let i = Int(top.slot)
            guard alive[i], generations[i] == top.generation, scheduled[i] == top.key else { continue }
            if slots[i].isExpired(at: now) {
                remove(at: i)
                removed += 1
            } else if slots[i].expires.isFinite {
                scheduled[i] = slots[i].expires
                push(HeapItem(key: slots[i].expires, slot: top.slot, generation: top.generation))
            } else {
                scheduled[i] = .infinity
            }
        }
        compactQueue()
        return removed
    }

    /// Room for one new connection (__nf_conntrack_alloc): below `maxEntries`, yes; else
    /// expired entries go first (the gc worker would have reaped them), then early_drop
    /// evicts one unassured entry. The kernel's early_drop scans NF_CT_EVICTION_RANGE (8) hash
    /// buckets from the new tuple's and drops the unassured entries there; kdp evicts the
    /// oldest unassured entry instead (no hash layout to follow), so it finds a victim
    /// whenever one exists where the kernel may miss it. False, counted in `tableFullDrops`,
    /// when every entry is assured: the packet is dropped.
    public mutating func makeRoom(now: Double) -> Bool {
        if liveCount < maxEntries { return true }
        expire(now: now)
        if liveCount < maxEntries { return true }
        while unassuredHead < unassured.count {
            let q = unassured[unassuredHead]
            unassuredHead += 1
            let i = Int(q.slot)
            guard alive[i], generations[i] == q.generation, !slots[i].assured else { continue }
            remove(at: i)
            earlyDrops += 1
            compactQueue()
            if liveCount < maxEntries { return true }
        }
        tableFullDrops += 1
        return false
    }

    private mutating func compactQueue() {
        if unassuredHead > 1024 && unassuredHead * 2 > unassured.count {
            unassured.removeFirst(unassuredHead)
            unassuredHead = 0
        }
    }

    /// Stale queue items (removed or since assured entries) are dropped when they outnumber
    /// the live entries, so the queue's memory follows the table, not the packets seen.
    private mutating func rebuildQueue() {
        var kept: [QueueItem] = []
        kept.reserveCapacity(liveCount)
        for q in unassured[unassuredHead...] {
            let i = Int(q.slot)
            if alive[i] && generations[i] == q.generation && !slots[i].assured { kept.append(q) }
        }
        unassured = kept
        unassuredHead = 0
    }

    /// The heap rebuilt from the live entries when stale keys (an expiry moved earlier, an
    /// entry removed before its key came up) outnumber them: memory follows the table.
    private mutating func rebuildHeap() {
        heap.removeAll(keepingCapacity: true)
        for i in slots.indices {
            scheduled[i] = .infinity
            guard alive[i], slots[i].expires.isFinite else { continue }
            scheduled[i] = slots[i].expires
            heap.append(HeapItem(key: slots[i].expires, slot: Int32(i), generation: generations[i]))
        }
        var k = heap.count / 2
        while k > 0 {
            k -= 1
            siftDown(k)
        }
    }

    private mutating func push(_ item: HeapItem) {
        if heap.count > 4 * liveCount + 4096 {
            rebuildHeap()
            let i = Int(item.slot)
            if scheduled[i] == item.key { return }  // the rebuild scheduled it already
        }
        heap.append(item)
        var c = heap.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            if heap[p].key <= heap[c].key { break }
            heap.swapAt(p, c)
            c = p
        }
    }

    private mutating func popHeap() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(0)
    }

    private mutating func siftDown(_ start: Int) {
        var p = start
        while true {
            let l = 2 * p + 1, r = l + 1
            var m = p
            if l < heap.count && heap[l].key < heap[m].key { m = l }
            if r < heap.count && heap[r].key < heap[m].key { m = r }
            if m == p { break }
            heap.swapAt(p, m)
            p = m
        }
    }

    /// Parses `conntrack -L` lines (`tcp 6 117 SYN_SENT src=.. dst=.. sport=.. dport=.. [UNREPLIED]
    /// src=.. dst=.. sport=.. dport=.. [ASSURED] ...`); lines it cannot read are skipped. The TCP
    /// state and [ASSURED] are kept; with `now`, the listed seconds left become `expires`.
    public static func parse(conntrackList text: String, now: Double? = nil) -> ConntrackTable {
        var table = ConntrackTable()
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard let protoName = words.first, let proto = try? IPProtocol(parsing: protoName) else { continue }
            var tuples: [ConntrackTuple] = []
            var cur: [String: String] = [:]
            var mark: UInt32 = 0
            var unreplied = false, assured = false
            var state = TCPConntrackState.none
            let seconds = words.count > 2 ? Double(words[2]) : nil
            func flush() {
                if let s = cur["src"], let d = cur["dst"], let sa = try? IPAddress(parsing: s), let da = try? IPAddress(parsing: d) {
                    if proto == .icmp || proto == .icmpv6 {
                        let type = UInt16(cur["type"] ?? "") ?? 0, code = UInt16(cur["code"] ?? "") ?? 0
                        tuples.append(ConntrackTuple(source: sa, sourcePort: UInt16(cur["id"] ?? "") ?? 0, destination: da,
                                                     destinationPort: type << 8 | code, proto: proto))
                    } else {
                        tuples.append(ConntrackTuple(source: sa, sourcePort: UInt16(cur["sport"] ?? "") ?? 0, destination: da,
                                                     destinationPort: UInt16(cur["dport"] ?? "") ?? 0, proto: proto))
                    }
                }
                cur = [:]
            }
            for w in words {
                if w == "[UNREPLIED]" { unreplied = true; continue }
                if w == "[ASSURED]" { assured = true; continue }
                if proto == .tcp, let st = TCPConntrackState(name: w) { state = st; continue }
                let kv = w.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                let k = String(kv[0]), v = String(kv[1])
                if k == "src" && cur["src"] != nil { flush() }
                if k == "mark" { mark = UInt32(v) ?? 0; continue }
                if ["src", "dst", "sport", "dport", "type", "code", "id"].contains(k) { cur[k] = v }
            }
            flush()
            guard tuples.count >= 2 else { continue }
            var e = ConntrackEntry(original: tuples[0], reply: tuples[1], seenReply: !unreplied)
            e.mark = mark
            e.tcpState = state
            e.assured = assured
            if let now, let seconds { e.expires = now + seconds }
            table.insert(e)
        }
        return table
    }
}
