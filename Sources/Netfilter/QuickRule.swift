import Wire

/// One rule of a prepared chain as flat integers, for IPv4 packets: its `-s`, `-d` and `-p`
/// (the checks ip_packet_match makes before any match module), its first `--dport` when nothing
/// with a side effect comes before it, where its remaining matches sit in the chain's
/// `residual` array, and its target when the walk can act on it without the rule object.
///
/// A chain's rules are these records, stored contiguously in the chain object (`PreparedChain`,
/// under 48 bytes each), so walking a chain reads a few cache lines instead of one object, one
/// match array and one prefix array per rule.
/// A rule whose header fails is rejected by three compares; a rule whose covered conditions
/// hold and whose residual is empty matches without its `Match` list being read at all.
///
/// Skipping covered conditions is exact: `-s`/`-d`/`-p` have no side effect and the kernel tests
/// them first; a `--dport` is covered only when every match before it is free of side effects
/// (`statistic`, `recent`, `set`'s missing-set note), so evaluating it early changes nothing.
struct QuickRule: Sendable {
    var source: UInt32 = 0, sourceMask: UInt32 = 0
    var destination: UInt32 = 0, destinationMask: UInt32 = 0
    var portLower: UInt16 = 0, portUpper: UInt16 = 0xFFFF
    var proto: UInt8 = 0
    /// The protocol a covered `--dport` requires (xt_tcpudp checks the packet's protocol).
    var portProto: UInt8 = 0
    var flags: Flags = []
    var target: TargetKind = .other
    /// The matches left to evaluate, in order: `residual[residualStart ..< residualStart + residualCount]`.
    var residualStart: Int32 = 0
    var residualCount: Int32 = 0
    /// The jump or goto chain, -1 when none or missing.
    var jump: Int32 = -1
    /// A rule whose only uncovered match is `-m statistic --mode random` (kube-proxy's
    /// endpoint choice in every KUBE-SVC chain) keeps it here instead of in `residual`, so the
    /// walk does not touch a second allocation: the threshold, and the match's index in the
    /// rule's full list (a branch resumes there).
    var statisticThreshold: UInt32 = 0
    var statisticIndex: Int16 = -1

    struct Flags: OptionSet, Sendable {
        var rawValue: UInt8
        static let sourceNegated = Flags(rawValue: 1)
        static let destinationNegated = Flags(rawValue: 2)
        static let checksProto = Flags(rawValue: 4)
        static let protoNegated = Flags(rawValue: 8)
        static let checksPort = Flags(rawValue: 16)
        static let portNegated = Flags(rawValue: 32)
        static let statistic = Flags(rawValue: 64)
        static let statisticNegated = Flags(rawValue: 128)
    }

    /// The targets the walk handles from this record alone when no step is recorded.
    enum TargetKind: UInt8, Sendable {
        case none, jump, goto, returnFromChain, accept, other
    }

    /// A match of a rule that the record does not cover, with its index in the rule's full
    /// match list (a `statistic` branch resumes there).
    struct Residual: Sendable {
        var match: Match
        var index: Int32
    }

    /// Builds the record for `rule` and appends its uncovered matches to `residual`.
    init(_ rule: PreparedRule, residual: inout [Residual]) {
        residualStart = Int32(residual.count)
        var sideEffects = false
        for (i, m) in rule.matches.enumerated() {
            var covered = false
            switch m {
            case .source(let ps, let neg) where ps.count == 1:
                if case .v4(let a) = ps[0].network {
                    source = a.value; sourceMask = UInt32(truncatingIfNeeded: ps[0].mask)
                    if neg { flags.insert(.sourceNegated) }
                    covered = true
                }
            case .destination(let ps, let neg) where ps.count == 1:
                if case .v4(let a) = ps[0].network {
                    destination = a.value; destinationMask = UInt32(truncatingIfNeeded: ps[0].mask)
                    if neg { flags.insert(.destinationNegated) }
                    covered = true
                }
            case .sourceMasked(let v, let mask, let neg):
                source = v; sourceMask = mask
                if neg { flags.insert(.sourceNegated) }
                covered = true
            case .destinationMasked(let v, let mask, let neg):
                destination = v; destinationMask = mask
                if neg { flags.insert(.destinationNegated) }
                covered = true
            case .proto(let p?, let neg):
                proto = p.rawValue
                flags.insert(.checksProto)
                if neg { flags.insert(.protoNegated) }
                covered = true
            case .destinationPort(let p, let r, let neg) where !sideEffects && !flags.contains(.checksPort):
                portProto = p.rawValue; portLower = r.lower; portUpper = r.upper
                flags.insert(.checksPort)
                if neg { flags.insert(.portNegated) }
                covered = true
            case .comment:
                covered = true
            case .statisticRandom, .statisticNth, .recent, .set:
                sideEffects = true
            default:
                break
            }
            if !covered { residual.append(Residual(match: m, index: Int32(i))) }
        }
        residualCount = Int32(residual.count) - residualStart
        if residualCount == 1, case .statisticRandom(let threshold, let negated) = residual[residual.count - 1].match,
           let index = Int16(exactly: residual[residual.count - 1].index) {
            residual.removeLast()
            residualCount = 0
            statisticThreshold = threshold
            statisticIndex = index
            flags.insert(.statistic)
            if negated { flags.insert(.statisticNegated) }
        }
        jump = Int32(rule.jumpIndex)
        switch rule.target {
        case nil: target = .none
        case .jump?: target = .jump
        case .goto?: target = .goto
        case .returnFromChain?: target = .returnFromChain
        case .accept?: target = .accept
        default: target = .other
        }
    }

    /// Whether an IPv4 packet passes every covered condition. Three compares and, for a rule
    /// with a covered port, two more; no memory beyond this record.
    @inline(__always)
    func admits(source s: UInt32, destination d: UInt32, proto p: UInt8, port: UInt16) -> Bool {
        guard ((s & sourceMask) == source) != flags.contains(.sourceNegated),
              ((d & destinationMask) == destination) != flags.contains(.destinationNegated) else { return false }
        if flags.contains(.checksProto) && ((p == proto) == flags.contains(.protoNegated)) { return false }
        if flags.contains(.checksPort) {
            // xt_tcpudp: the protocol must be the module's, then the port range (inverted or not).
            guard p == portProto else { return false }
            return (port >= portLower && port <= portUpper) != flags.contains(.portNegated)
        }
        return true
    }
}
