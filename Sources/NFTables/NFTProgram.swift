import Wire

/// A run of key fields in `NFTProgram.fields` (a lookup's `ip daddr . meta l4proto . th dport`):
/// pooled and shared, so an op holds two integers instead of an array of its own.
struct NFTFieldList: Hashable, Sendable {
    var start: Int32
    var count: Int32
}

/// A comparison whose constants do not fit an op's 32-bit slots (IPv6 addresses, interface
/// names), kept in `NFTProgram.wide`.
struct NFTWideCompare: Hashable, Sendable {
    var low: UInt128
    var high: UInt128
    var mask: UInt128
}

/// One instruction of an `NFTProgram`: a rule's expression (`NFTExpr`) with its arrays pooled
/// and its constants narrowed, so that no op holds a reference and each takes 24 bytes.
enum NFTOp: Sendable {
    /// A rule starts: its index in its chain (what steps name) and the op where the next rule
    /// (or the chain's end) starts.
    case rule(index: Int32, next: Int32)
    /// After a chain's last rule: return to the caller, or the base chain's policy.
    case chainEnd
    /// `FIELD op VALUE` for a field of at most 32 bits (`field` indexes `NFTProgram.fields`).
    case compare(field: Int32, NFTCompare, low: UInt32, high: UInt32, mask: UInt32)
    /// The same with 128-bit constants (`constant` indexes `NFTProgram.wide`).
    case compareWide(field: Int32, NFTCompare, constant: Int32)
    case lookup(NFTFieldList, set: Int32, negate: Bool)
    case ctState(UInt32, negate: Bool)
    case ctStatus(UInt32, negate: Bool)
    case fibLocal(daddr: Bool, negate: Bool)
    case vmap(NFTFieldList, set: Int32)
    /// `numgen random mod N [offset O] vmap { … }` on a static map: the `mod` ops that follow
    /// are its `branch`es, one per value, so a draw reads the op after it instead of the map.
    case numgenVmap(NFTFieldList, set: Int32, mod: UInt32, offset: UInt32)
    /// Value `v` of the `numgenVmap` before it: the element it selects (-1: none, the rule does
    /// not match), that element's verdict, how many values share its outcome, and the first op
    /// of the verdict's chain (-1: none), so the jump reads no `chainStart`.
    case branch(element: Int32, verdict: NFTVerdict, classSize: UInt32, target: Int32)
    case markSet(NFTMarkSet)
    /// `dnat|snat to ADDR:PORT`: `address` indexes `NFTProgram.addresses` (-1: none), `port`
    /// is the port or -1.
    case nat(dnat: Bool, address: Int32, port: Int32)
    /// The same to an IPv4 address, held in the op: kube-proxy's endpoint chains, one per
    /// endpoint, would otherwise each read the pool at a different place.
    case natIPv4(dnat: Bool, address: UInt32, port: Int32)
    case natMap(dnat: Bool, NFTFieldList, set: Int32)
    case masquerade(fullyRandom: Bool)
    case reject
    /// `update @set { KEY }`: `timeout` indexes `NFTProgram.timeouts` (-1: the set's).
    case update(NFTFieldList, set: Int32, timeout: Int32)
    case counter
    /// A rule's verdict, with the first op of a jump's or goto's chain (-1: none).
    case verdict(NFTVerdict, target: Int32)
    case unsupported
}

/// A ruleset's rules as one flat array of ops, as the kernel keeps a chain's rules in one blob.
/// Chains are laid out in the order a packet reaches them (depth first from the base chains,
/// a verdict map's targets in element order), so a Service's chain and its endpoints' chains are
/// neighbours: a new connection to one Service of 30,000 reads a few consecutive cache lines
/// instead of the separate rule and expression arrays of two or three chains. Built once per
/// engine, O(ops); read per packet without retaining anything.
struct NFTProgram: Sendable {
    var ops: [NFTOp] = []
    /// Each ruleset chain's first op (a `.rule` or its `.chainEnd`).
    var chainStart: [Int32] = []
    var fields: [NFTField] = []
    var wide: [NFTWideCompare] = []
    var addresses: [IPAddress] = []
    var timeouts: [UInt64] = []

    /// A numgen map with more values than this is looked up, not inlined.
    static let maxInlineBranches: UInt32 = 4096

    init() {}

