import IPVS
import Wire
import Yams

/// Why a scenario was rejected: where (the top-level key, and the event or setup index, and the
/// line and column of the YAML node) and what. `kdp ipvs simulate` prints it as one line,
/// `FILE:LINE:COLUMN: event 3: message`, and exits 2.
public struct ScenarioError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `kernel`, `sysctl`, `service`, `setup`, `events` or `yaml`.
    public let section: String
    /// The step index within `setup` / `events`, when the problem is in one.
    public let index: Int?
    /// From 1, when known.
    public let line: Int?
    /// From 1, when known.
    public let column: Int?
    public let message: String

    public init(section: String, index: Int? = nil, line: Int? = nil, column: Int? = nil, _ message: String) {
        self.section = section
        self.index = index
        self.line = line
        self.column = column
        self.message = message
    }

    /// Where in the scenario and what, without the line: `event 3: message`.
    public var summary: String {
        if section == "yaml" { return message }
        var at = section == "events" ? "event" : section
        if let i = index { at += " \(i)" }
        return "\(at): \(message)"
    }

    public var description: String {
        var at = section == "events" ? "event" : section
        if let i = index { at += " \(i)" }
        if let l = line { at += " (line \(l))" }
        return "\(at): \(message)"
    }
}

/// One step of a scenario's `setup` or `events`.
public enum ScenarioStep: Sendable, Equatable {
    case addDest(DestinationConfig)
    case setWeight(address: IPAddress, port: UInt16, weight: Int32)
    case delDest(address: IPAddress, port: UInt16)
    /// A TCP SYN and the handshake (or the first UDP datagram).
    case connect(client: IPAddress, port: UInt16)
    /// Client FIN, server FIN, client ACK.
    case close(client: IPAddress, port: UInt16)
    /// The client's entry times out now and is removed.
    case expire(client: IPAddress, port: UInt16)
    case checkCounts
    /// kdp extension: advance the clock, firing due timers.
    case advance(seconds: Int64)

    public var op: String {
        switch self {
        case .addDest: "add_dest"
        case .setWeight: "set_weight"
        case .delDest: "del_dest"
        case .connect: "connect"
        case .close: "close"
        case .expire: "expire"
        case .checkCounts: "check_counts"
        case .advance: "advance"
        }
    }
}

/// A `kdp ipvs simulate` scenario (issue #6): one virtual service, its setup, and events.
public struct IPVSScenario: Sendable, Equatable {
    public var hashVariant: HashVariant = .hash32
    public var sysctls = IPVSSysctls()
    public var service: ServiceConfig
    public var setup: [ScenarioStep] = []
    public var events: [ScenarioStep] = []

    public init(hashVariant: HashVariant = .hash32, sysctls: IPVSSysctls = IPVSSysctls(), service: ServiceConfig,
                setup: [ScenarioStep] = [], events: [ScenarioStep] = []) {
        self.hashVariant = hashVariant
        self.sysctls = sysctls
        self.service = service
        self.setup = setup
        self.events = events
    }

