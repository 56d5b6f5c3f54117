import Wire

/// What an `ipvsadm -L -n` listing was, and what reading it had to assume (said in the trace's
/// notes: the listing does not carry it).
public struct IPVSAdmListing: Sendable, Equatable {
    /// Which listing: its column header names it (ipvsadm.c: print_title).
    public enum Kind: String, Sendable {
        case list = "ipvsadm -Ln"
        case stats = "ipvsadm -Ln --stats"
        case rate = "ipvsadm -Ln --rate"
        case thresholds = "ipvsadm -Ln --thresholds"
        case persistentConnections = "ipvsadm -Ln --persistent-conn"
        /// `--stats` or `--rate` without the header (the numbers do not tell which).
        case statsOrRate = "ipvsadm -Ln --stats or --rate"
    }

    public var kind: Kind
    public var notes: [String]
}

/// The two ipvsadm texts people paste for a node's IPVS: `ipvsadm -S -n` rules and
/// `ipvsadm -L -n` listings.
public enum IPVSAdmFormat: String, Sendable {
    case save = "ipvsadm -S"
    case list = "ipvsadm -Ln"

    /// From the first line that is neither blank nor a comment: `-A`/`-a` (or their long
    /// spellings) is `-S`; anything else is a listing.
    /// - Complexity: O(k) in the bytes up to that line (`firstContentLine`).
    public static func detect(_ text: String) -> IPVSAdmFormat {
        guard let line = text.firstContentLine else { return .save }
        return line.hasPrefix("-") && !line.hasPrefix("->") ? .save : .list
    }
}

extension IPVSAdm {
    /// Reads either ipvsadm text (`IPVSAdmFormat.detect`) into `table`; returns what a listing
    /// made kdp assume (nothing for `-S`).
    public static func parseDump(_ text: String, into table: inout IPVSTable) throws(IPVSAdmParseError) -> [String] {
        switch IPVSAdmFormat.detect(text) {
        case .save:
            try parseSave(text, into: &table)
            return []
        case .list:
            return try parseList(text, into: &table).notes
        }
    }

