import Wire

/// `ipvsadm` 1.31 text, numeric (`-n`), byte for byte (reference §8; ipvsadm.c: list_all,
/// print_title, print_service_entry, print_largenum, list_conn, print_conn; libipvs.c:
/// ipvs_cmp_services, ipvs_cmp_dests).
public enum IPVSAdm {
    /// `IP_VS_VERSION_CODE` 0x010201.
    public static let versionLine = "IP Virtual Server version 1.2.1"

    // MARK: printf helpers

    /// `%-Ns`.
    static func left(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    /// `%Ns`.
    static func right(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }

    /// print_largenum without `--exact`.
    public static func largeNumber(_ i: UInt64) -> String {
        if i < 100_000_000 { return right(String(i), 9) }
        if i < 1_000_000_000 { return right(String(i / 1000), 8) + "K" }
        if i < 100_000_000_000 { return right(String(i / 1_000_000), 8) + "M" }
        if i < 100_000_000_000_000 { return right(String(i / 1_000_000_000), 8) + "G" }
        return right(String(i / 1_000_000_000_000), 8) + "T"
    }

    static func protocolName(_ p: IPProtocol) -> String {
        switch p {
        case .tcp: "TCP"
        case .udp: "UDP"
        case .sctp: "SCTP"
        default: "?"
        }
    }

    static func protocolSwitch(_ p: IPProtocol) -> String {
        switch p {
        case .tcp: "-t"
        case .udp: "-u"
        default: "--sctp-service"
        }
    }

    /// The service column (`svc_name`): `%-4s %s` of protocol and addr:port, cut to 33 characters
    /// for IPv4; fwmark services are `FWM  <mark>`.
    static func serviceName(_ k: ServiceKey) -> String {
        if k.fwmark != 0 { return "FWM  \(k.fwmark)" + (k.family == .ipv6 ? " IPv6" : "") }
        let s = left(protocolName(k.protocol), 4) + " " + k.address.joined(port: k.port)
        return k.family == .ipv4 ? String(s.prefix(33)) : s
    }

    /// The service part of a `-S` line: `-t addr:port` or `-f mark`.
    static func serviceRule(_ k: ServiceKey) -> String {
        if k.fwmark != 0 { return "-f \(k.fwmark)" + (k.family == .ipv6 ? " -6" : "") }
        return protocolSwitch(k.protocol) + " " + k.address.joined(port: k.port)
    }

    static func dottedMask(_ m: UInt32) -> String { IPv4Address(m).description }

    // MARK: sorting

    /// `ntohl(a) - ntohl(b)` as a C int, the quirk that makes far-apart addresses compare
    /// "wrongly" (reference §8.1).
    static func cDiff(_ a: UInt32, _ b: UInt32) -> Int32 { Int32(bitPattern: a &- b) }

    static func addressDiff(_ a: IPAddress, _ b: IPAddress) -> Int32 {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): return cDiff(x.value, y.value)
        default:
            for i in 0..<4 {
                let shift = UInt128(96 - 32 * i)
                let r = cDiff(UInt32(truncatingIfNeeded: a.bits >> shift), UInt32(truncatingIfNeeded: b.bits >> shift))
                if r != 0 { return r }
            }
            return 0
        }
    }

    /// ipvs_cmp_services.
    static func compareServices(_ a: ServiceKey, _ b: ServiceKey) -> Int32 {
        var r = cDiff(a.fwmark, b.fwmark)
        if r != 0 { return r }
        r = Int32(a.family == .ipv4 ? 2 : 10) - Int32(b.family == .ipv4 ? 2 : 10)
        if r != 0 { return r }
        r = Int32(a.protocol.rawValue) - Int32(b.protocol.rawValue)
        if r != 0 { return r }
        r = addressDiff(a.address, b.address)
        if r != 0 { return r }
        return Int32(a.port) - Int32(b.port)
    }

    /// ipvs_cmp_dests.
    static func compareDestinations(_ a: RealServer, _ b: RealServer) -> Int32 {
        let r = addressDiff(a.address, b.address)
        if r != 0 { return r }
        return Int32(a.port) - Int32(b.port)
    }

    /// glibc's merge sort (msort_with_tmp: split n/2, merge taking the left run while
    /// `cmp <= 0`), so that even the non-transitive comparator orders as ipvsadm does.
    static func msort<T>(_ items: [T], _ cmp: (T, T) -> Int32) -> [T] {
        if items.count <= 1 { return items }
        let n1 = items.count / 2
        let a = msort(Array(items[..<n1]), cmp)
        let b = msort(Array(items[n1...]), cmp)
        var out: [T] = []
        out.reserveCapacity(items.count)
        var i = 0, j = 0
        while i < a.count && j < b.count {
            if cmp(a[i], b[j]) <= 0 { out.append(a[i]); i += 1 } else { out.append(b[j]); j += 1 }
        }
        out += a[i...]
        out += b[j...]
        return out
    }

    static func sortedServices(_ t: IPVSTable, sort: Bool) -> [VirtualService] {
        let all = Array(t.services)
        return sort ? msort(all) { compareServices($0.key, $1.key) } : all
    }

    package static func sortedDestinations(_ s: VirtualService, sort: Bool) -> [RealServer] {
        sort ? msort(s.destinations, compareDestinations) : s.destinations
    }

    // MARK: -L

    /// The service line of `-L` after the name: scheduler, flags, persistence, ops.
    static func serviceDetails(_ s: VirtualService) -> String {
        var out = " " + s.scheduler.rawValue
        let names = s.flags.schedulerFlagNames(for: s.scheduler)
        if !names.isEmpty { out += " (" + names.joined(separator: ",") + ")" }
        if s.flags.contains(.persistent) {
            out += " persistent \(s.config.timeout)"
            if s.key.family == .ipv4 {
                if s.config.netmask != 0xFFFF_FFFF { out += " mask " + dottedMask(s.config.netmask) }
            } else if s.config.netmask != 128 {
                out += " mask \(s.config.netmask)"
            }
        }
        if s.flags.contains(.onePacket) { out += " ops" }
        return out
    }

    static func destinationName(_ d: RealServer, family: IPFamily) -> String {
        let n = d.address.joined(port: d.port)
        return family == .ipv4 ? String(n.prefix(28)) : n
    }

    /// `ipvsadm -Ln` (`sort: false` is `--nosort`: kernel list order, head first).
    public static func list(_ t: IPVSTable, sort: Bool = true) -> String {
        var out = "\(versionLine) (size=\(t.connectionTableSize))\n"
        out += "Prot LocalAddress:Port Scheduler Flags\n"
        out += "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        for s in sortedServices(t, sort: sort) {
            out += serviceName(s.key) + serviceDetails(s) + "\n"
            for d in sortedDestinations(s, sort: sort) {
                out += "  -> " + left(destinationName(d, family: s.key.family), 28) + " " + left(d.forward.ipvsadmName, 7) + " "
                    + left(String(d.weight), 6) + " " + left(String(d.activeConns), 10) + " " + left(String(d.inactiveConns), 10) + "\n"
            }
        }
        return out
    }

    /// `ipvsadm -Ln --stats`.
    public static func listStats(_ t: IPVSTable, sort: Bool = true) -> String {
        var out = "\(versionLine) (size=\(t.connectionTableSize))\n"
        out += left("Prot LocalAddress:Port", 33)
        for h in ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"] { out += " " + right(h, 8) }
        out += "\n  -> RemoteAddress:Port\n"
        func numbers(_ st: IPVSStats) -> String {
            [st.conns, st.inPackets, st.outPackets, st.inBytes, st.outBytes].map(largeNumber).joined()
        }
        for s in sortedServices(t, sort: sort) {
            out += left(serviceName(s.key), 33) + numbers(s.stats) + "\n"
            for d in sortedDestinations(s, sort: sort) {
                out += "  -> " + left(destinationName(d, family: s.key.family), 28) + numbers(d.stats) + "\n"
            }
        }
        return out
    }

    /// `ipvsadm -Ln --thresholds`.
    public static func listThresholds(_ t: IPVSTable, sort: Bool = true) -> String {
        var out = "\(versionLine) (size=\(t.connectionTableSize))\n"
        out += left("Prot LocalAddress:Port", 33) + " " + ["Uthreshold", "Lthreshold", "ActiveConn", "InActConn"].map { left($0, 10) }.joined(separator: " ")
        out += "\n  -> RemoteAddress:Port\n"
        for s in sortedServices(t, sort: sort) {
            out += serviceName(s.key) + serviceDetails(s) + "\n"
            for d in sortedDestinations(s, sort: sort) {
                out += "  -> " + left(destinationName(d, family: s.key.family), 28) + " "
                    + [String(d.upperThreshold), String(d.lowerThreshold), String(d.activeConns), String(d.inactiveConns)].map { left($0, 10) }.joined(separator: " ") + "\n"
            }
        }
        return out
    }

    /// `ipvsadm -Ln --persistent-conn`.
    public static func listPersistentConnections(_ t: IPVSTable, sort: Bool = true) -> String {
        var out = "\(versionLine) (size=\(t.connectionTableSize))\n"
        out += left("Prot LocalAddress:Port", 33) + " " + left("Weight", 9) + " " + left("PersistConn", 11) + " " + left("ActiveConn", 10) + " " + left("InActConn", 10)
        out += "\n  -> RemoteAddress:Port\n"
        for s in sortedServices(t, sort: sort) {
            out += serviceName(s.key) + serviceDetails(s) + "\n"
            for d in sortedDestinations(s, sort: sort) {
                out += "  -> " + left(destinationName(d, family: s.key.family), 28) + " " + left(String(d.weight), 9) + " "
                    + left(String(d.persistConns), 11) + " " + left(String(d.activeConns), 10) + " " + left(String(d.inactiveConns), 10) + "\n"
            }
        }
        return out
    }

    /// `ipvsadm -L --timeout` (ipvsadm.c: list_timeout).
    public static func listTimeout(_ t: IPVSTable) -> String {
        "Timeout (tcp tcpfin udp): \(t.timeouts.tcp(.established)) \(t.timeouts.tcp(.finWait)) \(t.timeouts.udp)\n"
    }

    /// `ipvsadm -Lnc`: every live entry (templates included) in table order.
    public static func listConnections(_ t: IPVSTable) -> String {
        var out = "IPVS connection entries\n"
        out += "pro expire " + left("state", 11) + " " + left("source", 18) + " " + left("virtual", 18) + " destination\n"
        for e in t.entries where e.live {
            let proto: String
            switch e.key.protocol {
            case IPProtocol.tcp.rawValue: proto = "TCP"
            case IPProtocol.udp.rawValue: proto = "UDP"
            case IPProtocol.sctp.rawValue: proto = "SCTP"
            case 0: proto = "IP"
            default: proto = "?"
            }
            let remaining = max(0, (e.expires - t.now) / 1000)
            let mm = remaining / 60, ss = remaining % 60
            let expire = (mm < 10 ? "0" : "") + String(mm) + ":" + (ss < 10 ? "0" : "") + String(ss)
            let state: String
            if e.isTemplate {
                state = TemplateState(rawValue: e.state)?.name ?? "ERR!"
            } else if e.key.protocol == IPProtocol.tcp.rawValue {
                state = TCPState(rawValue: e.state)?.name ?? "ERR!"
            } else if e.key.protocol == IPProtocol.udp.rawValue {
                state = "UDP"
            } else {
                state = "NONE"
            }
            let fam = e.key.ipFamily
            let source = IPAddress(family: fam, bits: e.key.clientAddress).joined(port: e.key.clientPort)
            let virtual = IPAddress(family: fam, bits: e.key.virtualAddress).joined(port: e.key.virtualPort)
            let dest = e.destinationAddress.joined(port: e.destinationPort)
            out += left(proto, 3) + " " + left(expire, 6) + " " + left(state, 11) + " " + left(source, 18) + " " + left(virtual, 18) + " " + dest + "\n"
        }
        return out
    }

    /// `ipvsadm -S -n` (= `ipvsadm-save -n`): no header, sorted like `-L`.
    public static func save(_ t: IPVSTable, sort: Bool = true) -> String {
        var out = ""
        for s in sortedServices(t, sort: sort) {
            let svc = serviceRule(s.key)
            out += "-A \(svc) -s \(s.scheduler.rawValue)"
            if s.flags.contains(.persistent) {
                out += " -p \(s.config.timeout)"
                if s.key.family == .ipv4 {
                    if s.config.netmask != 0xFFFF_FFFF { out += " -M " + dottedMask(s.config.netmask) }
                } else if s.config.netmask != 128 {
                    out += " -M \(s.config.netmask)"
                }
            }
            if s.flags.contains(.onePacket) { out += " -o" }
            let names = s.flags.schedulerFlagNames(for: s.scheduler)
            if !names.isEmpty { out += " -b " + names.joined(separator: ",") }
            out += "\n"
            for d in sortedDestinations(s, sort: sort) {
                out += "-a \(svc) -r \(d.address.joined(port: d.port)) \(d.forward.saveSwitch) -w \(d.weight)"
                if d.forward == .tunnel { out += " --tun-type ipip" }
                out += "\n"
            }
        }
        return out
    }
}