    /// Decodes scenario YAML (JSON is YAML too). Unknown keys, ops, schedulers and flags, and
    /// malformed addresses are errors naming the section, step index and line.
    public static func decode(_ text: String) throws(ScenarioError) -> IPVSScenario {
        let root: Node
        do {
            guard let n = try Yams.compose(yaml: text) else { throw ScenarioError(section: "yaml", "the scenario is empty") }
            root = n
        } catch let e as ScenarioError {
            throw e
        } catch let e as YamlError {
            throw yamlError(e, text: text)
        } catch {
            throw ScenarioError(section: "yaml", "cannot parse")
        }
        let top = try ScenarioReader(section: "scenario", index: nil).mapping(root, allowed: ["kernel", "sysctl", "service", "setup", "events"])

        var kernelHash = HashVariant.hash32
        if let k = top["kernel"] {
            let r = ScenarioReader(section: "kernel", index: nil)
            let m = try r.mapping(k, allowed: ["hash_variant"])
            if let v = m["hash_variant"] {
                let s = try r.string(v, "hash_variant")
                guard let h = HashVariant(rawValue: s) else { throw r.error(v, "hash_variant must be hash32 or legacy, found \"\(Excerpt.quote(s))\"") }
                kernelHash = h
            }
        }

        var sysctls = IPVSSysctls()
        if let s = top["sysctl"] {
            let r = ScenarioReader(section: "sysctl", index: nil)
            let m = try r.mapping(s, allowed: ["conn_reuse_mode", "expire_nodest_conn", "expire_quiescent_template"])
            if let v = m["conn_reuse_mode"] { sysctls.connReuseMode = try r.int(v, "conn_reuse_mode", 0...3) }
            if let v = m["expire_nodest_conn"] { sysctls.expireNodestConn = try r.int(v, "expire_nodest_conn", 0...1) == 1 }
            if let v = m["expire_quiescent_template"] { sysctls.expireQuiescentTemplate = try r.int(v, "expire_quiescent_template", 0...1) == 1 }
        }

        guard let svcNode = top["service"] else { throw ScenarioError(section: "service", "the scenario needs a service") }
        let service = try decodeService(svcNode)

        var setup: [ScenarioStep] = []
        if let s = top["setup"] {
            for (i, n) in try ScenarioReader(section: "setup", index: nil).sequence(s, "setup").enumerated() {
                setup.append(try decodeStep(n, reader: ScenarioReader(section: "setup", index: i), family: service.key.family))
            }
        }
        var events: [ScenarioStep] = []
        if let e = top["events"] {
            for (i, n) in try ScenarioReader(section: "events", index: nil).sequence(e, "events").enumerated() {
                events.append(try decodeStep(n, reader: ScenarioReader(section: "events", index: i), family: service.key.family))
            }
        }
        return IPVSScenario(hashVariant: kernelHash, sysctls: sysctls, service: service, setup: setup, events: events)
    }

    /// libyaml's error as one short line at its position: its problem, never the input (Yams'
    /// own description quotes the whole text).
    static func yamlError(_ e: YamlError, text: String) -> ScenarioError {
        switch e {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let why = context.map { "\(problem) (\($0.text) at line \($0.mark.line))" } ?? problem
            return ScenarioError(section: "yaml", line: mark.line, column: mark.column, "invalid YAML: \(why)")
        case .reader(let problem, let offset, _, _):
            guard let offset else { return ScenarioError(section: "yaml", "invalid YAML: \(problem)") }
            // The byte offset as a line and column (columns count characters).
            var line = 1, lineStart = 0, i = 0
            for b in text.utf8 {
                if i >= offset { break }
                if b == UInt8(ascii: "\n") { line += 1; lineStart = i + 1 }
                i += 1
            }
            let prefix = text.utf8.dropFirst(lineStart).prefix(max(0, offset - lineStart))
            let column = (String(prefix) ?? "").unicodeScalars.count + 1
            return ScenarioError(section: "yaml", line: line, column: column, "invalid YAML: \(problem)")
        default:
            return ScenarioError(section: "yaml", "invalid YAML")
        }
    }