    /// Reads `ipvsadm -L -n` output, with or without its two header lines, as print_title and
    /// print_service_entry (ipvsadm.c) write it: the plain listing (scheduler, flags,
    /// `persistent N [mask M]`, `ops`; per server Forward, Weight, ActiveConn, InActConn), and
    /// the `--stats`, `--rate`, `--thresholds` and `--persistent-conn` listings.
    ///
    /// What a listing does not carry is assumed and returned as notes: `--stats` and `--rate`
    /// give no scheduler (ipvsadm's default wlc), forwarding method or weight (kube-proxy's Masq
    /// and 1); open connections (ActiveConn, InActConn) are counted, not loaded; rr and wrr
    /// walk the servers in the order added, which a sorted listing does not record.
    public static func parseList(_ text: String, into table: inout IPVSTable) throws(IPVSAdmParseError) -> IPVSAdmListing {
        var kind: IPVSAdmListing.Kind?
        var service: Int32?
        var serviceFamily = IPFamily.ipv4
        var openConnections: UInt64 = 0
        var servicesWithoutScheduler = 0, serversWithoutForward = 0
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let tok = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = tok.first, !first.hasPrefix("#") else { continue }
            func fail(_ why: String) -> IPVSAdmParseError {
                IPVSAdmParseError(line: n + 1, text: String(line.prefix(80)), reason: why)
            }
            if line.hasPrefix("IP Virtual Server version") {
                if let open = line.firstIndex(of: "("), line.hasSuffix(")"),
                   line[open...].hasPrefix("(size="), let size = Int(line[line.index(open, offsetBy: 6)..<line.index(before: line.endIndex)]),
                   size > 0, size <= 1 << 20 {
                    table.connectionTableSize = size
                } else {
                    throw fail("version line is 'IP Virtual Server version X.Y.Z (size=N)'")
                }
                continue
            }
            if first == "Prot" {
                let header: IPVSAdmListing.Kind
                if tok.contains("Scheduler") { header = .list } else if tok.contains("Conns") { header = .stats } else if tok.contains("CPS") {
                    header = .rate
                } else if tok.contains("Uthreshold") { header = .thresholds } else if tok.contains("PersistConn") {
                    header = .persistentConnections
                } else { throw fail("unknown listing header") }
                if let kind, kind != header { throw fail("a \(header.rawValue) header after a \(kind.rawValue) listing") }
                kind = header
                continue
            }
            if first == "->" {
                if tok.count >= 2 && tok[1] == "RemoteAddress:Port" { continue }  // the header's second line
                guard let svc = service else { throw fail("a real server before any virtual service") }
                guard tok.count >= 2, let rs = try? SocketAddress(parsing: tok[1]) else {
                    throw fail("real server is ADDRESS:PORT (numeric, as ipvsadm -n prints it)")
                }
                let numbers = Array(tok.dropFirst(2))
                var d = DestinationConfig(address: rs.address, port: rs.port)
                var stats: IPVSStats?
                let k = kind ?? (numbers.first.map { Self.forwardMethod($0) != nil } == true ? .list : nil)
                switch k {
                case .list:
                    guard numbers.count == 4, let fwd = Self.forwardMethod(numbers[0]) else {
                        throw fail("real server line is '-> ADDRESS:PORT Forward Weight ActiveConn InActConn'")
                    }
                    guard let w = Int32(numbers[1]), w >= 0, w <= 65535 else { throw fail("illegal weight \"\(numbers[1])\"") }
                    guard let a = UInt64(numbers[2]), let i = UInt64(numbers[3]) else { throw fail("connection counts are numbers") }
                    d.forward = fwd
                    d.weight = w
                    openConnections += a + i
                case .thresholds:
                    guard numbers.count == 4, let u = UInt32(numbers[0]), let l = UInt32(numbers[1]),
                          let a = UInt64(numbers[2]), let i = UInt64(numbers[3]) else {
                        throw fail("real server line is '-> ADDRESS:PORT Uthreshold Lthreshold ActiveConn InActConn'")
                    }
                    d.upperThreshold = u
                    d.lowerThreshold = l
                    openConnections += a + i
                    serversWithoutForward += 1
                case .persistentConnections:
                    guard numbers.count == 4, let w = Int32(numbers[0]), w >= 0, w <= 65535, UInt64(numbers[1]) != nil,
                          let a = UInt64(numbers[2]), let i = UInt64(numbers[3]) else {
                        throw fail("real server line is '-> ADDRESS:PORT Weight PersistConn ActiveConn InActConn'")
                    }
                    d.weight = w
                    openConnections += a + i
                    serversWithoutForward += 1
                case .stats, .rate, .statsOrRate:
                    guard numbers.count == 5 else { throw fail("real server line is '-> ADDRESS:PORT' and five numbers") }
                    stats = try Self.statNumbers(numbers, kind: k!, fail)
                    serversWithoutForward += 1
                case nil:
                    throw fail("cannot tell which ipvsadm -L listing this is: paste it with its header lines")
                }
                if d.address.family != serviceFamily { throw fail("real server \(d.address) is not of the service's address family") }
                do { try table.addDestination(service: svc, d) } catch { throw fail(error.description) }
                if let stats, let slot = table.services[Int(svc)].slot(of: d.address, port: d.port) {
                    table.setStats(service: svc, slot: slot, stats)
                }
                continue
            }
            // A virtual service: `PROT ADDRESS:PORT ...` or `FWM MARK [IPv6] ...`.
            var i = 2
            let key: ServiceKey
            switch first {
            case "TCP", "UDP", "SCTP":
                guard tok.count >= 2, let e = try? SocketAddress(parsing: tok[1]) else {
                    throw fail("virtual service is PROTOCOL ADDRESS:PORT (numeric, as ipvsadm -n prints it)")
                }
                key = ServiceKey(protocol: first == "TCP" ? .tcp : first == "UDP" ? .udp : .sctp, address: e.address, port: e.port)
            case "FWM":
                guard tok.count >= 2, let m = UInt32(tok[1]), m != 0 else { throw fail("bad firewall mark") }
                var family = IPFamily.ipv4
                if tok.count > 2 && tok[2] == "IPv6" { family = .ipv6; i = 3 }
                key = ServiceKey(fwmark: m, family: family)
            default:
                throw fail("not a line of ipvsadm -L -n output")
            }
            serviceFamily = key.family
            let rest = Array(tok[i...])
            var config = ServiceConfig(key: key, scheduler: .wlc)
            var stats: IPVSStats?
            let k = kind ?? (rest.first.map { SchedulerName(rawValue: String($0)) != nil || !$0.allSatisfy(\.isNumber) } == true ? nil : .statsOrRate)
            if k == .stats || k == .rate || k == .statsOrRate {
                guard rest.count == 5 else { throw fail("virtual service line is 'PROTOCOL ADDRESS:PORT' and five numbers") }
                stats = try Self.statNumbers(rest, kind: k!, fail)
                if kind == nil { kind = .statsOrRate }
                servicesWithoutScheduler += 1
            } else {
                config = try Self.serviceDetails(rest, key: key, fail)
            }
            do { service = try table.addService(config) } catch { throw fail(error.description) }
            if let stats { table.setStats(service: service!, stats) }
        }
        let k = kind ?? .list
        var notes: [String] = []
        if servicesWithoutScheduler > 0 {
            notes.append("\(k.rawValue) gives no scheduler: wlc assumed (ipvsadm's default) for \(servicesWithoutScheduler) virtual service\(servicesWithoutScheduler == 1 ? "" : "s")")
        }
        if serversWithoutForward > 0 {
            let weight = k == .persistentConnections ? "" : " and weight 1"
            notes.append("\(k.rawValue) gives no forwarding method\(weight): Masq\(weight) assumed (kube-proxy's) for \(serversWithoutForward) real server\(serversWithoutForward == 1 ? "" : "s")")
        }
        let walked = table.services.filter { ($0.scheduler == .rr || $0.scheduler == .wrr) && $0.destinations.count > 1 }.count
        if walked > 0 {
            notes.append("\(k.rawValue) sorts real servers (unless --nosort), so the kernel's list order is not in it: kdp adds them as listed, "
                + "as ipvsadm -a would, and rr/wrr walk that order (\(walked) virtual service\(walked == 1 ? "" : "s"))")
        }
        if openConnections > 0 {
            notes.append("\(k.rawValue) lists \(openConnections) open connection\(openConnections == 1 ? "" : "s") (ActiveConn + InActConn): not loaded, kdp schedules as if none were open")
        }
        return IPVSAdmListing(kind: k, notes: notes)
    }

    /// `SCHED [(flag,...)] [persistent N [mask M] [pe NAME]] [ops]` after the service name.
    static func serviceDetails(_ rest: [Substring], key: ServiceKey,
                               _ fail: (String) -> IPVSAdmParseError) throws(IPVSAdmParseError) -> ServiceConfig {
        guard let schedWord = rest.first else { throw fail("virtual service line needs a scheduler") }
        guard let scheduler = SchedulerName(rawValue: String(schedWord)) else {
            throw fail("scheduler \"\(schedWord)\" is not emulated (kdp has \(SchedulerName.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var flags: ServiceFlags = []
        var timeout: UInt32 = 0
        var netmask: UInt32?
        var j = 1
        if j < rest.count, rest[j].hasPrefix("("), rest[j].hasSuffix(")") {
            for name in rest[j].dropFirst().dropLast().split(separator: ",") {
                guard let f = ServiceFlags.parseSchedulerFlag(String(name)) else { throw fail("unknown scheduler flag \"\(name)\"") }
                flags.insert(f)
            }
            j += 1
        }
        if j < rest.count, rest[j] == "persistent" {
            guard j + 1 < rest.count, let t = UInt32(rest[j + 1]) else { throw fail("persistent needs a timeout") }
            flags.insert(.persistent)
            timeout = t
            j += 2
            if j < rest.count, rest[j] == "mask" {
                guard j + 1 < rest.count else { throw fail("mask needs a value") }
                let v = rest[j + 1]
                if key.family == .ipv4, let a = try? IPv4Address(parsing: v) {
                    netmask = a.value
                } else if key.family == .ipv6, let p = UInt32(v), p <= 128 {
                    netmask = p
                } else {
                    throw fail("bad persistence mask \"\(v)\"")
                }
                j += 2
            }
            if j < rest.count, rest[j] == "pe" { throw fail("persistence engines are not modelled") }
        }
        if j < rest.count, rest[j] == "ops" { flags.insert(.onePacket); j += 1 }
        guard j == rest.count else { throw fail("unexpected \"\(rest[j])\" after the scheduler") }
        return ServiceConfig(key: key, scheduler: scheduler, flags: flags, timeout: timeout, netmask: netmask)
    }

    /// The Forward column (ipvsadm.c: fwd_name).
    static func forwardMethod(_ name: Substring) -> ForwardMethod? {
        ForwardMethod.allCases.first { $0.ipvsadmName == name }
    }

    /// Five print_largenum numbers (`123`, `4567K`, `89M`...). A `--stats` listing gives
    /// Conns, InPkts, OutPkts, InBytes, OutBytes; a `--rate` one gives rates, kept in the same
    /// fields (they are only shown).
    static func statNumbers(_ words: [Substring], kind: IPVSAdmListing.Kind,
                            _ fail: (String) -> IPVSAdmParseError) throws(IPVSAdmParseError) -> IPVSStats {
        var v: [UInt64] = []
        for w in words {
            var digits = w
            var scale: UInt64 = 1
            switch w.last {
            case "K": scale = 1000
            case "M": scale = 1_000_000
            case "G": scale = 1_000_000_000
            case "T": scale = 1_000_000_000_000
            default: break
            }
            if scale != 1 { digits = w.dropLast() }
            guard let x = UInt64(digits), x <= UInt64.max / scale else { throw fail("bad number \"\(w)\" in a \(kind.rawValue) listing") }
            v.append(x * scale)
        }
        return IPVSStats(conns: v[0], inPackets: v[1], outPackets: v[2], inBytes: v[3], outBytes: v[4])
    }
}
