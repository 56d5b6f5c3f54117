import Wire

/// A line of `ipvsadm -S` text that could not be read.
public struct IPVSAdmParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public let line: Int
    public let text: String
    public let reason: String
    public var description: String { "line \(line): \(reason): \(text)" }
}

extension IPVSAdm {
    /// Reads `ipvsadm -S -n` text (`-A` and `-a` lines, as ipvsadm-restore would) into a table.
    /// Services and servers are added in the order the lines come, so the kernel list order is
    /// what `ipvsadm-restore` would produce from the same file.
    public static func parseSave(_ text: String, into table: inout IPVSTable) throws(IPVSAdmParseError) {
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") { continue }
            func fail(_ why: String) -> IPVSAdmParseError { IPVSAdmParseError(line: n + 1, text: String(line), reason: why) }
            let tok = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            var i = 0
            func next(_ what: String) throws(IPVSAdmParseError) -> Substring {
                i += 1
                guard i < tok.count else { throw fail("\(what) needs a value") }
                return tok[i]
            }
            var command: Character? = nil
            var key: ServiceKey? = nil
            var v6 = false
            var scheduler = SchedulerName.wlc
            var flags: ServiceFlags = []
            var timeout: UInt32 = 0
            var netmask: UInt32? = nil
            var real: (IPAddress, UInt16)? = nil
            var forward = ForwardMethod.route
            var weight: Int32 = 1
            var upper: UInt32 = 0, lower: UInt32 = 0
            while i < tok.count {
                let t = tok[i]
                switch t {
                case "-A", "--add-service": command = "A"
                case "-a", "--add-server": command = "a"
                case "-t", "--tcp-service", "-u", "--udp-service", "--sctp-service":
                    let v = try next(String(t))
                    guard let e = try? SocketAddress(parsing: v) else { throw fail("bad service address \"\(v)\"") }
                    let proto: IPProtocol = t == "-t" || t == "--tcp-service" ? .tcp : (t == "-u" || t == "--udp-service" ? .udp : .sctp)
                    key = ServiceKey(protocol: proto, address: e.address, port: e.port)
                case "-f", "--fwmark-service":
                    let v = try next("-f")
                    guard let m = UInt32(v), m != 0 else { throw fail("bad firewall mark \"\(v)\"") }
                    key = ServiceKey(fwmark: m)
                case "-6", "--ipv6": v6 = true
                case "-s", "--scheduler":
                    let v = try next("-s")
                    guard let s = SchedulerName(rawValue: String(v)) else { throw fail("unknown scheduler \"\(v)\"") }
                    scheduler = s
                case "-p", "--persistent":
                    flags.insert(.persistent)
                    timeout = 360  // IPVS_SVC_PERSISTENT_TIMEOUT
                    if i + 1 < tok.count, let v = UInt32(tok[i + 1]) { timeout = v; i += 1 }
                case "-M", "--netmask":
                    let v = try next("-M")
                    if let a = try? IPv4Address(parsing: v) { netmask = a.value } else if let p = UInt32(v), p <= 128 { netmask = p } else {
                        throw fail("bad netmask \"\(v)\"")
                    }
                case "-o", "--ops": flags.insert(.onePacket)
                case "-b", "--sched-flags":
                    for name in try next("-b").split(separator: ",") {
                        guard let f = ServiceFlags.parseSchedulerFlag(String(name)) else { throw fail("unknown scheduler flag \"\(name)\"") }
                        flags.insert(f)
                    }
                case "--pe": throw fail("persistence engines are not modelled")
                case "-r", "--real-server":
                    let v = try next("-r")
                    guard let e = try? SocketAddress(parsing: v) else { throw fail("bad real server \"\(v)\"") }
                    real = (e.address, e.port)
                case "-m", "--masquerading": forward = .masq
                case "-g", "--gatewaying": forward = .route
                case "-i", "--ipip": forward = .tunnel
                case "-w", "--weight":
                    let v = try next("-w")
                    guard let w = Int32(v), w >= 0, w <= 65535 else { throw fail("illegal weight \"\(v)\"") }
                    weight = w
                case "-x", "--u-threshold":
                    let v = try next("-x")
                    guard let x = UInt32(v) else { throw fail("illegal upper threshold \"\(v)\"") }
                    upper = x
                case "-y", "--l-threshold":
                    let v = try next("-y")
                    guard let y = UInt32(v) else { throw fail("illegal lower threshold \"\(v)\"") }
                    lower = y
                case "--tun-type", "--tun-port", "--tun-nocsum", "--tun-csum", "--tun-remcsum":
                    if t == "--tun-type" || t == "--tun-port" { _ = try next(String(t)) }
                default:
                    throw fail("unknown option \"\(t)\"")
                }
                i += 1
            }
            guard var k = key else { throw fail("no virtual service given") }
            if v6 && k.fwmark != 0 { k = ServiceKey(fwmark: k.fwmark, family: .ipv6) }
            switch command {
            case "A":
                let c = ServiceConfig(key: k, scheduler: scheduler, flags: flags, timeout: timeout, netmask: netmask)
                do { try table.addService(c) } catch { throw fail(error.description) }
            case "a":
                guard let svc = table.serviceIndex(k) else { throw fail(IPVSError.noSuchService.description) }
                guard let (a, p) = real else { throw fail("-a needs -r") }
                let d = DestinationConfig(address: a, port: p, weight: weight, upperThreshold: upper, lowerThreshold: lower, forward: forward)
                do { try table.addDestination(service: svc, d) } catch { throw fail(error.description) }
            default:
                throw fail("only -A and -a lines are understood")
            }
        }
    }
}

fileprivate extension StringProtocol {
    func trimmingCharacters(in set: String) -> Substring {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return s
    }
}
