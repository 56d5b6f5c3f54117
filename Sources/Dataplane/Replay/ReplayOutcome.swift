import Wire

/// What became of one captured packet.
public struct ReplayOutcome: Sendable {
    public enum Kind: String, Sendable, Codable {
        /// Started or continued a flow in its original direction: sent in at its place.
        case injected
        /// Travelled a tracked flow's reply direction: compared with what kdp delivers.
        case checked
    }

    public var number: Int
    public var timestampNanoseconds: Int64
    public var kind: Kind
    /// The packet's path through the cluster (for a checked packet: the far end's reply, walked
    /// back); nil when there was nothing to walk (a packet another shard replays, a reply kdp
    /// has no request for).
    public var path: DataplanePath? { detail?.path }
    /// The verdict of `path`, also for packets the flow cache answered (whose path is not
    /// repeated: nil).
    public var verdict: PathVerdict?
    public var mismatch: ReplaySummary.Mismatch? { detail?.mismatch }
    /// The path and mismatch, boxed: most packets have neither, and an outcome is copied a few
    /// times per packet, so it stays a few words long.
    private let detail: Detail?

    final class Detail: Sendable {
        let path: DataplanePath?
        let mismatch: ReplaySummary.Mismatch?
        init(path: DataplanePath?, mismatch: ReplaySummary.Mismatch?) {
            self.path = path
            self.mismatch = mismatch
        }
    }
    /// The flow as delivered, after NAT (nil when not delivered): what `-w` writes.
    public var delivered: FlowKey?
    /// Routers the packet crossed before delivery (each lowers the TTL by one).
    public var routedHops: Int

    /// A packet the flow cache answered: a verdict, no path and no mismatch. (No optional path
    /// or mismatch to pass and destroy: the flow cache makes one of these per packet.)
    public init(cached number: Int, timestampNanoseconds: Int64, kind: Kind, verdict: PathVerdict, delivered: FlowKey?, routedHops: Int) {
        self.number = number
        self.timestampNanoseconds = timestampNanoseconds
        self.kind = kind
        self.detail = nil
        self.verdict = verdict
        self.delivered = delivered
        self.routedHops = routedHops
    }

    public init(number: Int, timestampNanoseconds: Int64, kind: Kind, path: DataplanePath?, verdict: PathVerdict? = nil,
                mismatch: ReplaySummary.Mismatch?, delivered: FlowKey?, routedHops: Int) {
        self.number = number
        self.timestampNanoseconds = timestampNanoseconds
        self.kind = kind
        self.detail = path == nil && mismatch == nil ? nil : Detail(path: path, mismatch: mismatch)
        self.verdict = verdict ?? path?.verdict
        self.delivered = delivered
        self.routedHops = routedHops
    }
}
