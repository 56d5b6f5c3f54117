import IPVS
import Wire

/// What a `connect` event came to (issue #6 result vocabulary).
public enum ConnectOutcome: String, Sendable {
    /// The scheduler picked a server and a new entry was made.
    case new
    /// An existing entry pinned the connection.
    case existing
    /// The scheduler found no server (ICMP port unreachable).
    case noDest = "no_dest"
    /// The kernel dropped the packet (entry on a deleted server, `expire_nodest_conn=0`).
    case drop
}

/// Counters of one server as `check_counts` reports them.
public struct ServerCounts: Sendable, Equatable {
    public var active: Int32
    public var inactive: Int32
    public var persist: Int32
}

/// One event's result.
public enum ScenarioResult: Sendable, Equatable {
    case connect(client: String, server: String?, outcome: ConnectOutcome)
    /// Servers as `ip:port`, in ipvsadm's sort order.
    case counts([(server: String, counts: ServerCounts)])
    case done(op: String)

    public static func == (a: ScenarioResult, b: ScenarioResult) -> Bool {
        switch (a, b) {
        case let (.connect(c1, s1, o1), .connect(c2, s2, o2)): return c1 == c2 && s1 == s2 && o1 == o2
        case let (.counts(x), .counts(y)): return x.map(\.server) == y.map(\.server) && x.map(\.counts) == y.map(\.counts)
        case let (.done(x), .done(y)): return x == y
        default: return false
        }
    }
}

/// The outcome of a scenario: one result per event, and the table at the end.
public struct ScenarioRun: Sendable {
    public var results: [ScenarioResult]
    public var table: IPVSTable
    public var serviceIndex: Int32
    /// Human-readable lines, one per setup step and event.
    public var log: [String]
}

/// Plays an `IPVSScenario` against a fresh `IPVSTable`.
public enum ScenarioRunner {
    /// The latest time a scenario's clock may reach, in seconds: 10^12.
    public static let maximumClockSeconds: Int64 = 1_000_000_000_000

    /// Runs the setup (against the empty service) and then the events, in order. Each event
    /// advances nothing by itself: the clock moves only with `advance`; `expire` fires one
    /// entry's timer now.
    public static func run(_ s: IPVSScenario) throws(ScenarioError) -> ScenarioRun {
        var t = IPVSTable(hashVariant: s.hashVariant, sysctls: s.sysctls)
        let svc: Int32
        do { svc = try t.addService(s.service) } catch { throw ScenarioError(section: "service", error.description) }
        var log: [String] = []
        for (i, step) in s.setup.enumerated() {
            _ = try apply(step, to: &t, service: svc, section: "setup", index: i, log: &log)
        }
        var results: [ScenarioResult] = []
        for (i, step) in s.events.enumerated() {
            results.append(try apply(step, to: &t, service: svc, section: "events", index: i, log: &log))
        }
        return ScenarioRun(results: results, table: t, serviceIndex: svc, log: log)
    }