    static func decodeService(_ node: Node) throws(ScenarioError) -> ServiceConfig {
        let r = ScenarioReader(section: "service", index: nil)
        let m = try r.mapping(node, allowed: ["protocol", "vip", "port", "scheduler", "flags", "persistent_timeout", "netmask"])
        var proto = IPProtocol.tcp
        if let p = m["protocol"] {
            let s = try r.string(p, "protocol").lowercased()
            switch s {
            case "tcp": proto = .tcp
            case "udp": proto = .udp
            case "sctp": throw r.error(p, "sctp is not modelled (its state table differs)")
            default: throw r.error(p, "protocol must be tcp or udp, found \"\(Excerpt.quote(s))\"")
            }
        }
        guard let vipNode = m["vip"] else { throw r.error(node, "service needs a vip") }
        let vipText = try r.string(vipNode, "vip")
        let vip: IPAddress
        do { vip = try IPAddress(parsing: vipText) } catch { throw r.error(vipNode, "malformed vip: \(error.reason)") }
        guard let portNode = m["port"] else { throw r.error(node, "service needs a port") }
        let port = UInt16(try r.int(portNode, "port", 0...65535))
        guard let schedNode = m["scheduler"] else { throw r.error(node, "service needs a scheduler") }
        let schedText = try r.string(schedNode, "scheduler")
        guard let sched = SchedulerName(rawValue: schedText) else {
            throw r.error(schedNode, "unknown scheduler \"\(Excerpt.quote(schedText))\" (rr, wrr, lc, wlc, sed, nq, sh, dh, mh)")
        }
        var flags: ServiceFlags = []
        if let f = m["flags"] {
            for n in try r.sequence(f, "flags") {
                let name = try r.string(n, "flag")
                if name == "ops" { flags.insert(.onePacket); continue }
                guard let fl = ServiceFlags.parseSchedulerFlag(name) else { throw r.error(n, "unknown flag \"\(Excerpt.quote(name))\"") }
                flags.insert(fl)
            }
        }
        var timeout: UInt32 = 0
        if let t = m["persistent_timeout"], !ScenarioReader.isNull(t) {
            timeout = UInt32(try r.int(t, "persistent_timeout", 1...Int(UInt32.max)))
            flags.insert(.persistent)
        }
        var netmask: UInt32? = nil
        if let nm = m["netmask"], !ScenarioReader.isNull(nm) {
            let s = try r.string(nm, "netmask")
            if vip.family == .ipv4 {
                guard let a = try? IPv4Address(parsing: s) else { throw r.error(nm, "malformed netmask \"\(Excerpt.quote(s))\"") }
                let v = a.value
                guard (~v &+ 1) & ~v == 0 || v == 0 else { throw r.error(nm, "netmask \(Excerpt.quote(s)) is not contiguous") }
                netmask = v
            } else {
                guard let p = UInt32(s), p <= 128 else { throw r.error(nm, "IPv6 netmask must be a prefix length 0-128") }
                netmask = p
            }
        }
        return ServiceConfig(key: ServiceKey(protocol: proto, address: vip, port: port), scheduler: sched, flags: flags,
                             timeout: timeout, netmask: netmask)
    }