    init(_ ruleset: NFTRuleset) {
        var pooled: [[NFTField]: NFTFieldList] = [:]
        chainStart = [Int32](repeating: -1, count: ruleset.chains.count)
        for c in Self.layout(ruleset) {
            chainStart[Int(c)] = Int32(ops.count)
            for (r, rule) in ruleset.chains[Int(c)].rules.enumerated() {
                let header = ops.count
                ops.append(.rule(index: Int32(r), next: 0))
                for e in rule.exprs { emit(e, ruleset, &pooled) }
                ops[header] = .rule(index: Int32(r), next: Int32(ops.count))
            }
            ops.append(.chainEnd)
        }
        // Jumps and gotos learn their chain's first op, now that every chain has one.
        for i in ops.indices {
            switch ops[i] {
            case .verdict(let v, _): ops[i] = .verdict(v, target: start(of: v))
            case .branch(let e, let v, let size, _): ops[i] = .branch(element: e, verdict: v, classSize: size, target: start(of: v))
            default: break
            }
        }
    }

    /// The first op of a jump's or goto's chain; -1 for another verdict.
    private func start(of v: NFTVerdict) -> Int32 {
        switch v {
        case .jump(let c), .goto(let c): chainStart[Int(c)]
        default: -1
        }
    }

    /// `f`'s place in `fields`, shared by every op with the same key.
    private mutating func pool(_ f: [NFTField], _ pooled: inout [[NFTField]: NFTFieldList]) -> NFTFieldList {
        if let l = pooled[f] { return l }
        let l = NFTFieldList(start: Int32(fields.count), count: Int32(f.count))
        fields += f
        pooled[f] = l
        return l
    }

    private mutating func emit(_ e: NFTExpr, _ ruleset: NFTRuleset, _ pooled: inout [[NFTField]: NFTFieldList]) {
        switch e {
        case .compare(let f, let op, let low, let high, let mask):
            let field = pool([f], &pooled).start
            if f.bits <= 32, low <= UInt128(UInt32.max), high <= UInt128(UInt32.max) {
                // The field's value fits 32 bits, so only the mask's low 32 bits can matter.
                ops.append(.compare(field: field, op, low: UInt32(low), high: UInt32(high), mask: UInt32(truncatingIfNeeded: mask)))
            } else {
                ops.append(.compareWide(field: field, op, constant: Int32(wide.count)))
                wide.append(NFTWideCompare(low: low, high: high, mask: mask))
            }
        case .lookup(let f, let s, let negate): ops.append(.lookup(pool(f, &pooled), set: s, negate: negate))
        case .ctState(let bits, let negate): ops.append(.ctState(bits, negate: negate))
        case .ctStatus(let bits, let negate): ops.append(.ctStatus(bits, negate: negate))
        case .fibLocal(let daddr, let negate): ops.append(.fibLocal(daddr: daddr, negate: negate))
        case .vmap(let f, let s):
            if let branches = Self.branches(f, ruleset.sets[Int(s)]), case .numgen(let mod, let offset) = f[0] {
                ops.append(.numgenVmap(pool(f, &pooled), set: s, mod: mod, offset: offset))
                ops += branches
            } else {
                ops.append(.vmap(pool(f, &pooled), set: s))
            }
        case .markSet(let m): ops.append(.markSet(m))
        case .nat(let dnat, .address(.v4(let a)?, let port)):
            ops.append(.natIPv4(dnat: dnat, address: a.value, port: port.map(Int32.init) ?? -1))
        case .nat(let dnat, .address(let a, let port)):
            var address: Int32 = -1
            if let a { address = Int32(addresses.count); addresses.append(a) }
            ops.append(.nat(dnat: dnat, address: address, port: port.map(Int32.init) ?? -1))
        case .nat(let dnat, .map(let f, let s)): ops.append(.natMap(dnat: dnat, pool(f, &pooled), set: s))
        case .masquerade(let fully): ops.append(.masquerade(fullyRandom: fully))
        case .reject: ops.append(.reject)
        case .update(let s, let f, let timeout):
            var t: Int32 = -1
            if let timeout { t = Int32(timeouts.count); timeouts.append(timeout) }
            ops.append(.update(pool(f, &pooled), set: s, timeout: t))
        case .counter: ops.append(.counter)
        case .verdict(let v): ops.append(.verdict(v, target: -1))
        case .unsupported: ops.append(.unsupported)
        }
    }

