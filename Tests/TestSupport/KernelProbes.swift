import Foundation

/// Real probes between network namespaces for the kernel differential: echo servers that answer
/// each TCP connection and UDP datagram with who they are and the peer address they saw, and a
/// client that sends a batch of probes from one namespace at once (non-blocking sockets, a
/// window of concurrent probes, one deadline each), every probe from its own source port so
/// that no two share a 5-tuple (and a conntrack entry). Both are small python3 programs (one
/// process per namespace), written to a temporary directory by `KernelProbes.install()`.
public enum KernelProbes {
    /// One probe: from the client's namespace, `source:sourcePort` (source "" lets the route
    /// pick the address) to `destination:destinationPort`.
    public struct Probe: Sendable {
        public var id: Int
        public var proto: String
        public var source: String
        public var sourcePort: Int
        public var destination: String
        public var destinationPort: Int
        public init(id: Int, proto: String, source: String, sourcePort: Int, destination: String, destinationPort: Int) {
            self.id = id
            self.proto = proto
            self.source = source
            self.sourcePort = sourcePort
            self.destination = destination
            self.destinationPort = destinationPort
        }
    }

    /// What the kernel did with a probe: `ok` (the server's line: `IDENTITY PEERIP:PORT`, and
    /// the address the reply came from), `refused` (ECONNREFUSED: ICMP port unreachable or a
    /// TCP reset), `unreachable` (another ICMP error, errno in `payload`), `timeout`, `reset`
    /// (the connection broke after it was made) or `error` (the client could not send it).
    public struct Result: Sendable {
        public var kind: String
        public var payload: String
        public var replyFrom: String
    }

    public static let server = #"""
import json, os, selectors, socket, sys
spec = json.loads(sys.argv[1])
sel = selectors.DefaultSelector()
for proto, port, ident in spec:
    if proto == "tcp":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port)); s.listen(4096)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, (proto, ident))
sel.register(sys.stdin, selectors.EVENT_READ, None)
sys.stdout.write("ready\n"); sys.stdout.flush()
while True:
    for key, _ in sel.select():
        if key.data is None:
            if not os.read(sys.stdin.fileno(), 4096): sys.exit(0)
            continue
        proto, ident = key.data
        try:
            if proto == "tcp":
                while True:
                    c, (ip, port) = key.fileobj.accept()
                    try: c.setblocking(True); c.settimeout(0.5); c.sendall(("%s %s:%d\n" % (ident, ip, port)).encode())
                    except OSError: pass
                    c.close()
            else:
                while True:
                    data, (ip, port) = key.fileobj.recvfrom(2048)
                    try: key.fileobj.sendto(("%s %s:%d\n" % (ident, ip, port)).encode(), (ip, port))
                    except OSError: pass
        except (BlockingIOError, InterruptedError): pass
        except OSError: pass
"""#

    public static let client = #"""
import errno, json, selectors, socket, sys, time
req = json.load(sys.stdin)
timeout, window = req["timeout"], req["window"]
probes = req["probes"]
sel = selectors.DefaultSelector()
out = []
live = {}
def finish(pid, kind, payload="", frm=""):
    p = live.pop(pid)
    try: sel.unregister(p["s"])
    except Exception: pass
    p["s"].close()
    out.append([pid, kind, payload, frm])
def start(pr):
    pid, proto, src, sport, dst, dport = pr
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if proto == "udp": s.setsockopt(socket.IPPROTO_IP, 11, 1)  # IP_RECVERR: ICMP errors on an unconnected socket
        s.bind((src, sport)); s.setblocking(False)
    except OSError as e:
        out.append([pid, "error", "bind %s:%d: %s" % (src, sport, e), ""]); return
    now = time.monotonic()
    p = {"s": s, "proto": proto, "dst": (dst, dport), "t0": now, "sent": 0, "buf": b"", "state": "c"}
    live[pid] = p
    if proto == "tcp":
        r = s.connect_ex((dst, dport))
        if r not in (0, errno.EINPROGRESS):
            finish(pid, "refused" if r == errno.ECONNREFUSED else "unreachable", errno.errorcode.get(r, str(r))); return
        sel.register(s, selectors.EVENT_WRITE, pid)
    else:
        send(pid)
        sel.register(s, selectors.EVENT_READ, pid)
def send(pid):
    p = live[pid]
    try: p["s"].sendto(b"probe\n", p["dst"])
    except OSError: pass
    p["sent"] += 1; p["next"] = p["t0"] + p["sent"] * 0.5
