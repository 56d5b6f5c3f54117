/// Which record (a chain, or an element of a set) has a name or key: open addressing over
/// 64-bit words, each the key's hash's high 32 bits and the record's number plus one (0:
/// empty), linear probing, load at most one half. The caller hashes the key's bytes once
/// (FNV-1a, `TextBuffer.hash`) and confirms a candidate itself (`find`'s `matches`), so a new
/// key (the usual case) costs one hash and, mostly, one probe. Replaces `Dictionary<String,
/// Int>` for chain names and `Dictionary<[String], Int>` for element keys, whose SipHash over
/// tens of thousands of long names was a fifth of a 10,000-Service compile.
struct NFTablesHashIndex: Sendable {
    private var words: [UInt64] = []
    /// Each record's full hash, by record number: growing re-places the words from them.
    private var hashes: [UInt64] = []

    /// The record whose key has `hash` and for which `matches` holds, if any.
    /// - Complexity: O(1) expected.
    func find(hash: UInt64, _ matches: (Int) -> Bool) -> Int? {
        guard !hashes.isEmpty else { return nil }
        let mask = words.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let w = words[i]
            if w == 0 { return nil }
            let record = Int(UInt32(truncatingIfNeeded: w)) - 1
            if w >> 32 == hash >> 32, matches(record) { return record }
            i = (i + 1) & mask
        }
    }

    /// Records the next record (numbered by insertion: 0, 1, 2…) under `hash`; the caller
    /// found no match first. Returns its number.
    @discardableResult
    mutating func insert(hash: UInt64) -> Int {
        let record = hashes.count
        hashes.append(hash)
        if hashes.count * 2 > words.count {
            words = [UInt64](repeating: 0, count: max(16, words.count * 2))
            for (r, h) in hashes.enumerated() { place(r, h) }
        } else {
            place(record, hash)
        }
        return record
    }

    private mutating func place(_ record: Int, _ hash: UInt64) {
        let mask = words.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while words[i] != 0 { i = (i + 1) & mask }
        words[i] = hash & 0xFFFF_FFFF_0000_0000 | UInt64(UInt32(record + 1))
    }
}