    /// The inline branches of `numgen random mod N [offset O] vmap SET`, one per value, when
    /// the key is numgen alone and the map is static (a dynamic map's elements expire): each
    /// value's element found as the map's lookup finds it, its verdict, and its class's size
    /// (`NFTEngine.classes`). Nil: not inlinable.
    static func branches(_ f: [NFTField], _ set: NFTSet) -> [NFTOp]? {
        guard f.count == 1, case .numgen(let mod, let offset) = f[0], mod > 0, mod <= maxInlineBranches,
              !set.dynamicPrepared else { return nil }
        let classes = NFTEngine.classes(set, mod: mod, offset: offset)
        var size = [UInt32](repeating: UInt32(truncatingIfNeeded: classes.first?.count ?? 0), count: Int(mod))
        for c in classes {
            for r in c.ranges { for v in r where v < mod { size[Int(v)] = UInt32(truncatingIfNeeded: c.count) } }
        }
        return (0..<mod).map { v in
            let value = UInt128(v &+ offset)
            var key = NFTKey()
            key.append(value, bits: f[0].bits)
            let element = [value].withUnsafeBufferPointer { set.lookup(key, fields: $0) }
            guard let element, case .verdict(let verdict)? = set.elements[Int(element)].value else {
                return .branch(element: -1, verdict: .continue, classSize: size[Int(v)], target: -1)
            }
            return .branch(element: element, verdict: verdict, classSize: size[Int(v)], target: -1)
        }
    }

    /// The chains in program order: depth first from the base chains, each chain followed by
    /// the chains its rules jump or go to (verdict maps' targets in element order), then any
    /// chain no base chain reaches. O(chains + rules + map elements).
    static func layout(_ ruleset: NFTRuleset) -> [Int32] {
        var placed = [Bool](repeating: false, count: ruleset.chains.count)
        var order: [Int32] = []
        order.reserveCapacity(ruleset.chains.count)
        // Each set's targets are pushed once: `service-ips` is read by one rule, but a set read
        // by many would otherwise be walked again from each.
        var setWalked = [Bool](repeating: false, count: ruleset.sets.count)
        func targets(_ c: Int32) -> [Int32] {
            var out: [Int32] = []
            func add(_ v: NFTVerdict) {
                switch v {
                case .jump(let t), .goto(let t): out.append(t)
                default: break
                }
            }
            func addSet(_ s: Int32) {
                guard !setWalked[Int(s)] else { return }
                setWalked[Int(s)] = true
                for e in ruleset.sets[Int(s)].elements { if case .verdict(let v)? = e.value { add(v) } }
            }
            for rule in ruleset.chains[Int(c)].rules {
                for e in rule.exprs {
                    switch e {
                    case .verdict(let v): add(v)
                    case .vmap(_, let s): addSet(s)
                    default: break
                    }
                }
            }
            return out
        }
        var stack: [Int32] = []
        let roots = ruleset.chains.indices.filter { ruleset.chains[$0].base != nil } + ruleset.chains.indices.filter { ruleset.chains[$0].base == nil }
        for root in roots {
            stack.append(Int32(root))
            while let c = stack.popLast() {
                guard !placed[Int(c)] else { continue }
                placed[Int(c)] = true
                order.append(c)
                // Reversed, so the first target is laid out right after `c`.
                for t in targets(c).reversed() where !placed[Int(t)] { stack.append(t) }
            }
        }
        return order
    }
}

extension NFTVerdict {
    /// The verdict in one word, as an index slot keeps it: the kind in the low byte (1–6), the
    /// chain of a jump or goto in the high 32 bits. 0 stands for no verdict.
    var packed: UInt64 {
        switch self {
        case .accept: 1
        case .drop: 2
        case .continue: 3
        case .return: 4
        case .jump(let c): 5 | UInt64(UInt32(bitPattern: c)) << 32
        case .goto(let c): 6 | UInt64(UInt32(bitPattern: c)) << 32
        }
    }

    /// The verdict `packed` made, or nil for 0 (or a word no verdict makes).
    init?(packed: UInt64) {
        let chain = Int32(bitPattern: UInt32(truncatingIfNeeded: packed >> 32))
        switch packed & 0xFF {
        case 1: self = .accept
        case 2: self = .drop
        case 3: self = .continue
        case 4: self = .return
        case 5: self = .jump(chain)
        case 6: self = .goto(chain)
        default: return nil
        }
    }
}

extension NFTMapValue {
    /// The mapped verdict packed (`NFTVerdict.packed`); 0 for data.
    var packedVerdict: UInt64 {
        if case .verdict(let v) = self { v.packed } else { 0 }
    }
}
