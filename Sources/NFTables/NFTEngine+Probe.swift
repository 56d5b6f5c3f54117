import Wire

extension NFTEngine {
    /// The set or map named `name` (the first table's that has one), by number.
    public func set(named name: String) -> Int32? {
        ruleset.sets.firstIndex { $0.name == name && !$0.anonymous }.map { Int32($0) }
    }

    /// One lookup of `packet`'s `fields` in set `set`, exactly as a rule's `… @set` or
    /// `… vmap @map` makes it per packet (the key built from the packet's fields, then the set's
    /// hash, intervals or scan); the element's number, or nil. No numgen: what `kdp bench`'s
    /// `lookup.nftables.map` holds against a bare hash probe. O(1) expected for exact keys.
    public func element(in set: Int32, fields: [NFTField], packet: NFTPacket) -> Int32? {
        var chooser = NFTChooser(choices: [])
        var numgen: UInt32 = 0
        switch fields.withUnsafeBufferPointer({ lookup($0, set, packet, state: NFTDynamicState(), chooser: &chooser, numgen: &numgen) }) {
        case .element(let e, _): return e
        case .added: return -1
        case .absent, .unreadable: return nil
        }
    }
}
