import Foundation
import TestSupport

/// Real captures recorded once per test run with tcpdump, in two namespaces of our own joined
/// by a veth pair (a0 10.213.0.1 in A, b0 10.213.0.2 in B): three UDP datagrams to
/// a closed port (ICMP port unreachable back), and one TCP connection with data and FIN, all
/// started from A. In A, four tcpdumps write at once: `-i a0` (EN10MB, microseconds), `-i a0
/// --time-stamp-precision=nano`, `-i any` (LINUX_SLL2) and `-i any -y LINUX_SLL`. The
/// namespaces are deleted before the captures are handed out.
struct RecordedCaptures: Sendable {
    let folder: String
    var ethernetMicro: String { folder + "/en10mb-us.pcap" }
    var ethernetNano: String { folder + "/en10mb-ns.pcap" }
    var sll2: String { folder + "/sll2.pcap" }
    var sll: String { folder + "/sll.pcap" }
    /// a0's interface index and MAC address inside A.
    let a0Index: UInt32
    let a0MAC: String

    /// Whether tcpdump and namespaces can be used: root, tcpdump, ip and python3 installed (there
    /// is no ping here: ICMP comes from the closed UDP port).
    static let available: Bool = getuid() == 0
        && (try? Shell.run(["sh", "-c", "command -v tcpdump && command -v ip && command -v python3"]).status) == 0

    static let shared: Result<RecordedCaptures, any Error> = Result { try record() }

    static func record() throws -> RecordedCaptures {
        let folder = try temporaryFolder()
        let a = try NetworkNamespace("cap13a")
        let b = try NetworkNamespace("cap13b")
        defer {
            a.delete()
            b.delete()
        }
        try a.sh("ip link add a0 type veth peer name b0 netns \(b.name)")
        try a.sh("ip addr add 10.213.0.1/24 dev a0 && ip link set a0 up && ip link set lo up")
        try b.sh("ip addr add 10.213.0.2/24 dev b0 && ip link set b0 up && ip link set lo up")
        let script = """
            set -e
            cd \(folder)
            tcpdump -Z root -U -s 0 -i a0 -w en10mb-us.pcap >/dev/null 2>&1 & p1=$!
            tcpdump -Z root -U -s 0 -i a0 --time-stamp-precision=nano -w en10mb-ns.pcap >/dev/null 2>&1 & p2=$!
            tcpdump -Z root -U -s 0 -i any -w sll2.pcap >/dev/null 2>&1 & p3=$!
            tcpdump -Z root -U -s 0 -i any -y LINUX_SLL -w sll.pcap >/dev/null 2>&1 & p4=$!
            trap 'kill -KILL $p1 $p2 $p3 $p4 2>/dev/null || true' EXIT
            sleep 1.5
            python3 -c '
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(3): s.sendto(b"udp-%d" % i, ("10.213.0.2", 5353))
            '
            ip netns exec \(b.name) python3 -c '
            import socket
            l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            l.bind(("10.213.0.2", 8080)); l.listen(1)
            c, _ = l.accept(); c.recv(100); c.sendall(b"world"); c.close()
            ' & srv=$!
            sleep 0.5
            python3 -c '
            import socket
            s = socket.create_connection(("10.213.0.2", 8080)); s.sendall(b"hello"); s.recv(100); s.close()
            '
            wait $srv
            sleep 1
            # tcpdump -i any here does not always stop on SIGTERM; -U has flushed every packet already.
            kill -TERM $p1 $p2 $p3 $p4
            sleep 0.5
            kill -KILL $p1 $p2 $p3 $p4 2>/dev/null || true
            wait $p1 $p2 $p3 $p4 || true
            trap - EXIT
            cat /sys/class/net/a0/ifindex /sys/class/net/a0/address
            """
        let out = try a.sh(script).split(separator: "\n")
        guard out.count >= 2, let index = UInt32(out[out.count - 2]) else { throw RecordingError("unexpected output: \(out)") }
        return RecordedCaptures(folder: folder, a0Index: index, a0MAC: String(out[out.count - 1]))
    }

    static func get() throws -> RecordedCaptures { try shared.get() }
}

struct RecordingError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Runs tcpdump -r on a file and returns its output lines (numeric, no name lookups).
func tcpdumpRead(_ path: String, _ extra: [String] = []) throws -> [String] {
    let r = try Shell.run(["tcpdump", "-nn", "-r", path] + extra)
    guard r.status == 0 else { throw RecordingError("tcpdump -r \(path) failed: \(r.output)") }
    return r.output.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("reading from file") && !$0.hasPrefix("Warning: ") }
}
