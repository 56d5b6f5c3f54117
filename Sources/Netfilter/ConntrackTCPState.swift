/// TCP connection tracking states (enum tcp_conntrack, include/uapi/linux/netfilter/
/// nf_conntrack_tcp.h), in the kernel's order: the transition table is indexed by it, and the
/// "reopen" rule compares states by it (`>= TIME_WAIT`). `name` is how `conntrack -L` prints it.
public enum TCPConntrackState: UInt8, Hashable, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case none = 0, synSent, synRecv, established, finWait, closeWait, lastAck, timeWait, close, synSent2

    /// tcp_conntrack_names.
    public var name: String {
        switch self {
        case .none: "NONE"
        case .synSent: "SYN_SENT"
        case .synRecv: "SYN_RECV"
        case .established: "ESTABLISHED"
        case .finWait: "FIN_WAIT"
        case .closeWait: "CLOSE_WAIT"
        case .lastAck: "LAST_ACK"
        case .timeWait: "TIME_WAIT"
        case .close: "CLOSE"
        case .synSent2: "SYN_SENT2"
        }
    }

    public var description: String { name }

    /// The state `conntrack -L` names `name`.
    public init?(name: Substring) {
        guard let s = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = s
    }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// The kernel's default timeout in this state, seconds (tcp_timeouts in
    /// nf_conntrack_proto_tcp.c, the nf_conntrack_tcp_timeout_* sysctls): SYN_SENT 2 min,
    /// SYN_RECV 60 s, ESTABLISHED 5 days, FIN_WAIT 2 min, CLOSE_WAIT 60 s, LAST_ACK 30 s,
    /// TIME_WAIT 2 min, CLOSE 10 s, SYN_SENT2 2 min. NONE never lasts (tcp_new moves on).
    public var timeout: Double {
        switch self {
        case .none: 0
        case .synSent: 120
        case .synRecv: 60
        case .established: 432_000
        case .finWait: 120
        case .closeWait: 60
        case .lastAck: 30
        case .timeWait: 120
        case .close: 10
        case .synSent2: 120
        }
    }

    /// TCP_CONNTRACK_UNACK (and TCP_CONNTRACK_RETRANS): 5 min, the cap on ESTABLISHED for a
    /// connection picked up mid-stream that has seen no reply yet (nf_conntrack_tcp_packet).
    public static let unacknowledgedTimeout = 300.0

    /// tcp_can_early_drop: the closing states, which the gc worker may drop even when assured.
    public var canEarlyDrop: Bool {
        switch self {
        case .finWait, .lastAck, .timeWait, .close, .closeWait: true
        default: false
        }
    }
}

/// The kind of a TCP segment for the transition table (enum tcp_bit_set; get_conntrack_index:
/// RST first, then SYN with or without ACK, then FIN, then ACK, else none).
public enum TCPPacketIndex: UInt8, Hashable, Sendable {
    case syn = 0, synAck, fin, ack, rst, none

    public init(flags: UInt8) {
        if flags & TCPFlag.rst != 0 { self = .rst }
        else if flags & TCPFlag.syn != 0 { self = flags & TCPFlag.ack != 0 ? .synAck : .syn }
        else if flags & TCPFlag.fin != 0 { self = .fin }
        else if flags & TCPFlag.ack != 0 { self = .ack }
        else { self = .none }
    }

    /// tcp_valid_flags (tcp_error): the flag combinations, PSH, ECE and CWR aside, the
    /// tracker accepts at all; any other packet is INVALID whatever the state.
    public static func validFlags(_ flags: UInt8) -> Bool {
        switch flags & 0x37 {  // FIN SYN RST ACK URG
        case 0x02, 0x22, 0x12, 0x04, 0x14, 0x11, 0x31, 0x10, 0x30: true
        default: false
        }
    }
}

/// What tcp_conntracks[dir][index][state] says: a new state, sIV (the packet is INVALID and
/// the entry unchanged) or sIG (the packet passes, the state does not change).
public enum TCPConntrackTransition: Hashable, Sendable {
    case move(TCPConntrackState)
    case invalid
    case ignored

    /// tcp_conntracks, exactly as nf_conntrack_proto_tcp.c (6.x) spells it: rows SYN, SYN-ACK,
    /// FIN, ACK, RST, none; columns NONE … SYN_SENT2; 10 is sIV, 11 is sIG.
    static let table: [UInt8] = {
        let sNO: UInt8 = 0, sSS: UInt8 = 1, sSR: UInt8 = 2, sES: UInt8 = 3, sFW: UInt8 = 4, sCW: UInt8 = 5,
            sLA: UInt8 = 6, sTW: UInt8 = 7, sCL: UInt8 = 8, sS2: UInt8 = 9, sIV: UInt8 = 10, sIG: UInt8 = 11
        _ = sNO
        let original: [[UInt8]] = [
            /* syn    */ [sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2],
            /* synack */ [sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR],
            /* fin    */ [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],
            /* ack    */ [sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV],
            /* rst    */ [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
            /* none   */ [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],
        ]
        let reply: [[UInt8]] = [
            /* syn    */ [sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2],
            /* synack */ [sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR],
            /* fin    */ [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],
            /* ack    */ [sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG],
            /* rst    */ [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
            /* none   */ [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],
        ]
        return (original + reply).flatMap { $0 }
    }()

    /// tcp_conntracks[reply ? 1 : 0][index][state].
    public init(reply: Bool, index: TCPPacketIndex, state: TCPConntrackState) {
        let v = Self.table[(reply ? 60 : 0) + Int(index.rawValue) * 10 + Int(state.rawValue)]
        switch v {
        case 10: self = .invalid
        case 11: self = .ignored
        default: self = .move(TCPConntrackState(rawValue: v)!)
        }
    }
}
