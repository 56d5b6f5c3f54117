import Wire

/// One direction of a connection: addresses, ports, protocol (struct nf_conntrack_tuple).
public struct ConntrackTuple: Hashable, Sendable, CustomStringConvertible {
    public var source: IPAddress
    public var sourcePort: UInt16
    public var destination: IPAddress
    public var destinationPort: UInt16
    public var proto: IPProtocol

    public init(source: IPAddress, sourcePort: UInt16, destination: IPAddress, destinationPort: UInt16, proto: IPProtocol) {
        self.source = source
        self.sourcePort = sourcePort
        self.destination = destination
        self.destinationPort = destinationPort
        self.proto = proto
    }

    /// The tuple a reply carries (nf_ct_invert_tuple). ICMP keeps the id and maps the query
    /// type to its reply type (icmp_invert_tuple: echo 8 ↔ 0, timestamp 13 ↔ 14, info 15 ↔ 16,
    /// address mask 17 ↔ 18).
    public var inverted: ConntrackTuple {
        if proto == .icmp || proto == .icmpv6 {
            let type = UInt8(destinationPort >> 8), code = destinationPort & 0xFF
            // icmpv6_invert_tuple: echo 128 ↔ 129, node information 139 ↔ 140.
            let inverse: [UInt8: UInt8] = proto == .icmp ? [8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17]
                                                         : [128: 129, 129: 128, 139: 140, 140: 139]
            return ConntrackTuple(source: destination, sourcePort: sourcePort, destination: source,
                                  destinationPort: UInt16(inverse[type] ?? type) << 8 | code, proto: proto)
        }
        return ConntrackTuple(source: destination, sourcePort: destinationPort, destination: source,
                              destinationPort: sourcePort, proto: proto)
    }

    /// ICMP types that can start a connection (icmp_new: echo, timestamp, info, address mask).
    static let icmpQueryTypes: Set<UInt8> = [8, 13, 15, 17]
    /// ICMPv6 types that can start a connection (icmpv6_new: echo request, node information query).
    static let icmpv6QueryTypes: Set<UInt8> = [128, 139]

    /// As `conntrack -L` prints one direction: `src=.. dst=.. sport=.. dport=..`.
    public var description: String {
        "src=\(source) dst=\(destination)" + (proto.hasPorts ? " sport=\(sourcePort) dport=\(destinationPort)" : "")
    }
}

/// What the kernel knows about one connection (struct nf_conn): both tuples, NAT status bits,
/// whether a reply was seen, the connection mark.
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
    public var seenReply = false
    public var mark: UInt32 = 0

    public init(original: ConntrackTuple) {
        self.original = original
        self.reply = original.inverted
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
}

/// The conntrack table: confirmed connections, found by either direction's tuple.
public struct ConntrackTable: Hashable, Sendable {
    public private(set) var entries: [ConntrackEntry] = []
    private var index: [ConntrackTuple: Int] = [:]

    public init() {}

    public init(entries: [ConntrackEntry]) {
        for e in entries { insert(e) }
    }

    /// The entry whose original or reply tuple is `tuple`, and whether it is the reply.
    public func lookup(_ tuple: ConntrackTuple) -> (index: Int, isReply: Bool)? {
        guard let i = index[tuple] else { return nil }
        return (i, entries[i].reply == tuple && entries[i].original != tuple)
    }

    /// True when some connection already uses `tuple` in either direction
    /// (nf_conntrack_tuple_taken).
    public func isTaken(_ tuple: ConntrackTuple) -> Bool { index[tuple] != nil }

    /// Confirms a connection (__nf_conntrack_confirm): both tuples become findable.
    public mutating func insert(_ entry: ConntrackEntry) {
        entries.append(entry)
        index[entry.original] = entries.count - 1
        index[entry.reply] = entries.count - 1
    }

    public mutating func update(_ i: Int, _ body: (inout ConntrackEntry) -> Void) {
        body(&entries[i])
    }

    /// Parses `conntrack -L` lines (`tcp 6 117 SYN_SENT src=.. dst=.. sport=.. dport=.. [UNREPLIED]
    /// src=.. dst=.. sport=.. dport=.. ...`); lines it cannot read are skipped.
    public static func parse(conntrackList text: String) -> ConntrackTable {
        var table = ConntrackTable()
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard let protoName = words.first, let proto = try? IPProtocol(parsing: protoName) else { continue }
            var tuples: [ConntrackTuple] = []
            var cur: [String: String] = [:]
            var mark: UInt32 = 0
            var unreplied = false
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
            table.insert(e)
        }
        return table
    }
}
