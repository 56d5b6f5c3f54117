import Wire

/// What a replay found, as `kdp replay` reports it. The JSON keys are stable (README, "JSON
/// that scripts rely on"); shard summaries add up with `merging(_:)`.
public struct ReplaySummary: Sendable, Equatable, Codable {
    /// Packet counts: `verdicts` counts packets, as `packets` does.
    public struct Totals: Sendable, Equatable, Codable {
        public var packets = 0
        public var flows = 0
        public var injected = 0
        public var checked = 0
        public var undecodable = 0
        /// Records that are not IP (ARP, LLDP...): neither injected nor checked.
        public var notIP = 0
        /// Packets seen twice by a `-i any` capture (a bridge port and the bridge), replayed once.
        public var duplicates = 0
        /// Packets whose TCP/UDP checksum did not verify (replayed all the same: on the capturing
        /// host this is usually checksum offload).
        public var badTransportChecksums = 0
        public var verdicts: [String: Int] = Dictionary(uniqueKeysWithValues: Self.verdictNames.map { ($0, 0) })
        public var mismatches = 0

        public static let verdictNames = ["delivered", "dropped", "rejected", "no-route", "left-cluster"]

        enum CodingKeys: String, CodingKey {
            case packets, flows, injected, checked, undecodable, verdicts, mismatches
            case notIP = "not_ip", duplicates, badTransportChecksums = "bad_transport_checksums"
        }

        public init() {}
    }

    /// Flows to one Service port, by the endpoint they reached.
    public struct ServiceFlows: Sendable, Equatable, Codable {
        /// `NS/NAME`.
        public var service: String
        public var port: UInt16
        public var proto: String
        public var flows: Int
        /// `ip:port` of each endpoint, with the flows it received.
        public var endpoints: [String: Int]
    }

    /// Flows that ended the same way for the same reason.
    public struct DropReason: Sendable, Equatable, Codable {
        public var verdict: String
        public var why: String
        public var count: Int
        /// The first such flow, as `proto src:port -> dst:port`.
        public var example: String
        /// The first such flow's capture packet number.
        public var examplePacket: Int

        enum CodingKeys: String, CodingKey { case verdict, why, count, example, examplePacket = "example_packet" }
    }

    /// Flows by the translations on their path.
    public struct Translations: Sendable, Equatable, Codable {
        public var dnat = 0
        public var masquerade = 0
        public var snat = 0
    }

    public struct NodeState: Sendable, Equatable, Codable {
        public var name: String
        public var conntrackEntries: Int
        /// New connections refused because the table held nf_conntrack_max entries.
        public var conntrackTableFull: Int
        /// Unassured entries evicted to make room (early_drop).
        public var conntrackEarlyDrops: Int

        enum CodingKeys: String, CodingKey {
            case name, conntrackEntries = "conntrack_entries", conntrackTableFull = "conntrack_table_full"
            case conntrackEarlyDrops = "conntrack_early_drops"
        }
    }

    /// A captured packet that is not what the model expects there.
    public struct Mismatch: Sendable, Equatable, Codable {
        public enum Kind: String, Sendable, Codable {
            /// A reply the capture shows differs from the one kdp delivers.
            case replyDiffers = "reply-differs"
            /// A reply-direction packet to a tracked client from another source than its flow's
            /// (the classic missing un-DNAT).
            case unexpectedSource = "unexpected-source"
            /// A reply to a request that kdp did not deliver.
            case replyToUndelivered = "reply-to-undelivered"
            /// An ICMP error for a flow kdp delivered.
            case unexpectedError = "unexpected-icmp-error"
            /// A packet a node sent (`-i any`, outgoing) that kdp's paths do not send there.
            case egressDiffers = "egress-differs"
        }

        public var packet: Int
        public var timestamp: Double
        public var kind: Kind
        public var captured: String
        public var expected: String?
        public var why: String
    }

    public var summary = Totals()
    public var services: [ServiceFlows] = []
    public var drops: [DropReason] = []
    public var nat = Translations()
    public var nodes: [NodeState] = []
    /// The first mismatches (at most `mismatchExamplesLimit`); `summary.mismatches` counts all.
    public var mismatches: [Mismatch] = []
    /// What kdp assumed that the capture does not say.
    public var notes: [String] = []
    /// The first records that were not replayed, with why (at most `mismatchExamplesLimit`).
    public var undecodable: [Skipped] = []

    public struct Skipped: Sendable, Equatable, Codable {
        public var packet: Int
        public var reason: String
    }

    public static let mismatchExamplesLimit = 100

    public init() {}

    /// Two shards' summaries as one run's: counts add, per-node state is taken from the shard
    /// that holds the node (each node's state lives in one shard), examples keep the earliest.
    public func merging(_ other: ReplaySummary) -> ReplaySummary {
        var m = self
        m.summary.packets += other.summary.packets
        m.summary.flows += other.summary.flows
        m.summary.injected += other.summary.injected
        m.summary.checked += other.summary.checked
        m.summary.undecodable += other.summary.undecodable
        m.summary.notIP += other.summary.notIP
        m.summary.duplicates += other.summary.duplicates
        m.summary.badTransportChecksums += other.summary.badTransportChecksums
        m.summary.mismatches += other.summary.mismatches
        for (k, v) in other.summary.verdicts { m.summary.verdicts[k, default: 0] += v }
        for s in other.services {
            if let i = m.services.firstIndex(where: { $0.service == s.service && $0.port == s.port && $0.proto == s.proto }) {
                m.services[i].flows += s.flows
                for (e, n) in s.endpoints { m.services[i].endpoints[e, default: 0] += n }
            } else {
                m.services.append(s)
            }
        }
        for d in other.drops {
            if let i = m.drops.firstIndex(where: { $0.verdict == d.verdict && $0.why == d.why }) {
                m.drops[i].count += d.count
                if d.examplePacket < m.drops[i].examplePacket {
                    m.drops[i].example = d.example
                    m.drops[i].examplePacket = d.examplePacket
                }
            } else {
                m.drops.append(d)
            }
        }
        m.nat.dnat += other.nat.dnat
        m.nat.masquerade += other.nat.masquerade
        m.nat.snat += other.nat.snat
        for n in other.nodes {
            if let i = m.nodes.firstIndex(where: { $0.name == n.name }) {
                m.nodes[i].conntrackEntries += n.conntrackEntries
                m.nodes[i].conntrackTableFull += n.conntrackTableFull
                m.nodes[i].conntrackEarlyDrops += n.conntrackEarlyDrops
            } else {
                m.nodes.append(n)
            }
        }
        m.mismatches = Array((m.mismatches + other.mismatches).sorted { $0.packet < $1.packet }.prefix(Self.mismatchExamplesLimit))
        for n in other.notes where !m.notes.contains(n) { m.notes.append(n) }
        m.undecodable = Array((m.undecodable + other.undecodable).sorted { $0.packet < $1.packet }.prefix(Self.mismatchExamplesLimit))
        m.normalize()
        return m
    }

    /// Orders every list the same way whatever order the packets came in: services by name
    /// and port, drops by count then reason, nodes by name.
    public mutating func normalize() {
        services.sort { ($0.service, $0.port, $0.proto) < ($1.service, $1.port, $1.proto) }
        drops.sort { $0.count != $1.count ? $0.count > $1.count : ($0.verdict, $0.why) < ($1.verdict, $1.why) }
        nodes.sort { $0.name < $1.name }
    }
}
