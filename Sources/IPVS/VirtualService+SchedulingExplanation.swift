import Wire

/// Why a scheduler picks the server it picks, told from the service's state *before* the
/// pick, for traces (the issue: "the trace shows the scheduler's choice and why"). Nothing here
/// chooses: `IPVSTable.input` does, and the trace prints this beside its answer. Off the hot
/// path: strings are built freely.
extension VirtualService {
    /// The state the scheduler consults for `input`, in the kernel's terms.
    public func explainScheduling(_ input: ScheduleInput, hash: HashVariant) -> String {
        let list = order.map { servers[Int($0)] }
        if list.isEmpty { return "\(scheduler.rawValue): the service has no destinations" }
        switch scheduler {
        case .rr:
            let cursor = sched.rrCursor < 0 ? "the list head" : servers[Int(order[Int(sched.rrCursor)])].endpoint
            return "rr: the cursor is at \(cursor); the next usable server in list order (\(names(list))) is taken"
        case .wrr:
            return "wrr: current weight cw=\(sched.wrrCw) (max \(sched.wrrMw), gcd \(sched.wrrDi)); the next server after "
                + (sched.wrrCl < 0 ? "the list head" : servers[Int(order[Int(sched.wrrCl)])].endpoint)
                + " with weight ≥ cw is taken (weights: \(list.map { "\($0.endpoint)=\($0.weight)" }.joined(separator: ", ")))"
        case .lc:
            return "lc: overhead = activeconns×256 + inactconns: "
                + list.map { "\($0.endpoint)=\($0.weight == 0 ? "weight 0, skipped" : String($0.connOverhead))" }.joined(separator: ", ")
                + "; the first smallest in list order wins"
        case .wlc, .sed:
            let cost = scheduler == .wlc ? "overhead (activeconns×256 + inactconns)" : "activeconns+1"
            return "\(scheduler.rawValue): least \(cost) / weight: "
                + list.map { "\($0.endpoint)=\(scheduler == .wlc ? $0.connOverhead : $0.activeConns + 1)/\($0.weight)" }.joined(separator: ", ")
                + "; ties go to the first in list order"
        case .nq:
            return "nq: a server with no active connections wins outright, else least (activeconns+1)/weight: "
                + list.map { "\($0.endpoint) active=\($0.activeConns) weight=\($0.weight)" }.joined(separator: ", ")
        case .sh:
            let port: UInt16 = config.flags.contains(.sched2) ? input.sourcePort : 0
            let bucket = Self.shHashKey(fold: input.sourceFold, port: port, offset: 0, hash: hash)
            return "sh: hash of the source address\(port != 0 ? " and port \(port)" : "") → bucket \(bucket) of 256 → "
                + bucketOwner(sched.table[bucket]) + fallbackNote(sched.table[bucket])
        case .dh:
            let bucket = Self.dhHashKey(fold: input.destinationFold, hash: hash)
            return "dh: hash of the destination address → bucket \(bucket) of 256 → \(bucketOwner(sched.table[bucket]))"
        case .mh:
            let port: UInt16 = config.flags.contains(.sched2) ? input.sourcePort : 0
            let m = UInt32(HashTableSize.mh)
            let slot = Int(Self.mhHashKey(fold: input.sourceFold, port: port, offset: 0, key: MaglevKeys.hash1) % m)
            return "mh: hash of the source address\(port != 0 ? " and port \(port)" : "") → Maglev slot \(slot) of \(m) → "
                + bucketOwner(sched.table[slot]) + fallbackNote(sched.table[slot])
        }
    }

    private func names(_ list: [RealServer]) -> String { list.map(\.endpoint).joined(separator: ", ") }

    private func bucketOwner(_ slot: Int32) -> String { slot < 0 ? "empty" : servers[Int(slot)].endpoint }

    /// sh and mh probe further buckets only with the fallback flag, and only when the owner is
    /// unusable (weight 0 or overloaded).
    private func fallbackNote(_ slot: Int32) -> String {
        guard slot >= 0, !servers[Int(slot)].usable else { return "" }
        return config.flags.contains(.sched1) ? " (unusable; fallback probes the next buckets)" : " (unusable, no fallback flag: no server)"
    }
}

extension IPVSTable {
    /// ip_vs_conn_out_get: the live connection a real server's packet belongs to, found by
    /// (protocol, real server address and port, client address and port). Traces hold a handful
    /// of connections, so a scan stands in for the kernel's second hash.
    ///
    /// - Complexity: O(*n*) in the table's connection entries. Not for the batch path.
    public func replyConnection(protocol proto: IPProtocol, server: IPAddress, serverPort: UInt16,
                                client: IPAddress, clientPort: UInt16) -> Int32? {
        let clientBits = client.bits
        for (i, e) in entries.enumerated() where e.live && !e.isTemplate && e.key.protocol == proto.rawValue
            && e.key.clientAddress == clientBits && e.key.clientPort == clientPort && e.destinationPort == serverPort
            && e.destinationAddress == server && e.key.ipFamily == client.family {
            return Int32(i)
        }
        return nil
    }
}
