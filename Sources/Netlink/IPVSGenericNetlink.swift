import CNetlink
import Glibc
import Wire

/// One IPVS virtual service as the kernel's generic netlink family "IPVS" reports it
/// (`IPVS_CMD_GET_SERVICE`), with its real servers (`IPVS_CMD_GET_DEST`). Raw kernel values:
/// `NodeSnapshot` turns them into `ipvsadm -S -n` text through the IPVS module.
public struct IPVSServiceEntry: Hashable, Sendable {
    public var family: IPFamily
    /// IPPROTO_TCP, UDP or SCTP; 0 for a firewall-mark service.
    public var ipProtocol: UInt16
    public var address: IPAddress?
    public var port: UInt16
    public var fwmark: UInt32
    /// The scheduler's name (rr, wlc, sh, …).
    public var scheduler: String
    /// `IP_VS_SVC_F_*`: persistent 0x1, one-packet 0x4, scheduler flags 0x8, 0x10, 0x20.
    public var flags: UInt32
    /// The persistence timeout, seconds.
    public var timeout: UInt32
    /// The persistence netmask: an IPv4 mask (host order), or an IPv6 prefix length.
    public var netmask: UInt32
    public var destinations: [IPVSDestinationEntry]

    public init(family: IPFamily, ipProtocol: UInt16, address: IPAddress?, port: UInt16, fwmark: UInt32 = 0, scheduler: String,
                flags: UInt32 = 0, timeout: UInt32 = 0, netmask: UInt32 = 0xFFFF_FFFF, destinations: [IPVSDestinationEntry] = []) {
        self.family = family
        self.ipProtocol = ipProtocol
        self.address = address
        self.port = port
        self.fwmark = fwmark
        self.scheduler = scheduler
        self.flags = flags
        self.timeout = timeout
        self.netmask = netmask
        self.destinations = destinations
    }
}

/// A real server of an IPVS service.
public struct IPVSDestinationEntry: Hashable, Sendable {
    public var address: IPAddress
    public var port: UInt16
    /// `IP_VS_CONN_F_*` forwarding method: 0 masquerade, 1 local node, 2 tunnel, 3 direct routing.
    public var forwardMethod: UInt32
    public var weight: Int32
    public var upperThreshold: UInt32
    public var lowerThreshold: UInt32

    public init(address: IPAddress, port: UInt16, forwardMethod: UInt32 = 0, weight: Int32 = 1, upperThreshold: UInt32 = 0, lowerThreshold: UInt32 = 0) {
        self.address = address
        self.port = port
        self.forwardMethod = forwardMethod
        self.weight = weight
        self.upperThreshold = upperThreshold
        self.lowerThreshold = lowerThreshold
    }
}

extension GenericNetlink {
    /// Every IPVS service with its real servers, read over generic netlink in `namespace` (nil:
    /// the caller's); nil when the kernel has no IPVS family (the ip_vs module is not loaded).
    /// Cost: one dump for the services and one per service for its destinations.
    ///
    /// Attribute layouts are the kernel's (include/uapi/linux/ip_vs.h, ip_vs_ctl.c): addresses
    /// are `union nf_inet_addr` (16 bytes, IPv4 in the first 4), ports big-endian.
    public static func ipvsServices(namespace: NetworkNamespaceFile? = nil) throws(NetlinkError) -> [IPVSServiceEntry]? {
        let dump = { () throws(NetlinkError) -> [IPVSServiceEntry]? in
            guard let sk = nl_socket_alloc() else { throw NetlinkError(operation: "allocate a generic netlink socket", message: "out of memory") }
            defer { nl_close(sk); nl_socket_free(sk) }
            try check(genl_connect(sk), "connect a generic netlink socket")
            let family = genl_ctrl_resolve(sk, "IPVS")
            if family < 0 {
                let e = NetlinkError(operation: "resolve generic netlink family IPVS", libnlCode: family)
                if e.isNotFound { return nil }
                throw e
            }
            var services = try request(sk, family: family, command: 4 /* IPVS_CMD_GET_SERVICE */, operation: "dump IPVS services", service: nil)
                .compactMap(Self.service)
            for k in services.indices {
                services[k].destinations = try request(sk, family: family, command: 8 /* IPVS_CMD_GET_DEST */,
                                                       operation: "dump IPVS destinations", service: services[k]).compactMap(Self.destination)
            }
            return services
        }
        if let namespace { return try namespace.run(dump) }
        return try dump()
    }