    static func decodeStep(_ node: Node, reader r: ScenarioReader, family: IPFamily) throws(ScenarioError) -> ScenarioStep {
        let m = try r.mapping(node, allowed: nil)
        guard let opNode = m["op"] else { throw r.error(node, "step has no op") }
        let op = try r.string(opNode, "op")
        func keys(_ allowed: Set<String>) throws(ScenarioError) {
            for k in m.keys where k != "op" && !allowed.contains(k) { throw r.error(node, "\(Excerpt.quote(op)) does not take \"\(Excerpt.quote(k))\"") }
        }
        func endpoint(_ key: String) throws(ScenarioError) -> (IPAddress, UInt16) {
            guard let n = m[key] else { throw r.error(node, "\(op) needs \(key)") }
            let s = try r.string(n, key)
            guard let e = try? SocketAddress(parsing: s) else { throw r.error(n, "malformed address \"\(Excerpt.quote(s))\" (want ip:port)") }
            guard e.address.family == family else { throw r.error(n, "\(Excerpt.quote(s)) is not of the service's address family") }
            return (e.address, e.port)
        }
        func weight(_ required: Bool) throws(ScenarioError) -> Int32 {
            guard let n = m["weight"] else {
                if required { throw r.error(node, "\(op) needs weight") }
                return 1
            }
            return Int32(try r.int(n, "weight", 0...65535))
        }
        switch op {
        case "add_dest":
            try keys(["server", "weight", "u_threshold", "l_threshold", "forward"])
            let (a, p) = try endpoint("server")
            var d = DestinationConfig(address: a, port: p, weight: try weight(false))
            if let u = m["u_threshold"] { d.upperThreshold = UInt32(try r.int(u, "u_threshold", 0...Int(Int32.max))) }
            if let l = m["l_threshold"] { d.lowerThreshold = UInt32(try r.int(l, "l_threshold", 0...Int(Int32.max))) }
            if let f = m["forward"] {
                let s = try r.string(f, "forward").lowercased()
                switch s {
                case "masq", "nat", "m": d.forward = .masq
                case "route", "dr", "g": d.forward = .route
                case "tunnel", "tun", "ipip", "i": d.forward = .tunnel
                case "local": d.forward = .local
                default: throw r.error(f, "forward must be masq, route, tunnel or local, found \"\(Excerpt.quote(s))\"")
                }
            }
            return .addDest(d)
        case "set_weight":
            try keys(["server", "weight"])
            let (a, p) = try endpoint("server")
            return .setWeight(address: a, port: p, weight: try weight(true))
        case "del_dest":
            try keys(["server"])
            let (a, p) = try endpoint("server")
            return .delDest(address: a, port: p)
        case "connect", "close", "expire":
            try keys(["client"])
            let (a, p) = try endpoint("client")
            return op == "connect" ? .connect(client: a, port: p) : op == "close" ? .close(client: a, port: p) : .expire(client: a, port: p)
        case "check_counts":
            try keys([])
            return .checkCounts
        case "advance":
            try keys(["seconds"])
            guard let n = m["seconds"] else { throw r.error(node, "advance needs seconds") }
            return .advance(seconds: Int64(try r.int(n, "seconds", 0...Int(Int32.max))))
        default:
            throw r.error(opNode, "unknown op \"\(Excerpt.quote(op))\"")
        }
    }
}

/// Shape-checked access to YAML nodes that reports the section, step index and line.
struct ScenarioReader {
    let section: String
    let index: Int?

    func error(_ node: Node, _ message: String) -> ScenarioError {
        ScenarioError(section: section, index: index, line: node.mark.map { $0.line }, column: node.mark.map { $0.column }, message)
    }

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let s) = node else { return false }
        return s.style == .plain && (s.string.isEmpty || s.string == "~" || s.string == "null" || s.string == "Null")
    }

    func mapping(_ node: Node, allowed: Set<String>?) throws(ScenarioError) -> [String: Node] {
        guard case .mapping(let map) = node else { throw error(node, "expected a mapping") }
        var out: [String: Node] = [:]
        for (k, v) in map {
            guard case .scalar(let ks) = k else { throw error(k, "keys must be strings") }
            if let allowed, !allowed.contains(ks.string) {
                throw error(k, "unknown key \"\(Excerpt.quote(ks.string))\" (allowed: \(allowed.sorted().joined(separator: ", ")))")
            }
            out[ks.string] = v
        }
        return out
    }

    func sequence(_ node: Node, _ what: String) throws(ScenarioError) -> [Node] {
        if Self.isNull(node) { return [] }
        guard case .sequence(let seq) = node else { throw error(node, "\(what) must be a list") }
        return Array(seq)
    }

    func string(_ node: Node, _ what: String) throws(ScenarioError) -> String {
        guard case .scalar(let s) = node else { throw error(node, "\(what) must be a value") }
        return s.string
    }

    func int(_ node: Node, _ what: String, _ range: ClosedRange<Int>) throws(ScenarioError) -> Int {
        guard case .scalar(let s) = node, let n = Int(s.string) else { throw error(node, "\(what) must be a whole number") }
        guard range.contains(n) else { throw error(node, "\(what) must be \(range.lowerBound)-\(range.upperBound), found \(n)") }
        return n
    }
}
