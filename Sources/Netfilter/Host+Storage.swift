extension Host {
    /// The host's fields, stored together behind `Host.storage`.
    struct Fields {
        var name: String
        var interfaces: [Interface]
        var routes: [Route]
        var routeIndex = RouteIndex()
        var addresses = AddressIndex([])
        var conntrack = ConntrackTable()
        var recent = RecentLists()
        var ipsets = IPSetStore()
        var nthCounters: [Int: UInt32] = [:]
        var now: Double = 1_000_000
        var forwarding = true
        var routeLocalnet = false
        var bridgeNFCallIPTables = true
        var ipvs: (any IPVSHook)?
        var nft: (any NFTChainsHook)?
        var hasIPVS = false
        var hasNFT = false

        init(name: String, interfaces: [Interface], routes: [Route]) {
            self.name = name
            self.interfaces = interfaces
            self.routes = routes
        }

        /// The address and route indexes, after the interfaces changed.
        mutating func reindex() {
            addresses = AddressIndex(interfaces)
            reindexRoutes()
        }

        /// The route index, after the routes changed.
        mutating func reindexRoutes() {
            routeIndex = RouteIndex(subnets: addresses.subnets, routes: routes)
        }
    }

    /// Where the fields that traces reach per packet sit in `Fields`, found once.
    struct Offsets {
        let conntrack, recent, ipsets, nthCounters, routeIndex, addresses: Int

        static let current = Offsets(
            conntrack: MemoryLayout<Fields>.offset(of: \.conntrack)!, recent: MemoryLayout<Fields>.offset(of: \.recent)!,
            ipsets: MemoryLayout<Fields>.offset(of: \.ipsets)!, nthCounters: MemoryLayout<Fields>.offset(of: \.nthCounters)!,
            routeIndex: MemoryLayout<Fields>.offset(of: \.routeIndex)!, addresses: MemoryLayout<Fields>.offset(of: \.addresses)!)
    }

    /// The box: fields behind a plain pointer, so that an access neither goes through a class
    /// property's exclusivity check nor retains the box (as `NodeStates.Chunk`), with a typed
    /// pointer to each field reached per packet: `Host`'s addressors hand these out, where a
    /// key path per access (`pointer(to:)`) retained and released the key path each time.
    final class Storage: @unchecked Sendable {
        // Only ever written through a uniquely referenced box (`Host.makeUnique`).
        let fields: UnsafeMutablePointer<Fields>
        let conntrack: UnsafeMutablePointer<ConntrackTable>
        let recent: UnsafeMutablePointer<RecentLists>
        let ipsets: UnsafeMutablePointer<IPSetStore>
        let nthCounters: UnsafeMutablePointer<[Int: UInt32]>
        let routeIndex: UnsafeMutablePointer<RouteIndex>
        let addresses: UnsafeMutablePointer<AddressIndex>

        init(_ value: Fields) {
            fields = .allocate(capacity: 1)
            fields.initialize(to: value)
            let raw = UnsafeMutableRawPointer(fields), o = Offsets.current
            conntrack = (raw + o.conntrack).assumingMemoryBound(to: ConntrackTable.self)
            recent = (raw + o.recent).assumingMemoryBound(to: RecentLists.self)
            ipsets = (raw + o.ipsets).assumingMemoryBound(to: IPSetStore.self)
            nthCounters = (raw + o.nthCounters).assumingMemoryBound(to: [Int: UInt32].self)
            routeIndex = (raw + o.routeIndex).assumingMemoryBound(to: RouteIndex.self)
            addresses = (raw + o.addresses).assumingMemoryBound(to: AddressIndex.self)
        }

        deinit {
            fields.deinitialize(count: 1)
            fields.deallocate()
        }
    }
}