def event(pid, mask):
    p = live[pid]; s = p["s"]
    if p["proto"] == "tcp":
        if p["state"] == "c":
            e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if e == 0:
                p["state"] = "r"; sel.modify(s, selectors.EVENT_READ, pid); return
            finish(pid, "refused" if e == errno.ECONNREFUSED else "unreachable", errno.errorcode.get(e, str(e))); return
        try: d = s.recv(4096)
        except BlockingIOError: return
        except OSError as e: finish(pid, "reset", str(e)); return
        p["buf"] += d
        if not d or b"\n" in p["buf"]:
            finish(pid, "ok", p["buf"].decode(errors="replace").strip(), "%s:%d" % p["dst"])
    else:
        try: d, a = s.recvfrom(4096)
        except BlockingIOError: return
        except ConnectionRefusedError: finish(pid, "refused", "ECONNREFUSED"); return
        except OSError as e: finish(pid, "unreachable", errno.errorcode.get(e.errno, str(e.errno))); return
        finish(pid, "ok", d.decode(errors="replace").strip(), "%s:%d" % a)
i = 0
while i < len(probes) or live:
    while i < len(probes) and len(live) < window:
        start(probes[i]); i += 1
    # Answers first, deadlines after: a client that was not scheduled for a while still
    # reads every answer that arrived in time before it declares a timeout.
    if live:
        for key, mask in sel.select(0.05):
            if key.data in live: event(key.data, mask)
    now = time.monotonic()
    for pid, p in list(live.items()):
        if now - p["t0"] >= timeout: finish(pid, "timeout")
        elif p["proto"] == "udp" and now >= p["next"] and p["sent"] < 3: send(pid)
json.dump(out, sys.stdout)
"""#

    /// Writes both programs to a fresh temporary directory; returns it.
    public static func install() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-probes-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try server.write(to: dir.appendingPathComponent("server.py"), atomically: true, encoding: .utf8)
        try client.write(to: dir.appendingPathComponent("client.py"), atomically: true, encoding: .utf8)
        return dir
    }

    /// An echo server in one namespace, serving `ports` ((proto, port, identity)); it exits
    /// when its standard input closes (`stop`), and is killed by pid as well.
    public final class Server {
        let process: Process
        let input: Pipe
        public let namespace: String

        public init(directory: URL, namespace: String, ports: [(String, Int, String)]) throws {
            self.namespace = namespace
            let spec = "[" + ports.map { "[\"\($0.0)\", \($0.1), \"\($0.2)\"]" }.joined(separator: ",") + "]"
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["ip", "netns", "exec", namespace, "python3", directory.appendingPathComponent("server.py").path, spec]
            input = Pipe()
            let out = Pipe()
            process.standardInput = input
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Bounded wait for "ready" (the sockets are bound).
            let line = out.fileHandleForReading.availableData
            guard String(decoding: line, as: UTF8.self).hasPrefix("ready") else {
                stop()
                throw KernelCheckError("echo server in \(namespace) did not start (ports \(spec))")
            }
        }

        public func stop() {
            try? input.fileHandleForWriting.close()
            Shell.stop(process)
        }

        deinit { stop() }
    }

    /// Sends `probes` from `namespace` (all at once, at most `window` in flight, each given
    /// `timeout` seconds) and returns each probe's result by id.
    public static func send(_ probes: [Probe], from namespace: String, directory: URL, timeout: Double, window: Int = 256) throws -> [Int: Result] {
        var json = "{\"timeout\": \(timeout), \"window\": \(window), \"probes\": ["
        json += probes.map { "[\($0.id), \"\($0.proto)\", \"\($0.source)\", \($0.sourcePort), \"\($0.destination)\", \($0.destinationPort)]" }.joined(separator: ",")
        json += "]}"
        let r = try Shell.run(["ip", "netns", "exec", namespace, "python3", directory.appendingPathComponent("client.py").path], input: json)
        guard r.status == 0, let rows = try? JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [[Any]] else {
            throw KernelCheckError("probe client in \(namespace) failed (exit \(r.status)): \(r.output.prefix(300))")
        }
        var out: [Int: Result] = [:]
        for row in rows where row.count == 4 {
            guard let id = row[0] as? Int, let kind = row[1] as? String else { continue }
            out[id] = Result(kind: kind, payload: row[2] as? String ?? "", replyFrom: row[3] as? String ?? "")
        }
        return out
    }
}
