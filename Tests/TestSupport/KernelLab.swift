import Foundation
import Netfilter
import Wire

/// A throwaway lab on the real kernel: three fresh network namespaces with unique names —
/// client (10.99.1.2) — node (10.99.1.1 | 10.99.2.1) — server (10.99.2.2) — joined only to
/// each other by veth pairs created inside them. Rules load into the node with
/// iptables-restore; probes are single bounded connections between the namespaces; the
/// node's conntrack table is the kernel's answer. Nothing touches the host's own interfaces,
/// rules or routes, and `close()` deletes everything.
public final class KernelLab {
    /// The namespaces' names, for `exec` and scripts.
    public let client: String, node: String, server: String
    private let namespaces: [NetworkNamespace]
    private var servers: [Process] = []
    private var monitor: Process?
    private var traceFile: URL?

    /// Whether lab checks run (see `KernelCheck`).
    public static var enabled: Bool { KernelCheck.labEnabled }

    public init() throws {
        namespaces = [try NetworkNamespace("lab-c"), try NetworkNamespace("lab-n"), try NetworkNamespace("lab-s")]
        client = namespaces[0].name
        node = namespaces[1].name
        server = namespaces[2].name
        let (c, n, s) = (client, node, server)
        try Shell.sh("""
        ip -n \(n) link add n1 type veth peer name c0 netns \(c) &&
        ip -n \(n) link add n2 type veth peer name s0 netns \(s) &&
        ip -n \(n) addr add 10.99.1.1/24 dev n1 && ip -n \(n) addr add 10.99.2.1/24 dev n2 &&
        ip -n \(c) addr add 10.99.1.2/24 dev c0 && ip -n \(c) addr add 10.99.1.3/24 dev c0 &&
        ip -n \(s) addr add 10.99.2.2/24 dev s0 &&
        for ns in \(c) \(n) \(s); do ip -n $ns link set lo up; done &&
        ip -n \(n) link set n1 up && ip -n \(n) link set n2 up && ip -n \(c) link set c0 up && ip -n \(s) link set s0 up &&
        ip -n \(c) route add default via 10.99.1.1 && ip -n \(s) route add default via 10.99.2.1 &&
        ip netns exec \(n) sysctl -qw net.ipv4.ip_forward=1
        """)
        for port in [8080, 8081] { try addServer(port: port) }
    }

