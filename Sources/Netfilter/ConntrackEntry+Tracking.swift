import Wire

/// What a protocol tracker decided about one packet of a known connection.
public enum ConntrackVerdict: Hashable, Sendable {
    /// The packet is part of the connection; state and timeout were updated.
    case accepted
    /// sIG: the packet passes with its connection, the state is left as it was.
    case ignored
    /// sIV or a bad flag combination: the packet is INVALID (no connection attached), the
    /// entry unchanged. The reason is the kernel's nf_ct_l4proto_log_invalid text.
    case invalid(String)
    /// A SYN reopening a closed or aborted connection: the entry is deleted and the packet
    /// looked up again, as a new connection (nf_ct_kill and NF_REPEAT).
    case reopen
    /// An RST answering a connection that never saw a reply: accepted, and the entry deleted
    /// at once (nf_ct_kill_acct).
    case kill
}

/// Timeouts of the protocols without a state machine, seconds.
public enum ConntrackTimeouts {
    /// nf_conntrack_proto_udp.c udp_timeouts: UDP_CT_UNREPLIED 30 s, UDP_CT_REPLIED 120 s.
    public static let udpUnreplied = 30.0
    public static let udpStream = 120.0
    /// nf_conntrack_udp_packet: a reply-seen flow becomes a stream (120 s, ASSURED) only when
    /// a packet comes more than 2 s after the first (stream_ts = 2 * HZ + jiffies).
    public static let udpStreamDelay = 2.0
    /// nf_ct_icmp_timeout and nf_ct_icmpv6_timeout: 30 s.
    public static let icmp = 30.0
    /// nf_ct_generic_timeout: 600 s, for every other protocol (SCTP's own state machine is not
    /// modelled: kdp tracks SCTP as generic).
    public static let generic = 600.0
}

extension ConntrackEntry {
    /// nf_conntrack_tcp_packet for a known (confirmed) connection, in its order: the flag
    /// check (tcp_error), the transition, the reopen, ignore and invalid cases, the
    /// simultaneous-open and RFC 5961 challenge-ACK special cases, the CLOSE_INIT flag, the
    /// timeout (CLOSE's for an RST; ESTABLISHED capped at 5 min before any reply), ASSURED
    /// (ESTABLISHED reached from SYN_RECV or ESTABLISHED once a reply was seen) and the kill of
    /// a connection whose only reply is an RST.
    ///
    /// Window tracking (td_end, td_maxend, td_maxwin, sequence and ACK bounds) is out of
    /// scope: every packet counts as in window, as with `nf_conntrack_tcp_be_liberal=1`. So the
    /// kernel's `tcp_be_liberal=0` checks that turn an out-of-window segment INVALID, the
    /// RETRANS and UNACKNOWLEDGED 5-minute caps (which count retransmissions and unacknowledged
    /// data), a zero-window cap, the RST sequence checks and the resync of an ignored SYN by a
    /// matching SYN-ACK (which compares sequence numbers) are not modelled.
    public mutating func tcpPacket(flags: UInt8, reply: Bool, now: Double) -> ConntrackVerdict {
        guard TCPPacketIndex.validFlags(flags) else { return .invalid("invalid tcp flag combination") }
        let index = TCPPacketIndex(flags: flags)
        let old = tcpState
        var new: TCPConntrackState
        switch TCPConntrackTransition(reply: reply, index: index, state: old) {
        case .invalid:
            return .invalid("invalid state")
        case .ignored:
            return ignore(index, reply: reply, old: old)
        case .move(let s):
            new = s
        }
        switch new {
        case .synSent where old >= .timeWait:
            // A SYN on a closed or reset connection reopens it (RFC 1122), when a FIN closed it
            // or the last packet this way was an RST; otherwise it is ignored.
            if closeInitiated || (lastWasReply == reply && lastIndex == .rst) { return .reopen }
            return ignore(index, reply: reply, old: old)
        case .timeWait where old == .lastAck && index == .ack && lastWasReply != reply
                             && lastIndex == .syn && challengeAckExpected:
            challengeAckExpected = false
            return .ignored
        case .synSent2:
            simultaneousOpen = true
        case .synRecv where reply && index == .ack && simultaneousOpen:
            new = .established
        default:
            break
        }
        lastIndex = index
        lastWasReply = reply
        tcpState = new
        if old != new && new == .finWait { closeInitiated = true }
        var timeout = index == .rst ? TCPConntrackState.close.timeout : new.timeout
        if !seenReply {
            if index == .rst { return .kill }
            if new == .established { timeout = min(timeout, TCPConntrackState.unacknowledgedTimeout) }
        } else if !assured && (old == .synRecv || old == .established) && new == .established {
            assured = true
        }
        expires = now + timeout
        return .accepted
    }

