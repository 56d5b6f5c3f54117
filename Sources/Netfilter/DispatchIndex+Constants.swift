import Wire

/// What a dispatch-index lookup stands for in the linear walk, as constants (`kdp verify`'s
/// path conditions), so that the classes are those of the kernel's rule-by-rule evaluation, not
/// of the index's keys.
///
/// A rule the index skips fails in the linear walk on its first failing condition:
/// - an exact-keyed rule on `-d`, an IP-header check made before any match: every key address
///   is a constant, and a key address's ports only for that destination;
/// - a proto-port-keyed rule on its `--dport`, unless a condition that ignores the port comes
///   first in the rule (a gate: `-m addrtype --dst-type LOCAL` in KUBE-NODEPORTS and
///   KUBE-EXTERNAL-SERVICES) and fails, in which case the gate is the constant and the ports
///   behind it are not. Gates are few, so a lookup costs one test per distinct gate.
struct DispatchConstants: Sendable {
    var addresses = SharedHeaderConstants.none
    var portsByAddress: [UInt32: SharedHeaderConstants] = [:]
    /// Proto-port-keyed rules with no gate before their port.
    var ungated = SharedHeaderConstants.none
    /// Proto-port-keyed rules behind a gate, grouped by the gate.
    var gated: [(gate: Match, ports: SharedHeaderConstants)] = []

    init() {}

    init(rules: [PreparedRule], exact: [UInt64: [Int32]], protoPort: [UInt32: [Int32]]) {
        var byAddress: [UInt32: Set<UInt16>] = [:]
        for k in exact.keys { byAddress[UInt32(truncatingIfNeeded: k >> 24), default: []].insert(UInt16(truncatingIfNeeded: k)) }
        addresses = SharedHeaderConstants(destinationPrefixes: byAddress.keys.sorted().map { Prefix(containing: .v4(IPv4Address($0)), length: 32) })
        portsByAddress = byAddress.mapValues { SharedHeaderConstants(destinationPorts: $0.sorted().map { PortRange($0) }) }
        var open = Set<UInt16>(), behind: [Match: Set<UInt16>] = [:], order: [Match] = []
        for (key, list) in protoPort {
            let port = UInt16(truncatingIfNeeded: key)
            for i in list {
                if let g = Self.gate(rules[Int(i)]) {
                    if behind[g] == nil { order.append(g) }
                    behind[g, default: []].insert(port)
                } else {
                    open.insert(port)
                }
            }
        }
        ungated = SharedHeaderConstants(destinationPorts: open.sorted().map { PortRange($0) })
        gated = order.map { g in (g, SharedHeaderConstants(destinationPorts: behind[g]!.sorted().map { PortRange($0) })) }
    }

    /// The first condition of `rule`, before its destination port, that ignores the port and
    /// has no side effect; nil when the port comes first.
    static func gate(_ rule: PreparedRule) -> Match? {
        for m in rule.matches {
            switch m {
            case .destinationPort, .multiport: return nil
            case .proto, .comment: continue
            case .addrType, .destination, .source, .inInterface, .outInterface, .mark, .ctState: return m
            default: return nil
            }
        }
        return nil
    }
}

extension PathState {
    /// Records what a lookup in `index` compared the packet with (see `DispatchConstants`).
    mutating func noteDispatch(_ index: DispatchIndex) {
        let c = index.pathConstants
        constants!.shared.append(c.addresses)
        if case .v4(let a) = packet.destination, let ports = c.portsByAddress[a.value] { constants!.shared.append(ports) }
        constants!.shared.append(c.ungated)
        for (gate, ports) in c.gated {
            // `test` records the gate's own constants; a gate that holds lets the ports count.
            if test(gate) { constants!.shared.append(ports) }
        }
    }
}
