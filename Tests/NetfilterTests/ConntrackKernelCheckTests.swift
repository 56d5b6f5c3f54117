import Foundation
import Testing
@testable import Netfilter
import TestSupport
import Wire

/// kdp's conntrack against the kernel's: a TCP conversation (handshake, data both ways, a FIN
/// from each side) and a UDP exchange go from the lab's client through its node to its server;
/// the node's `conntrack -L` is read at fixed points, and kdp, fed the packets tcpdump saw on
/// the node's client-side interface in the same order and at the same times, must hold the
/// same entries: state, [ASSURED], [UNREPLIED] and seconds left (within 2 s).
@Suite(.serialized) struct ConntrackKernelCheckTests {
    static let rules = """
    *filter
    -A FORWARD -m conntrack --ctstate INVALID -j DROP
    -A FORWARD -m conntrack --ctstate NEW,RELATED,ESTABLISHED -j ACCEPT
    COMMIT

    """

    /// The server: a TCP echo of one message that closes after the client's FIN once the test
    /// says so (`go2`), and a UDP echo of two datagrams. Bounded: 30 s at most.
    static let server = """
    import socket, os, sys, time, threading
    d = sys.argv[1]
    def udp():
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.99.2.2", 9001)); u.settimeout(30)
        for _ in range(2):
            m, a = u.recvfrom(100); u.sendto(m, a)
    threading.Thread(target=udp, daemon=True).start()
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("10.99.2.2", 9000)); s.listen(1); s.settimeout(30)
    c, _ = s.accept(); c.settimeout(30)
    c.sendall(c.recv(5))
    c.recv(10)
    t = time.time()
    while not os.path.exists(d + "/go2") and time.time() - t < 30: time.sleep(0.02)
    c.close()
    time.sleep(10)
    """

    /// The client, pausing at each checkpoint N (writes `doneN`, waits for `goN`).
    static let client = """
    import socket, os, sys, time
    d = sys.argv[1]
    def step(n):
        open(d + "/done%d" % n, "w").close()
        t = time.time()
        while not os.path.exists(d + "/go%d" % n) and time.time() - t < 30: time.sleep(0.02)
    s = socket.socket(); s.bind(("10.99.1.2", 41000)); s.settimeout(30); s.connect(("10.99.2.2", 9000))
    s.sendall(b"hello"); s.recv(5)
    time.sleep(0.5); step(1)
    s.shutdown(socket.SHUT_WR)
    time.sleep(0.5); step(2)
    s.recv(10)
    time.sleep(0.5); s.close(); step(3)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.99.1.2", 41001)); u.settimeout(30)
    u.sendto(b"q", ("10.99.2.2", 9001)); u.recvfrom(10)
    time.sleep(0.5); step(4)
    time.sleep(2.2); u.sendto(b"q", ("10.99.2.2", 9001)); u.recvfrom(10)
    time.sleep(0.5); step(5)
    """

    /// One line of `tcpdump -nn -tt -l`: time, addresses and ports, protocol and TCP flags.
    static func packet(_ line: Substring) -> (time: Double, packet: Packet)? {
        let f = line.split(separator: " ")
        guard f.count > 5, f[1] == "IP", let t = Double(f[0]) else { return nil }
        func endpoint(_ s: Substring) -> (IPAddress, UInt16)? {
            let s = s.hasSuffix(":") ? s.dropLast() : s
            guard let dot = s.lastIndex(of: "."), let port = UInt16(s[s.index(after: dot)...]),
                  let a = try? IPAddress(parsing: s[..<dot]) else { return nil }
            return (a, port)
        }
        guard let (sa, sp) = endpoint(f[2]), let (da, dp) = endpoint(f[4]) else { return nil }
        let fromClient = sa == (try! IPAddress(parsing: "10.99.1.2"))
        var p = Packet(source: sa, destination: da, proto: .udp, sourcePort: sp, destinationPort: dp, inInterface: fromClient ? "n1" : "n2")
        if f[5] == "Flags" {
            p.proto = .tcp
            var flags: UInt8 = 0
            for ch in f[6] {
                switch ch {
                case "S": flags |= TCPFlag.syn
                case "F": flags |= TCPFlag.fin
                case "R": flags |= TCPFlag.rst
                case "P": flags |= TCPFlag.psh
                case "U": flags |= TCPFlag.urg
                case ".": flags |= TCPFlag.ack
                default: break
                }
            }
            p.tcpFlags = flags
        } else if !f[5].hasPrefix("UDP") {
            return nil
        }
        return (t, p)
    }