    /// The sIG path: remember the packet's kind and direction (last_index, last_dir); a SYN in
    /// LAST_ACK may draw an RFC 5961 challenge ACK, which must not close the connection.
    private mutating func ignore(_ index: TCPPacketIndex, reply: Bool, old: TCPConntrackState) -> ConntrackVerdict {
        lastIndex = index
        lastWasReply = reply
        if index == .syn && !reply { challengeAckExpected = old == .lastAck }
        return .ignored
    }

    /// tcp_new then nf_conntrack_tcp_packet for the first packet of a connection: a SYN
    /// starts SYN_SENT; with nf_conntrack_tcp_loose=1 (the default) a bare ACK picks the
    /// connection up as ESTABLISHED (5 min until a reply is seen); anything else is INVALID
    /// (nil).
    public mutating func tcpNew(flags: UInt8, now: Double) -> Bool {
        guard TCPPacketIndex.validFlags(flags) else { return false }
        let index = TCPPacketIndex(flags: flags)
        guard case .move(let s) = TCPConntrackTransition(reply: false, index: index, state: .none) else { return false }
        tcpState = s
        lastIndex = index
        lastWasReply = false
        created = now
        expires = now + (s == .established ? min(s.timeout, TCPConntrackState.unacknowledgedTimeout) : s.timeout)
        return true
    }

    /// nf_conntrack_udp_packet: 30 s until a reply was seen (the flag is tested before this
    /// packet sets it); after that, a packet more than 2 s after the first makes the flow a
    /// stream: 120 s and ASSURED. Otherwise 30 s again.
    public mutating func udpPacket(now: Double) {
        if seenReply {
            if now > created + ConntrackTimeouts.udpStreamDelay {
                expires = now + ConntrackTimeouts.udpStream
                assured = true
            } else {
                expires = now + ConntrackTimeouts.udpUnreplied
            }
        } else {
            expires = now + ConntrackTimeouts.udpUnreplied
        }
    }

    /// The first packet of a non-TCP connection: its creation time and first timeout.
    public mutating func start(now: Double) {
        created = now
        refresh(now: now)
    }

    /// nf_ct_refresh_acct with the protocol's timeout, for a packet the tracker accepted
    /// (UDP's rule, ICMP's 30 s, the generic 600 s).
    public mutating func refresh(now: Double) {
        switch original.proto {
        case .udp: udpPacket(now: now)
        case .icmp, .icmpv6: expires = now + ConntrackTimeouts.icmp
        default: expires = now + ConntrackTimeouts.generic
        }
    }

    /// The entry as `conntrack -L` prints it at `now`: `tcp      6 431999 ESTABLISHED src=..
    /// dst=.. sport=.. dport=.. src=.. dst=.. sport=.. dport=.. [ASSURED] mark=0 use=1`
    /// (libnetfilter_conntrack's default format: seconds left rounded down, [UNREPLIED] after
    /// the original tuple, [ASSURED] after the reply tuple).
    public func conntrackListing(now: Double) -> String {
        let proto = original.proto
        let name = proto.name
        var out = name + String(repeating: " ", count: max(1, 9 - name.count)) + "\(proto.rawValue) "
        out += expires.isFinite ? "\(Int(max(0, (expires - now).rounded(.down)))) " : "0 "
        if proto == .tcp { out += "\(tcpState.name) " }
        out += Self.listing(original) + " "
        if !seenReply { out += "[UNREPLIED] " }
        out += Self.listing(reply) + " "
        if assured { out += "[ASSURED] " }
        out += "mark=\(mark) use=1"
        return out
    }

    private static func listing(_ t: ConntrackTuple) -> String {
        if t.proto == .icmp || t.proto == .icmpv6 {
            return "src=\(t.source) dst=\(t.destination) type=\(t.destinationPort >> 8) code=\(t.destinationPort & 0xFF) id=\(t.sourcePort)"
        }
        return t.description
    }
}
