import Wire

/// An nftables address family (`nft list ruleset` prints it after `table`).
public enum NFTFamily: String, Hashable, Sendable, CaseIterable {
    case ip, ip6, inet, arp, bridge, netdev
}

/// A netfilter hook as nft names it.
public enum NFTHook: String, Hashable, Sendable, CaseIterable {
    case ingress, prerouting, input, forward, output, postrouting, egress
}

/// A base chain's type: `filter`, `nat` (consulted only for a connection's first packet) or
/// `route` (output: a changed mark or address reroutes).
public enum NFTChainType: String, Hashable, Sendable { case filter, nat, route }

/// Where a base chain sits: its type, hook and numeric priority (named priorities resolved:
/// `dstnat - 10` is -110), and its policy (accept unless `policy drop`).
public struct NFTBaseChain: Hashable, Sendable {
    public var type: NFTChainType
    public var hook: NFTHook
    public var priority: Int
    public var policyDrop: Bool
    public var device: String?
}

/// A verdict, as a rule's last statement or a verdict map's value. Chains are indices into
/// `NFTRuleset.chains` once linked.
public enum NFTVerdict: Hashable, Sendable {
    case accept, drop, `continue`, `return`
    case jump(Int32), goto(Int32)
}

/// One field of a key: what the packet supplies, and how many bits it takes in a key.
public enum NFTField: Hashable, Sendable {
    case ipSaddr, ipDaddr, ip6Saddr, ip6Daddr, ipProtocol, l4proto, thSport, thDport, mark, iifname, oifname, nfproto
    /// `numgen random mod N [offset O]` (a key of integer type).
    case numgen(mod: UInt32, offset: UInt32)

    public var bits: Int {
        switch self {
        case .ipSaddr, .ipDaddr, .mark, .numgen, .nfproto: 32
        case .ip6Saddr, .ip6Daddr, .iifname, .oifname: 128
        case .ipProtocol, .l4proto: 8
        case .thSport, .thDport: 16
        }
    }

    /// The datatype nft prints for the field in a set's `type`.
    var typeName: NFTDataType {
        switch self {
        case .ipSaddr, .ipDaddr: .ipv4Addr
        case .ip6Saddr, .ip6Daddr: .ipv6Addr
        case .ipProtocol, .l4proto: .inetProto
        case .thSport, .thDport: .inetService
        case .mark: .mark
        case .iifname, .oifname: .ifname
        case .numgen, .nfproto: .integer
        }
    }
}

/// A set or map key's datatype (`type ipv4_addr . inet_proto . inet_service`).
public enum NFTDataType: String, Hashable, Sendable {
    case ipv4Addr = "ipv4_addr", ipv6Addr = "ipv6_addr", inetProto = "inet_proto", inetService = "inet_service"
    case mark, ifname, integer, verdict, nfproto = "nf_proto"

    public var bits: Int {
        switch self {
        case .ipv4Addr, .mark, .integer, .nfproto: 32
        case .ipv6Addr, .ifname: 128
        case .inetProto: 8
        case .inetService: 16
        case .verdict: 0
        }
    }
}

/// A fixed-width key of up to 256 bits: a concatenation's fields packed one after another
/// (the way nft lays out `ip daddr . meta l4proto . th dport` in registers). Hashable without
/// allocation: the per-packet lookup key.
public struct NFTKey: Hashable, Sendable, Comparable {
    public var high: UInt128
    public var low: UInt128

    public init(high: UInt128 = 0, low: UInt128 = 0) { self.high = high; self.low = low }

    /// Shifts `bits` in from the right.
    @inline(__always)
    public mutating func append(_ value: UInt128, bits: Int) {
        if bits >= 128 {
            high = low
            low = value
        } else {
            high = (high << UInt128(bits)) | (low >> UInt128(128 - bits))
            low = (low << UInt128(bits)) | (value & ((1 << UInt128(bits)) - 1))
        }
    }

    public static func < (a: Self, b: Self) -> Bool { a.high != b.high ? a.high < b.high : a.low < b.low }
}

/// What a map element maps to: a verdict (verdict maps) or data (`ipv4_addr . inet_service`
/// for `dnat ... map`), kept as its fields.
public enum NFTMapValue: Hashable, Sendable {
    case verdict(NFTVerdict)
    case data([UInt128])
}

/// One element of a set or map, as written: each key field a closed range (an exact value,
/// a prefix or `a-b`), its timeout/expiry and comment, and the mapped value.
public struct NFTElement: Hashable, Sendable {
    public var low: [UInt128]
    public var high: [UInt128]
    public var value: NFTMapValue?
    public var comment: String?
    /// Seconds; nil: the set's timeout (or none).
    public var timeout: UInt64?
    public var expires: UInt64?

    public var isExact: Bool { low == high }
}

