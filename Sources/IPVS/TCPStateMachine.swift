import Wire

/// IPVS's own TCP tracking (ip_vs_proto_tcp.c: tcp_states, tcp_state_idx, set_tcp_state,
/// tcp_timeouts, tcp_state_active_table). Normal table only (`secure_tcp` off).
public enum TCPState: UInt8, Sendable, CaseIterable {
    case none = 0, established, synSent, synRecv, finWait, timeWait, close, closeWait, lastAck, listen, synAck

    /// The name /proc/net/ip_vs_conn and `ipvsadm -Lnc` print (tcp_state_name_table).
    public var name: String {
        switch self {
        case .none: "NONE"
        case .established: "ESTABLISHED"
        case .synSent: "SYN_SENT"
        case .synRecv: "SYN_RECV"
        case .finWait: "FIN_WAIT"
        case .timeWait: "TIME_WAIT"
        case .close: "CLOSE"
        case .closeWait: "CLOSE_WAIT"
        case .lastAck: "LAST_ACK"
        case .listen: "LISTEN"
        case .synAck: "SYNACK"
        }
    }

    /// tcp_state_active_table: a connection in one of these counts in `activeconns`.
    public var isActive: Bool {
        switch self {
        case .established, .synSent, .synRecv, .synAck: true
        default: false
        }
    }

    /// Default timeout in seconds (tcp_timeouts).
    public var defaultTimeout: UInt32 {
        switch self {
        case .none: 2
        case .established: 900
        case .synSent: 120
        case .synRecv: 60
        case .finWait: 120
        case .timeWait: 120
        case .close: 10
        case .closeWait: 60
        case .lastAck: 30
        case .listen: 120
        case .synAck: 120
        }
    }
}

/// Direction of a packet relative to the connection.
public enum PacketDirection: Sendable {
    /// client → virtual service
    case input
    /// real server → client (seen only for Masq)
    case output
}

enum TCPStateTable {
    // Rows: syn, fin, ack, rst. Columns: NONE ES SS SR FW TW CL CW LA LI SA.
    private static let s: [[TCPState]] = {
        typealias T = TCPState
        let sNO = T.none, sES = T.established, sSS = T.synSent, sSR = T.synRecv, sFW = T.finWait, sTW = T.timeWait,
            sCL = T.close, sCW = T.closeWait, sLA = T.lastAck, sLI = T.listen, sSA = T.synAck
        _ = sNO
        return [
            // INPUT
            [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR],
            [sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW],
            [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
            [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR],
            // OUTPUT
            [sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR],
            [sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW],
            [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES],
            [sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL],
            // INPUT-ONLY
            [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR],
            [sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW],
            [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
            [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL],
        ]
    }()

    /// Flattened for the hot path: index (row * 11 + state).
    static let flat: [UInt8] = s.flatMap { $0.map(\.rawValue) }

    /// tcp_state_idx: rst, then syn, then fin, then ack; -1 when none is set.
    @inline(__always)
    static func flagIndex(_ f: TCPFlags) -> Int {
        if f.contains(.rst) { return 3 }
        if f.contains(.syn) { return 0 }
        if f.contains(.fin) { return 1 }
        if f.contains(.ack) { return 2 }
        return -1
    }

    /// The next state; `inputOnly` selects the INPUT-ONLY rows (connection has NOOUTPUT).
    /// A packet with none of the four flags goes to CLOSE, as set_tcp_state's default does.
    @inline(__always)
    static func next(_ state: TCPState, flags: TCPFlags, direction: PacketDirection, inputOnly: Bool) -> TCPState {
        let idx = flagIndex(flags)
        if idx < 0 { return .close }
        let off = direction == .output ? 4 : (inputOnly ? 8 : 0)
        return TCPState(rawValue: flat[(off + idx) * 11 + Int(state.rawValue)])!
    }
}

/// Connection timeouts in seconds: the TCP per-state table plus UDP (ip_vs_proto_udp.c:
/// udp_timeouts). `ipvsadm --set tcp tcpfin udp` edits ESTABLISHED, FIN_WAIT and UDP.
public struct IPVSTimeouts: Sendable, Equatable {
    public var tcp: [UInt32] = TCPState.allCases.map(\.defaultTimeout)
    public var udp: UInt32 = 300
    public init() {}
    public func tcp(_ s: TCPState) -> UInt32 { tcp[Int(s.rawValue)] }
}
