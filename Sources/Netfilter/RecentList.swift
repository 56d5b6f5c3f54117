import Wire

/// The `recent` module's lists (xt_recent.c): per name, per address, the times it was seen.
public struct RecentLists: Hashable, Sendable {
    /// The kernel keeps at most `ip_pkt_list_tot` (default 20) stamps per address.
    public static let stampsPerEntry = 20

    public var lists: [String: [IPAddress: [Double]]] = [:]

    public init() {}

    /// Records `address` in list `name` at time `now` (as `--set` does).
    public mutating func add(_ name: String, _ address: IPAddress, at now: Double) {
        Self.stamp(now, into: &lists[name, default: [:]][address, default: []])
    }

    /// One more sighting, keeping the newest `stampsPerEntry`.
    private static func stamp(_ now: Double, into stamps: inout [Double]) {
        stamps.append(now)
        if stamps.count > stampsPerEntry { stamps.removeFirst(stamps.count - stampsPerEntry) }
    }

    /// Evaluates one `-m recent` match (recent_mt): returns whether it matches and updates the
    /// list as the kernel does.
    mutating func evaluate(_ r: RecentMatch, packet: Packet, now: Double) -> Bool {
        var address = r.useDestination ? packet.destination : packet.source
        if let m = r.mask, m.family == address.family {
            address = IPAddress(family: address.family, bits: address.bits & m.bits)
        }
        // The list is updated where it lives: a copy taken out and written back shared its
        // storage, so the first write copied every address of the list, per packet.
        return Self.evaluate(r, address: address, now: now, list: &lists[r.name, default: [:]])
    }

    private static func evaluate(_ r: RecentMatch, address: IPAddress, now: Double, list: inout [IPAddress: [Double]]) -> Bool {
        var ret = r.negated
        guard var stamps = list[address] else {
            if r.command != .set { return ret }
            list[address] = [now]
            return !ret
        }
        switch r.command {
        case .set:
            ret = !ret
        case .remove:
            list[address] = nil
            return !ret
        case .rcheck, .update:
            let horizon = now - Double(r.seconds)
            var hits: UInt32 = 0
            for t in stamps {
                if r.seconds != 0 && t < horizon { continue }
                hits += 1
                if r.hitCount == 0 || hits >= r.hitCount { ret = !ret; break }
            }
            if r.reap {
                // recent_entry_reap: drop the least recently seen entry of the list when its
                // newest stamp is older than the window, unless it is the entry being updated.
                if let oldest = list.min(by: { ($0.value.last ?? 0) < ($1.value.last ?? 0) }),
                   !(oldest.key == address && r.command == .update),
                   (oldest.value.last ?? 0) < horizon {
                    list[oldest.key] = nil
                    if oldest.key == address {
                        return ret
                    }
                }
            }
        }
        if r.command == .set || (r.command == .update && ret) { stamp(now, into: &stamps) }
        list[address] = stamps.isEmpty ? nil : stamps
        return ret
    }
}