/// A named set or map, or an anonymous one written in a rule (`{ 10.0.0.0/8 }`, `vmap { 0 :
/// goto … }`). Lookups go through `index` (exact keys: a flat hash, `NFTKeyIndex`) or `intervals` (one interval
/// field: sorted, binary search); only a concatenation with ranges is scanned (noted).
public struct NFTSet: Sendable {
    public var name: String
    public var table: Int
    public var keyTypes: [NFTDataType]
    /// nil: a set; `.verdict` or data types for a map.
    public var valueTypes: [NFTDataType]?
    public var isMap: Bool { valueTypes != nil }
    public var flags: Set<String> = []
    public var timeout: UInt64?
    public var comment: String?
    public var elements: [NFTElement] = []
    public var anonymous = false
    /// Where the set was declared (file line), for messages.
    public var line: Int
    // Built by `prepare()`:
    var index = NFTKeyIndex()
    var intervalLows: [UInt128] = []
    var intervalHighs: [UInt128] = []
    var intervalElements: [Int32] = []
    var scanned: [Int32] = []
    /// `isDynamic`, read per packet: a flag test instead of hashing the flags' strings.
    var dynamicPrepared = false

    public var isInterval: Bool { flags.contains("interval") }
    public var isDynamic: Bool { flags.contains("dynamic") || flags.contains("timeout") }

    init(name: String, table: Int, keyTypes: [NFTDataType], valueTypes: [NFTDataType]?, line: Int) {
        self.name = name
        self.table = table
        self.keyTypes = keyTypes
        self.valueTypes = valueTypes
        self.line = line
    }

    /// Packs an element's exact key.
    func key(of values: [UInt128]) -> NFTKey {
        var k = NFTKey()
        for (v, t) in zip(values, keyTypes) { k.append(v, bits: t.bits) }
        return k
    }

    /// Builds the lookup structures: a hash of exact keys; for one-field sets, sorted disjoint
    /// intervals; elements with ranges in a concatenation go to `scanned`.
    mutating func prepare() {
        dynamicPrepared = isDynamic
        index = NFTKeyIndex(capacity: elements.count { $0.isExact })
        intervalLows = []; intervalHighs = []; intervalElements = []; scanned = []
        var ranges: [(UInt128, UInt128, Int32)] = []
        for (i, e) in elements.enumerated() {
            if e.isExact {
                index.insertIfAbsent(key(of: e.low), Int32(i), value: e.value?.packedVerdict ?? 0)
            } else if keyTypes.count == 1 {
                ranges.append((e.low[0], e.high[0], Int32(i)))
            } else {
                scanned.append(Int32(i))
            }
        }
        ranges.sort { $0.0 < $1.0 }
        // Disjoint intervals, so one binary search decides: overlapping ranges (a hand-written
        // `{ 10.0.0.0/8, 10.1.0.0/16 }`; nft merges them) are merged, the first element kept.
        for r in ranges {
            if let last = intervalHighs.last, r.0 <= last {
                if r.1 > last { intervalHighs[intervalHighs.count - 1] = r.1 }
                continue
            }
            intervalLows.append(r.0); intervalHighs.append(r.1); intervalElements.append(r.2)
        }
    }

    /// The element matching a one-field value, or a packed key: hash first, then intervals.
    @inline(__always)
    func lookup(_ key: NFTKey, fields: UnsafeBufferPointer<UInt128>) -> Int32? {
        withUnsafePointer(to: self) { Self.lookup($0, key, fields: fields) }
    }

    /// `lookup` on a set read where it lies: the per-packet path, which must not copy the
    /// set (each copy retains and releases every one of its arrays).
    static func lookup(_ set: UnsafePointer<NFTSet>, _ key: NFTKey, fields: UnsafeBufferPointer<UInt128>) -> Int32? {
        if let i = set.pointee.index[key] { return i }
        return set.pointee.lookupBeyondIndex(fields)
    }

    /// `lookup`, with the element's verdict packed (`NFTVerdict.packed`; 0: the element maps to
    /// no verdict): from the index's slot for an exact key, so a verdict map's hit reads no
    /// element.
    @inline(__always)
    static func lookupVerdict(_ set: UnsafePointer<NFTSet>, _ key: NFTKey, fields: UnsafeBufferPointer<UInt128>) -> (element: Int32, verdict: UInt64)? {
        if let hit = set.pointee.index.entry(key) { return (hit.element, hit.value) }
        guard let e = set.pointee.lookupBeyondIndex(fields) else { return nil }
        return (e, set.pointee.elements[Int(e)].value?.packedVerdict ?? 0)
    }

    /// The intervals, then the scanned elements: what the hash of exact keys did not find.
    private func lookupBeyondIndex(_ fields: UnsafeBufferPointer<UInt128>) -> Int32? {
        if !intervalLows.isEmpty, fields.count == 1 {
            let v = fields[0]
            var lo = 0, hi = intervalLows.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if intervalLows[mid] <= v { lo = mid + 1 } else { hi = mid }
            }
            // The last interval starting at or below v is the only one that can hold it.
            if lo > 0, intervalHighs[lo - 1] >= v { return intervalElements[lo - 1] }
        }
        for i in scanned {
            let e = elements[Int(i)]
            var all = true
            for f in 0..<min(fields.count, e.low.count) where fields[f] < e.low[f] || fields[f] > e.high[f] { all = false; break }
            if all { return i }
        }
        return nil
    }
}