    static func apply(_ step: ScenarioStep, to t: inout IPVSTable, service svc: Int32, section: String, index: Int,
                      log: inout [String]) throws(ScenarioError) -> ScenarioResult {
        let tag = section == "events" ? "[\(index)]" : "setup[\(index)]"
        func fail(_ m: String) -> ScenarioError { ScenarioError(section: section, index: index, m) }
        let config = t.services[Int(svc)].config
        switch step {
        case .addDest(let d):
            do { try t.addDestination(service: svc, d) } catch { throw fail("add_dest \(d.address.joined(port: d.port)): \(error)") }
            log.append("\(tag) add_dest \(d.address.joined(port: d.port)) weight \(d.weight) \(d.forward.ipvsadmName)")
            return .done(op: step.op)
        case .setWeight(let a, let p, let w):
            guard let slot = t.services[Int(svc)].slot(of: a, port: p), t.services[Int(svc)].servers[Int(slot)].available else {
                throw fail("set_weight \(a.joined(port: p)): \(IPVSError.noSuchDestination)")
            }
            let s = t.services[Int(svc)].servers[Int(slot)]
            let d = DestinationConfig(address: a, port: p, weight: w, upperThreshold: s.upperThreshold, lowerThreshold: s.lowerThreshold, forward: s.forward)
            do { try t.editDestination(service: svc, d) } catch { throw fail("set_weight \(a.joined(port: p)): \(error)") }
            log.append("\(tag) set_weight \(a.joined(port: p)) \(w)")
            return .done(op: step.op)
        case .delDest(let a, let p):
            do { try t.deleteDestination(service: svc, address: a, port: p) } catch { throw fail("del_dest \(a.joined(port: p)): \(error)") }
            log.append("\(tag) del_dest \(a.joined(port: p))")
            return .done(op: step.op)
        case .connect(let a, let p):
            let client = a.joined(port: p)
            var pkt = IPVSPacket(protocol: config.key.protocol, source: a, sourcePort: p, destination: config.key.address,
                                 destinationPort: config.key.port, tcpFlags: config.key.protocol == .tcp ? [.syn] : [])
            let verdict = t.input(pkt)
            let outcome: ConnectOutcome
            var server: String? = nil
            switch verdict {
            case .forwarded(let cp, let scheduled):
                outcome = scheduled ? .new : .existing
                let e = t.entries[Int(cp)]
                server = e.destinationAddress.joined(port: e.destinationPort)
                if config.key.protocol == .tcp {
                    t.output(connection: cp, flags: [.syn, .ack])  // SYN+ACK; seen only for NAT
                    pkt.tcpFlags = [.ack]
                    _ = t.input(pkt)
                }
            case .noDestination: outcome = .noDest
            case .dropped, .passed: outcome = .drop
            }
            log.append("\(tag) connect \(client) -> \(server ?? "-") (\(outcome.rawValue))")
            return .connect(client: client, server: server, outcome: outcome)
        case .close(let a, let p):
            guard config.key.protocol == .tcp else { throw fail("close applies to TCP services") }
            let key = ConnectionKey(protocol: .tcp, client: a, clientPort: p, virtual: config.key.address, virtualPort: config.key.port)
            let cp = t.connectionIndex(key)
            guard cp >= 0 else { throw fail("close for unknown client \(a.joined(port: p))") }
            var pkt = IPVSPacket(protocol: .tcp, source: a, sourcePort: p, destination: config.key.address,
                                 destinationPort: config.key.port, tcpFlags: [.fin, .ack])
            _ = t.input(pkt)
            let now = t.connectionIndex(key)
            if now >= 0 { t.output(connection: now, flags: [.fin, .ack]) }
            pkt.tcpFlags = [.ack]
            _ = t.input(pkt)
            let state = now >= 0 ? (t.entries[Int(now)].tcpState?.name ?? "?") : "gone"
            log.append("\(tag) close \(a.joined(port: p)) -> \(state)")
            return .done(op: step.op)
        case .expire(let a, let p):
            let key = ConnectionKey(protocol: config.key.protocol, client: a, clientPort: p, virtual: config.key.address, virtualPort: config.key.port)
            let cp = t.connectionIndex(key)
            guard cp >= 0 else { throw fail("expire for unknown client \(a.joined(port: p))") }
            t.expire(connection: cp)
            log.append("\(tag) expire \(a.joined(port: p))")
            return .done(op: step.op)
        case .checkCounts:
            let c = counts(t, service: svc)
            log.append("\(tag) check_counts " + c.map { "\($0.server) a=\($0.counts.active) i=\($0.counts.inactive) p=\($0.counts.persist)" }.joined(separator: ", "))
            return .counts(c)
        case .advance(let secs):
            // Each advance is at most 2^31 s; their sum is bounded too, so the millisecond clock
            // (and every timer armed on it) stays far from Int64's end.
            guard t.now / 1000 + secs <= maximumClockSeconds else {
                throw fail("advance \(secs): the clock would pass \(maximumClockSeconds) s (about 31,700 years), kdp's bound for a scenario")
            }
            t.advance(bySeconds: secs)
            log.append("\(tag) advance \(secs)s (now \(t.now / 1000)s)")
            return .done(op: step.op)
        }
    }

    /// Counters of the service's servers in ipvsadm order; servers already deleted but still
    /// holding connections are listed after them.
    public static func counts(_ t: IPVSTable, service svc: Int32) -> [(server: String, counts: ServerCounts)] {
        let s = t.services[Int(svc)]
        var out = IPVSAdm.sortedDestinations(s, sort: true).map {
            (server: $0.endpoint, counts: ServerCounts(active: $0.activeConns, inactive: $0.inactiveConns, persist: $0.persistConns))
        }
        for d in s.servers where !d.available && (d.activeConns != 0 || d.inactiveConns != 0 || d.persistConns != 0) {
            out.append((server: d.endpoint, counts: ServerCounts(active: d.activeConns, inactive: d.inactiveConns, persist: d.persistConns)))
        }
        return out
    }
}