    /// A TCP server in the server namespace (or `namespace`) that accepts and closes; it lives
    /// at most 60 s.
    public func addServer(port: Int, ipv6: Bool = false, in namespace: String? = nil) throws {
        let namespace = namespace ?? server
        servers.append(try Shell.spawn(["ip", "netns", "exec", namespace, "python3", "-c", """
        import socket
        s=socket.socket(socket.AF_INET6 if \(ipv6 ? "True" : "False") else socket.AF_INET); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("::" if \(ipv6 ? "True" : "False") else "0.0.0.0", \(port))); s.listen(64); s.settimeout(60)
        try:
            while True:
                c, _ = s.accept(); c.close()
        except Exception:
            pass
        """]))
        // Wait (at most 5 s) until it listens, so a loaded machine does not turn a probe into a
        // refused connection.
        for _ in 0..<100 {
            if let out = try? Shell.sh("ss -Hltn sport = :\(port)", in: namespace), !out.isEmpty { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Starts `xtables-monitor --trace` in the node (the kernel's nft trace events for packets a
    /// TRACE rule marked); `stopTrace()` returns the first traced packet's events.
    public func startTrace() throws {
        traceFile = FileManager.default.temporaryDirectory.appendingPathComponent("kdpnf-trace-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))")
        _ = FileManager.default.createFile(atPath: traceFile!.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", node, "xtables-monitor", "--trace"]
        p.standardOutput = try FileHandle(forWritingTo: traceFile!)
        p.standardError = FileHandle.nullDevice
        try p.run()
        monitor = p
        Thread.sleep(forTimeInterval: 0.6)
    }

    /// The kernel's rule path for the first traced packet: `table:chain:verdict` for rules that
    /// matched and `table:chain:policy:VERDICT` for policies (implicit returns left out).
    public func stopTrace() -> [String] { stopTracePackets().first?.events ?? [] }

    /// Every traced packet's rule path, in order, with the interface it came in on. Packets are
    /// told apart by their IP ID: the trace id is reused by later packets of a connection.
    public func stopTracePackets() -> [(inInterface: String, events: [String])] {
        Thread.sleep(forTimeInterval: 0.5)
        if let m = monitor { Shell.stop(m) }
        monitor = nil
        guard let file = traceFile, let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        try? FileManager.default.removeItem(at: file)
        var order: [Substring] = []
        var packets: [Substring: (inInterface: String, events: [String])] = [:]
        var current: Substring?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("PACKET: ") {
                let f = line.split(separator: " ")
                current = f.first { $0.hasPrefix("ID=") }
                if let id = current, packets[id] == nil {
                    order.append(id)
                    packets[id] = (String(f.first { $0.hasPrefix("IN=") }?.dropFirst(3) ?? ""), [])
                }
                continue
            }
            guard line.hasPrefix(" TRACE: "), let id = current else { continue }
            let f = line.split(separator: " ")
            guard f.count >= 4 else { continue }
            let parts = f[3].split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count >= 3 else { continue }
            switch parts[2] {
            case "rule" where parts.count >= 5:
                // xtables-monitor prints NFT_RETURN (-5) as a number.
                let verdict = parts[4] == "0xfffffffb" ? "RETURN" : parts[4...].joined(separator: ":")
                packets[id]!.events.append("\(parts[0]):\(parts[1]):" + verdict)
            case "policy" where parts.count >= 4:
                packets[id]!.events.append("\(parts[0]):\(parts[1]):policy:\(parts[3])")
            default:
                break
            }
        }
        return order.map { id in
            var p = packets[id]!
            p.events = Self.collapsingRetransmissions(p.events)
            return p
        }
    }

    /// A retransmission (a SYN-ACK resent on a loaded machine, with IP ID 0 like the first) shows
    /// as the same rule path again under one ID: keep one copy.
    public static func collapsingRetransmissions(_ events: [String]) -> [String] {
        for copies in stride(from: 4, through: 2, by: -1) where !events.isEmpty && events.count % copies == 0 {
            let n = events.count / copies
            let first = Array(events[..<n])
            if (1..<copies).allSatisfy({ Array(events[($0 * n)..<(($0 + 1) * n)]) == first }) { return first }
        }
        return events
    }

    /// The lab as the demo's nodes (topologies/demo.yaml): worker-1's and control-plane's node
    /// IPs on the node's n1, the pod network behind the server namespace (which holds the web
    /// pods' addresses), a pod (10.244.1.2) and outside clients (203.0.113.5, 192.0.2.1)
    /// behind the client namespace. The demo kernel checks of both proxy modes start here.
    public func playDemoNodes() throws {
        try exec(node, "ip addr add 172.18.0.3/32 dev n1 && ip addr add 172.18.0.2/32 dev n1 && ip route add 10.244.0.0/16 via 10.99.2.2 dev n2 && ip route add 10.244.1.2/32 via 10.99.1.2 dev n1 && ip route add 203.0.113.0/24 via 10.99.1.2 dev n1 && ip route add 192.0.2.0/24 via 10.99.1.2 dev n1")
        try exec(server, "for a in 10.244.1.3 10.244.2.2 10.244.2.3; do ip addr add $a/32 dev s0; done")
        try exec(client, "ip addr add 10.244.1.2/32 dev c0 && ip addr add 203.0.113.5/32 dev c0 && ip addr add 192.0.2.1/32 dev c0")
    }

    /// Runs `script` inside one of the lab's namespaces.
    public func exec(_ namespace: String, _ script: String) throws {
        try Shell.sh(script, in: namespace)
    }

    public func close() {
        _ = stopTrace()
        for p in servers { Shell.stop(p) }
        for ns in namespaces { ns.delete() }
    }

    public func load(_ rules: String, command: String = "iptables-restore") throws {
        try Shell.sh("ip netns exec \(node) \(command) <<'KDP_RULES'\n\(rules)KDP_RULES\n")
        try flushConntrack()
    }

    public enum Outcome: String { case connected, refused, timeout, sent }

    /// One TCP connection attempt (SYN, 1.5 s at most) or one UDP datagram from the client (or
    /// from `namespace`).
    public func probe(_ proto: IPProtocol, from src: String, _ sport: UInt16, to dst: String, _ dport: UInt16,
               in namespace: String? = nil) throws -> Outcome {
        let family = src.contains(":") ? "socket.AF_INET6" : "socket.AF_INET"
        let body = proto == .tcp ? """
        s=socket.socket(\(family)); s.bind(("\(src)", \(sport))); s.settimeout(1.5)
        try:
            s.connect(("\(dst)", \(dport))); print("connected")
        except ConnectionRefusedError: print("refused")
        except (socket.timeout, OSError): print("timeout")
        """ : """
        s=socket.socket(\(family), socket.SOCK_DGRAM); s.bind(("\(src)", \(sport))); s.sendto(b"kdp", ("\(dst)", \(dport))); print("sent")
        """
        let out = try Shell.sh("ip netns exec \(namespace ?? client) python3 -c '\nimport socket\n\(body)\n'")
        return Outcome(rawValue: out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? .timeout
    }

    /// The node's conntrack table.
    public func conntrack() throws -> ConntrackTable {
        ConntrackTable.parse(conntrackList: try Shell.sh("ip netns exec \(node) conntrack -L 2>/dev/null; ip netns exec \(node) conntrack -L -f ipv6 2>/dev/null; true"))
    }

    public func flushConntrack() throws {
        _ = try Shell.sh("ip netns exec \(node) conntrack -F 2>/dev/null; ip netns exec \(node) conntrack -F -f ipv6 2>/dev/null; true")
    }

    /// The node as kdp sees it.
    public static var host: Netfilter.Host {
        Netfilter.Host(name: "node", interfaces: [
            Interface(name: "n1", addresses: [(try! IPAddress(parsing: "10.99.1.1"), 24)]),
            Interface(name: "n2", addresses: [(try! IPAddress(parsing: "10.99.2.1"), 24)]),
        ])
    }
}