/// A comparison operator of a relational expression.
public enum NFTCompare: Hashable, Sendable { case eq, ne, lt, gt, le, ge }

/// `mark set mark or 0x4000` and friends: the new mark from the old.
public enum NFTMarkSet: Hashable, Sendable {
    case value(UInt32), or(UInt32), and(UInt32), xor(UInt32)
}

/// A NAT statement's target.
public enum NFTNATTarget: Hashable, Sendable {
    /// `dnat to ADDR[:PORT]` (`dnat ip to`, `dnat ip6 to`).
    case address(IPAddress?, port: UInt16?)
    /// `dnat to KEY map @m` / `map { … }`: address (and port) from a data map.
    case map(fields: [NFTField], set: Int32)
}

/// One expression or statement of a rule, in evaluation order. Values are pre-packed: no
/// strings or allocation when a packet is evaluated.
public enum NFTExpr: Hashable, Sendable {
    /// `FIELD [op] VALUE` (a prefix or range is a [low, high] pair; `mask` for `&`).
    case compare(NFTField, NFTCompare, low: UInt128, high: UInt128, mask: UInt128)
    /// `FIELD [. FIELD]* [!=] @set` or an anonymous set.
    case lookup([NFTField], set: Int32, negate: Bool)
    /// `ct state new,established` (bits), optionally negated.
    case ctState(UInt32, negate: Bool)
    /// `ct status dnat` (bits).
    case ctStatus(UInt32, negate: Bool)
    /// `fib saddr|daddr type local` (negated: `!= local`).
    case fibLocal(daddr: Bool, negate: Bool)
    /// `KEY vmap @m` or `vmap { … }`: a verdict from a map; no element, no verdict.
    case vmap([NFTField], set: Int32)
    case markSet(NFTMarkSet)
    case nat(dnat: Bool, NFTNATTarget)
    case masquerade(fullyRandom: Bool)
    case reject
    case update(set: Int32, fields: [NFTField], timeout: UInt64?)
    case counter
    case verdict(NFTVerdict)
    /// Lenient mode: a construct kdp does not model; the rule never matches.
    case unsupported
}

/// A rule: its expressions, its handle (as `nft -a` prints it; 0 when the text has none),
/// comment, and where it came from.
public struct NFTRule: Hashable, Sendable {
    public var exprs: [NFTExpr]
    public var handle: Int
    public var comment: String?
    /// The rule as written (without comment and handle), for traces.
    public var text: String
    public var line: Int
    /// Lenient mode made the rule never match; this says what it did not understand.
    public var unsupported: String?
}

public struct NFTChain: Sendable {
    public var name: String
    public var table: Int
    public var base: NFTBaseChain?
    public var rules: [NFTRule] = []
    public var handle: Int?
    public var comment: String?
}

public struct NFTTable: Sendable {
    public var family: NFTFamily
    public var name: String
    public var handle: Int?
    public var comment: String?
}

/// A parsed nft ruleset: tables, chains, sets and maps (anonymous ones too) in flat arrays,
/// chain and set references linked to indices.
public struct NFTRuleset: Sendable {
    public var tables: [NFTTable] = []
    public var chains: [NFTChain] = []
    public var sets: [NFTSet] = []
    /// What lenient parsing made never-matching, each naming file:line:column and the construct.
    public var notes: [String] = []

    public init() {}

    public func table(_ family: NFTFamily, _ name: String) -> Int? {
        tables.firstIndex { $0.family == family && $0.name == name }
    }

    public func chain(_ table: Int, _ name: String) -> Int? {
        chains.firstIndex { $0.table == table && $0.name == name }
    }

    public func set(_ table: Int, _ name: String) -> Int? {
        sets.firstIndex { $0.table == table && !$0.anonymous && $0.name == name }
    }

    /// The named set or map with this name in the first table that has one (tests, lookups by name).
    public func set(named name: String) -> NFTSet? { sets.first { !$0.anonymous && $0.name == name } }

    /// Base chains registered at `hook` for packets of `family` (ip, ip6 and inet tables), in
    /// the kernel's order: by priority, then by registration (table order).
    public func baseChains(at hook: NFTHook, family: IPFamily) -> [Int32] {
        var out: [(Int, Int32)] = []
        for (i, c) in chains.enumerated() {
            guard let b = c.base, b.hook == hook else { continue }
            let f = tables[c.table].family
            guard f == .inet || (f == .ip && family == .ipv4) || (f == .ip6 && family == .ipv6) else { continue }
            out.append((b.priority, Int32(i)))
        }
        // Stable: equal priorities keep table order (the kernel's registration order).
        return out.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element.1)
    }
}
