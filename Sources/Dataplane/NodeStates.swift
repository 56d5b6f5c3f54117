import Netfilter
import Wire

/// Every node's state (`NodeHost`) as a walk carries it: a collection indexed like
/// `cluster.nodes`, stored in chunks of four that are copied on write one by one.
///
/// Why: a traced path forks at every random branch and each fork owns its copy of the nodes'
/// state (conntrack, `recent`, IPVS). With a plain array a fork's first write copied every
/// node, O(nodes) retains per fork, which dominated traces and `kdp verify` on large clusters.
/// Here a write copies the chunk array (n/4 references) and one chunk (four nodes); a walk
/// that owns its state (replay) writes in place, as before.
public struct NodeStates: RandomAccessCollection, Sendable {
    /// Up to four nodes in storage of its own: an access reaches a node through a plain
    /// pointer, so it neither retains the chunk nor checks an inner array's uniqueness (with an
    /// `[NodeHost]` inside, each write retained the chunk around the access, an atomic pair per
    /// conntrack update in replay).
    final class Chunk: @unchecked Sendable {
        // Only ever mutated through a uniquely referenced chunk (copy on write).
        let base: UnsafeMutablePointer<NodeHost>
        let count: Int

        init<C: Collection>(_ items: C) where C.Element == NodeHost {
            count = items.count
            base = .allocate(capacity: count)
            _ = UnsafeMutableBufferPointer(start: base, count: count).initialize(from: items)
        }

        /// A copy, for a write to a shared chunk.
        init(copying other: Chunk) {
            count = other.count
            base = .allocate(capacity: count)
            base.initialize(from: other.base, count: count)
        }

        deinit {
            base.deinitialize(count: count)
            base.deallocate()
        }
    }

    static let shift = 2
    static let mask = (1 << shift) - 1
    private var chunks: [Chunk]
    public let count: Int

    public init(_ nodes: [NodeHost]) {
        count = nodes.count
        chunks = stride(from: 0, to: nodes.count, by: 1 << Self.shift).map { start in
            Chunk(nodes[start..<Swift.min(start + (1 << Self.shift), nodes.count)])
        }
    }

    /// No nodes (a walk that has given its state back).
    public init() { self.init([]) }

    /// The route node `i` takes to `destination`, read where the host lives: through the
    /// subscript's coroutine the call copied the whole host (a retain and release per table).
    func route(node i: Int, to destination: IPAddress) -> RouteChoice? {
        guard case .v4(let a) = destination else { return chunks[i >> Self.shift].base[i & Self.mask].host.route(to: destination) }
        return chunks[i >> Self.shift].base[i & Self.mask].host.routeIndex.route(to: a)
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    /// - Complexity: O(1) to read; a write to a shared chunk copies it (four nodes) and, if
    ///   shared, the chunk array.
    public subscript(i: Int) -> NodeHost {
        // `_read`, not `get`: a read such as `nodes[i].host.conntrack.isLive(…)` borrows the
        // node in place instead of copying the whole `NodeHost` (replay's flow cache does
        // several per packet).
        _read { yield chunks[i >> Self.shift].base[i & Self.mask] }
        set {
            makeUnique(i)
            chunks[i >> Self.shift].base[i & Self.mask] = newValue
        }
        _modify {
            // The chunk is borrowed from the array in place, not returned (+1) from a helper:
            // replay's flow cache modifies a node's conntrack entry per packet.
            makeUnique(i)
            // Unretained: `chunks` holds the chunk for the whole access (`self` is inout), and
            // retaining it around the yield cost an atomic pair per access.
            unowned(unsafe) let chunk = chunks[i >> Self.shift]
            yield &chunk.base[i & Self.mask]
        }
    }

    /// Makes the chunk holding node `i` unshared.
    @inline(__always)
    private mutating func makeUnique(_ i: Int) {
        let k = i >> Self.shift
        if !isKnownUniquelyReferenced(&chunks[k]) { chunks[k] = Chunk(copying: chunks[k]) }
    }
}
