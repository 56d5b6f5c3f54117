import Wire

/// The lookup key of a connection entry: (protocol, client address and port, virtual address
/// and port) — what __ip_vs_conn_in_get compares. Addresses are held as numbers of their
/// family's width so the key is plain words.
public struct ConnectionKey: Hashable, Sendable {
    public var clientAddress: UInt128
    public var virtualAddress: UInt128
    public var clientPort: UInt16
    public var virtualPort: UInt16
    public var `protocol`: UInt8
    /// 4 or 6.
    public var family: UInt8

    public init(protocol: IPProtocol, client: IPAddress, clientPort: UInt16, virtual: IPAddress, virtualPort: UInt16) {
        self.clientAddress = client.bits
        self.virtualAddress = virtual.bits
        self.clientPort = clientPort
        self.virtualPort = virtualPort
        self.protocol = `protocol`.rawValue
        self.family = client.family == .ipv4 ? 4 : 6
    }

    package init(clientAddress: UInt128, virtualAddress: UInt128, clientPort: UInt16, virtualPort: UInt16, protocol: UInt8, family: UInt8) {
        self.clientAddress = clientAddress
        self.virtualAddress = virtualAddress
        self.clientPort = clientPort
        self.virtualPort = virtualPort
        self.protocol = `protocol`
        self.family = family
    }

    /// The key of a client→virtual-service flow: its packed form (two 128-bit words, the ports,
    /// protocol and family), which the connection table hashes and compares.
    public init(_ flow: FlowKey) {
        self.init(protocol: flow.proto, client: flow.source, clientPort: flow.sourcePort,
                  virtual: flow.destination, virtualPort: flow.destinationPort)
    }

    /// The client→virtual-service flow this key packs.
    public var flow: FlowKey {
        FlowKey(source: client, sourcePort: clientPort, destination: virtual, destinationPort: virtualPort,
                proto: IPProtocol(rawValue: `protocol`))
    }

    var ipFamily: IPFamily { family == 4 ? .ipv4 : .ipv6 }
    public var client: IPAddress { IPAddress(family: ipFamily, bits: clientAddress) }
    public var virtual: IPAddress { IPAddress(family: ipFamily, bits: virtualAddress) }

    /// The all-zero key (family 0, which no packet has): the filler of empty slots and unused
    /// lookahead entries.
    package static let unused = ConnectionKey(clientAddress: 0, virtualAddress: 0, clientPort: 0, virtualPort: 0, protocol: 0, family: 0)

    /// A cheap, well-mixed 64-bit hash (multiply-xorshift over the key words). The kernel uses
    /// jhash/siphash with a random seed here, which only picks buckets (reference §4).
    /// Inlinable so that the benchmark tables (`Bench.ConnectionHashTable`) hash as cheaply as
    /// the table itself.
    @inlinable @inline(__always)
    package var hashValue64: UInt64 {
        var h = UInt64(truncatingIfNeeded: clientAddress) &* 0x9E37_79B9_7F4A_7C15
        h ^= UInt64(truncatingIfNeeded: virtualAddress) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= (UInt64(clientPort) << 32 | UInt64(virtualPort) << 16 | UInt64(`protocol`) << 8 | UInt64(family)) &* 0x1656_67B1_9E37_79F9
        if family == 6 {
            h ^= UInt64(truncatingIfNeeded: clientAddress >> 64) &* 0xFF51_AFD7_ED55_8CCD
            h ^= UInt64(truncatingIfNeeded: virtualAddress >> 64) &* 0xC4CE_B9FE_1A85_EC53
        }
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return h
    }
}

/// `cp->flags` bits kdp tracks (uapi ip_vs.h: IP_VS_CONN_F_*).
public struct ConnectionFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let noOutput = ConnectionFlags(rawValue: 0x0080)
    public static let inactive = ConnectionFlags(rawValue: 0x0100)
    public static let template = ConnectionFlags(rawValue: 0x1000)
    public static let onePacket = ConnectionFlags(rawValue: 0x2000)
}

/// Template states (ip_vs_proto.c: ip_vs_ctpl_state_name_table).
public enum TemplateState: UInt8, Sendable {
    case none = 0
    case assured = 1
    public var name: String { self == .none ? "NONE" : "ASSURED" }
}

/// One `struct ip_vs_conn`: a normal connection or a persistence template.
///
/// Field order is layout: the small fields fill the key's tail padding (a `ConnectionKey` is 38
/// bytes in a 48-byte stride) and the destination address is kept as bits plus a family byte
/// rather than an `IPAddress` (17 bytes padded to 32), so an entry is 96 bytes, not 112: a new
/// connection writes fewer cache lines and a lookup's key and port sit closer together.
/// `MemoryLayoutTests` pins these sizes.
public struct ConnectionEntry: Sendable {
    /// The lookup key (for an invalidated template, the rewritten key with ports 0xffff).
    public internal(set) var key: ConnectionKey
    /// 4 or 6: the family of `destinationAddress` (a fwmark service may mix families).
    var destinationFamily: UInt8
    /// TCP state (raw TCPState), 0 for UDP, TemplateState for templates.
    public internal(set) var state: UInt8
    /// The destination port written into the packet.
    public internal(set) var destinationPort: UInt16
    public internal(set) var flags: ConnectionFlags
    /// Index of the virtual service.
    public internal(set) var service: Int32
    /// `destinationAddress` as a number of its family's width.
    var destinationBits: UInt128
    /// Slot of the real server in its service.
    public internal(set) var server: Int32
    /// The controlling template's entry index, or -1.
    public internal(set) var control: Int32
    /// How many connections this entry controls (templates).
    public internal(set) var nControl: Int32
    /// Current timeout in seconds (`cp->timeout`).
    public internal(set) var timeout: UInt32
    /// When the timer fires, in clock milliseconds.
    public internal(set) var expires: Int64
    /// False once the entry is gone (its index is on the free list).
    public internal(set) var live: Bool
    /// True while the entry is reachable by key (templates lose this when invalidated).
    public internal(set) var hashed: Bool
    /// Scratch for `IPVSTable.compactTimers`: set while a compaction has kept this entry's timer
    /// record, so duplicates are dropped; false at all other times. It fills tail padding.
    var timerKept = false

    init(key: ConnectionKey, destinationAddress: IPAddress, destinationPort: UInt16, state: UInt8, flags: ConnectionFlags,
         service: Int32, server: Int32, control: Int32, nControl: Int32, timeout: UInt32, expires: Int64, live: Bool, hashed: Bool) {
        self.key = key
        self.destinationFamily = destinationAddress.family == .ipv4 ? 4 : 6
        self.state = state
        self.destinationPort = destinationPort
        self.flags = flags
        self.service = service
        self.destinationBits = destinationAddress.bits
        self.server = server
        self.control = control
        self.nControl = nControl
        self.timeout = timeout
        self.expires = expires
        self.live = live
        self.hashed = hashed
    }

    /// The real server's address.
    public var destinationAddress: IPAddress {
        IPAddress(family: destinationFamily == 4 ? .ipv4 : .ipv6, bits: destinationBits)
    }

    public var isTemplate: Bool { flags.contains(.template) }
    public var tcpState: TCPState? { isTemplate || key.protocol != IPProtocol.tcp.rawValue ? nil : TCPState(rawValue: state) }
}