    @Test func kdpHoldsTheKernelsStatesAndTimeoutsThroughATCPAndAUDPConversation() throws {
        guard KernelLab.enabled else {
            print("skipping conntrack kernel check: needs root and CI=true (KernelLab)")
            return
        }
        let lab = try KernelLab()
        defer { lab.close() }
        try lab.load(Self.rules)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-ct13-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let capture = dir.appendingPathComponent("n1.txt").path
        let dump = try Shell.spawn(["sh", "-c", "exec ip netns exec \(lab.node) tcpdump -i n1 -nn -tt -l 'tcp or udp' > \(capture) 2>/dev/null"])
        defer { Shell.stop(dump) }
        Thread.sleep(forTimeInterval: 1)
        let server = try Shell.spawn(["ip", "netns", "exec", lab.server, "python3", "-c", Self.server, dir.path])
        defer { Shell.stop(server) }
        Thread.sleep(forTimeInterval: 0.5)
        let client = try Shell.spawn(["ip", "netns", "exec", lab.client, "python3", "-c", Self.client, dir.path])
        defer { Shell.stop(client) }

        let tracer = Tracer(ruleset: try Ruleset.parse(text: Self.rules, file: "rules"))
        var host = KernelLab.host
        var fed = 0
        let expected: [Int: String] = [1: "ESTABLISHED", 2: "CLOSE_WAIT", 3: "TIME_WAIT", 4: "udp replied", 5: "udp assured"]
        for n in 1...5 {
            let done = dir.appendingPathComponent("done\(n)").path
            let start = Date()
            while !FileManager.default.fileExists(atPath: done) && Date().timeIntervalSince(start) < 30 { Thread.sleep(forTimeInterval: 0.02) }
            try #require(FileManager.default.fileExists(atPath: done), "client reached checkpoint \(n)")
            let now = Date().timeIntervalSince1970
            let kernel = ConntrackTable.parse(conntrackList: try Shell.sh("ip netns exec \(lab.node) conntrack -L 2>/dev/null"), now: now)
            // Feed kdp what tcpdump saw before the snapshot.
            let lines = (try? String(contentsOfFile: capture, encoding: .utf8)) ?? ""
            let packets = lines.split(separator: "\n").compactMap(Self.packet).filter { $0.time < now }
            for (t, p) in packets.dropFirst(fed) {
                host.now = t
                host = tracer.trace(packet: p, host: host).paths[0].host
            }
            fed = packets.count
            let ours = kernel.entries.filter { [41000, 41001].contains($0.original.sourcePort) }
            try #require(!ours.isEmpty, "checkpoint \(n) (\(expected[n]!)): the kernel tracks the flow")
            for k in ours {
                let hit = try #require(host.conntrack.lookup(k.original, now: now), "checkpoint \(n): kdp tracks \(k.original) too")
                let e = host.conntrack[hit.index]
                let what = "checkpoint \(n) (\(expected[n]!)): kernel \(k.conntrackListing(now: now)), kdp \(e.conntrackListing(now: now))"
                #expect(e.tcpState == k.tcpState, "\(what)")
                // The whole `conntrack -L` line but the seconds left is the kernel's, word for word.
                #expect(e.conntrackListing(now: now).split(separator: " ").dropFirst(3) == k.conntrackListing(now: now).split(separator: " ").dropFirst(3), "\(what)")
                #expect(e.assured == k.assured, "\(what)")
                #expect(e.seenReply == k.seenReply, "\(what)")
                #expect(abs(e.expires - k.expires) <= 2, "\(what)")
            }
            if n == 1 { #expect(ours.first?.tcpState == .established) }
            if n == 2 { #expect(ours.first?.tcpState == .closeWait) }
            if n == 3 { #expect(ours.first?.tcpState == .timeWait) }
            if n == 5 { #expect(ours.contains { $0.original.proto == .udp && $0.assured }) }
            _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("go\(n)").path, contents: nil)
        }
    }
}