    /// The top-level attributes of each message a dump returns, copied out as
    /// (type → bytes) maps of the nested attribute (`IPVS_CMD_ATTR_SERVICE` 1 or `_DEST` 2).
    private static func request(_ sk: OpaquePointer, family: Int32, command: UInt8, operation: String,
                                service: IPVSServiceEntry?) throws(NetlinkError) -> [[Int: [UInt8]]] {
        guard let msg = nlmsg_alloc() else { throw NetlinkError(operation: operation, message: "out of memory") }
        defer { nlmsg_free(msg) }
        guard genlmsg_put(msg, 0, 0, family, 0, NLM_F_DUMP, command, 1) != nil else {
            throw NetlinkError(operation: operation, message: "cannot build the request")
        }
        if let service {
            guard let nest = nla_nest_start(msg, 1 /* IPVS_CMD_ATTR_SERVICE */) else { throw NetlinkError(operation: operation, message: "cannot build the request") }
            _ = nla_put_u16(msg, 1 /* AF */, UInt16(service.family == .ipv4 ? AF_INET : AF_INET6))
            if service.fwmark != 0 {
                _ = nla_put_u32(msg, 5 /* FWMARK */, service.fwmark)
            } else if let address = service.address {
                _ = nla_put_u16(msg, 2 /* PROTOCOL */, service.ipProtocol)
                var bytes = [UInt8](repeating: 0, count: 16)
                let width = address.family == .ipv4 ? 4 : 16
                for i in 0..<width { bytes[i] = UInt8(truncatingIfNeeded: address.bits >> UInt128(8 * (width - 1 - i))) }
                _ = bytes.withUnsafeBytes { nla_put(msg, 3 /* ADDR */, 16, $0.baseAddress) }
                _ = nla_put_u16(msg, 4 /* PORT */, service.port.bigEndian)
            }
            nla_nest_end(msg, nest)
        }
        try check(nl_send_auto(sk, msg), operation)
        let collector = DumpCollector()
        let context = Unmanaged.passUnretained(collector).toOpaque()
        try check(nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, { msg, arg in
            guard let msg, let arg else { return Int32(NL_SKIP.rawValue) }
            let collector = Unmanaged<DumpCollector>.fromOpaque(arg).takeUnretainedValue()
            var top = [UnsafeMutablePointer<nlattr>?](repeating: nil, count: 8)
            guard genlmsg_parse(nlmsg_hdr(msg), 0, &top, 7, nil) >= 0 else { return Int32(NL_SKIP.rawValue) }
            guard let outer = top[1] ?? top[2] else { return Int32(NL_OK.rawValue) }
            var nested = [UnsafeMutablePointer<nlattr>?](repeating: nil, count: 32)
            guard nla_parse_nested(&nested, 31, outer, nil) >= 0 else { return Int32(NL_SKIP.rawValue) }
            var fields: [Int: [UInt8]] = [:]
            for (type, attr) in nested.enumerated() {
                guard let attr, let data = nla_data(attr) else { continue }
                fields[type] = Array(UnsafeRawBufferPointer(start: data, count: Int(nla_len(attr))))
            }
            collector.entries.append(fields)
            return Int32(NL_OK.rawValue)
        }, context), operation)
        try check(nl_recvmsgs_default(sk), operation)
        return collector.entries
    }

    static func u16(_ b: [UInt8]?) -> UInt16? { b.flatMap { $0.count >= 2 ? $0.withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) } : nil } }
    static func u32(_ b: [UInt8]?) -> UInt32? { b.flatMap { $0.count >= 4 ? $0.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } : nil } }

    static func address(_ b: [UInt8]?, family: IPFamily) -> IPAddress? {
        guard let b, b.count >= (family == .ipv4 ? 4 : 16) else { return nil }
        var v: UInt128 = 0
        for byte in b.prefix(family == .ipv4 ? 4 : 16) { v = v << 8 | UInt128(byte) }
        return IPAddress(family: family, bits: v)
    }

    /// A service from its IPVS_SVC_ATTR_* fields (AF 1, PROTOCOL 2, ADDR 3, PORT 4, FWMARK 5,
    /// SCHED_NAME 6, FLAGS 7 as `struct ip_vs_flags`, TIMEOUT 8, NETMASK 9).
    static func service(_ f: [Int: [UInt8]]) -> IPVSServiceEntry? {
        guard let af = u16(f[1]) else { return nil }
        let family: IPFamily = Int32(af) == AF_INET6 ? .ipv6 : .ipv4
        let scheduler = f[6].map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } ?? ""
        return IPVSServiceEntry(family: family, ipProtocol: u16(f[2]) ?? 0, address: address(f[3], family: family),
                                port: UInt16(bigEndian: u16(f[4]) ?? 0), fwmark: u32(f[5]) ?? 0, scheduler: scheduler,
                                flags: u32(f[7]) ?? 0, timeout: u32(f[8]) ?? 0,
                                netmask: family == .ipv4 ? UInt32(bigEndian: u32(f[9]) ?? 0xFFFF_FFFF) : (u32(f[9]) ?? 128))
    }

    /// A destination from its IPVS_DEST_ATTR_* fields (ADDR 1, PORT 2, FWD_METHOD 3, WEIGHT 4,
    /// U_THRESH 5, L_THRESH 6, ADDR_FAMILY 11).
    static func destination(_ f: [Int: [UInt8]]) -> IPVSDestinationEntry? {
        let family: IPFamily = u16(f[11]).map { Int32($0) == AF_INET6 ? .ipv6 : .ipv4 } ?? ((f[1]?.dropFirst(4).contains { $0 != 0 } ?? false) ? .ipv6 : .ipv4)
        guard let a = address(f[1], family: family) else { return nil }
        return IPVSDestinationEntry(address: a, port: UInt16(bigEndian: u16(f[2]) ?? 0), forwardMethod: (u32(f[3]) ?? 0) & 0x7,
                                    weight: Int32(bitPattern: u32(f[4]) ?? 1), upperThreshold: u32(f[5]) ?? 0, lowerThreshold: u32(f[6]) ?? 0)
    }
}

/// What the receive callback collects; the callback runs on the calling thread inside
/// `nl_recvmsgs_default`, so no other thread touches it.
private final class DumpCollector {
    var entries: [[Int: [UInt8]]] = []
}
