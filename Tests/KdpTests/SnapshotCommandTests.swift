import Foundation
import TestSupport
import Testing

/// `kdp snapshot` and `kdp trace-rules --snapshot` through the binary: a namespace built by
/// hand is recorded, and the trace takes its real routes (output interface, MASQUERADE's
/// source), where `--local-ip` alone would assume a default route out of eth0.
@Suite(.serialized) struct SnapshotCommandTests {
    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("kdp-nl-snapcmd-\(UUID().uuidString)").path
    }

    @Test func traceRulesWithASnapshotRoutesByTheNodesRealTable() throws {
        guard !KernelCheck.unavailable() else { return }
        let node = try NetworkNamespace("nl"), peer = try NetworkNamespace("nl")
        defer { node.delete(); peer.delete() }
        try node.sh("""
        set -e
        ip link set lo up
        ip link add eth0 type veth peer name kdp-p0 netns \(peer.name)
        ip link add eth1 type veth peer name kdp-p1 netns \(peer.name)
        ip addr add 10.1.0.2/24 dev eth0
        ip addr add 10.2.0.2/24 dev eth1
        ip link set eth0 up
        ip link set eth1 up
        ip route add default via 10.1.0.1 dev eth0 onlink
        ip route add 192.168.5.0/24 via 10.2.0.1 dev eth1 onlink
        sysctl -qw net.ipv4.ip_forward=1
        iptables -t nat -A POSTROUTING -o eth1 -j MASQUERADE
        """)
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = try kdp("snapshot", "--netns", node.name, "-o", dir)
        #expect(snap.status == 0, "\(snap.stderr)")
        #expect(snap.stdout.hasPrefix("wrote \(dir): 3 links"))
        for f in ["links.json", "addresses.json", "routes.json", "neighbours.json", "iptables.rules", "ip6tables.rules", "ipsets", "meta.json"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/" + f), "\(f) written")
        }
        // The kernel's own answer for the forwarded packet.
        #expect(try node.sh("ip route get 192.168.5.7 from 10.1.0.50 iif eth0").contains("dev eth1"))

        let forwarded = try kdp("trace-rules", "--snapshot", dir, "--src", "10.1.0.50", "--dst", "192.168.5.7", "--in-iface", "eth0")
        #expect(forwarded.status == 0, "\(forwarded.stderr)")
        #expect(forwarded.stdout.contains("route: forward out eth1"))
        #expect(forwarded.stdout.contains("→ masquerade to 10.2.0.2:40000"))
        #expect(forwarded.stdout.contains("ACCEPTED (sent out eth1)"))
        #expect(forwarded.stdout.contains("net.ipv4.ip_forward=1"))
        // The same rules with --local-ip: a default route out of eth0 is assumed, so no MASQUERADE.
        let assumed = try kdp("trace-rules", "--rules", dir + "/iptables.rules", "--local-ip", "10.1.0.2", "--src", "10.1.0.50", "--dst", "192.168.5.7")
        #expect(assumed.status == 0, "\(assumed.stderr)")
        #expect(assumed.stdout.contains("ACCEPTED (sent out eth0)") && !assumed.stdout.contains("masquerade"))
        // Elsewhere the default route: out of eth0, not masqueraded.
        let other = try kdp("trace-rules", "--snapshot", dir, "--src", "10.1.0.50", "--dst", "8.8.8.8", "--in-iface", "eth0")
        #expect(other.stdout.contains("ACCEPTED (sent out eth0)") && !other.stdout.contains("masquerade"))
        // A locally generated packet: its source is the node's own eth0 address.
        let local = try kdp("trace-rules", "--snapshot", dir, "--src", "10.1.0.2", "--dst", "192.168.5.7", "-o", "json")
        #expect(local.stdout.contains("masquerade") && local.stdout.contains("10.2.0.2"))
        // --in-iface must be one of the snapshot's links.
        let wrongIface = try kdp("trace-rules", "--snapshot", dir, "--src", "10.1.0.50", "--dst", "192.168.5.7", "--in-iface", "eth7")
        #expect(wrongIface.status == 2 && wrongIface.stderr.hasPrefix("kdp: --in-iface eth7: \(dir)/links.json has no such link (it has lo, eth0, eth1)"))

        // Never over an existing directory.
        let again = try kdp("snapshot", "--netns", node.name, "-o", dir)
        #expect(again.status == 2)
        #expect(again.stderr.hasPrefix("kdp: \(dir): exists already"))
    }

    @Test func aNamespaceThatDoesNotExistIsExitTwo() throws {
        guard !KernelCheck.unavailable() else { return }
        let dir = Self.directory()
        let r = try kdp("snapshot", "--netns", "kdp-nl-absent-\(UInt32.random(in: 0...UInt32.max))", "-o", dir)
        #expect(r.status == 2)
        #expect(r.stderr.contains("No such file or directory"))
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test func badSnapshotsAreExitTwoNamingTheFileAndLine() throws {
        let dir = Self.directory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = [
            "meta.json": #"{"format": 1, "hostname": "n", "kernel": "6", "time": "t", "missing": ["iptables.rules: iptables-save not found"], "sysctls": {}}"#,
            "links.json": "[\n{\"index\": 1, \"name\": \"lo\", \"mtu\": 65536, \"flags\": [\"UP\"]},\n{\"index\": 2, \"name\": \"eth0\", \"mtu\": 1500, \"flags\": [\"UP\"]}\n]\n",
            "addresses.json": "[\n{\"ifindex\": 2, \"family\": \"inet\", \"address\": \"10.0.0.2\", \"prefixLength\": 24, \"scope\": \"global\", \"flags\": 0}\n]\n",
            "routes.json": "[\n{\"table\": \"main\", \"family\": \"inet\", \"type\": \"unicast\", \"destination\": \"10.0.0.0/24\", \"scope\": \"link\", \"protocol\": \"kernel\", \"metric\": 0, \"nexthops\": [{\"ifindex\": 2}]},\n{\"table\": \"main\", \"family\": \"inet\", \"type\": \"unicast\", \"destination\": \"0.0.0.0/0\", \"scope\": \"global\", \"protocol\": \"boot\", \"metric\": 0, \"nexthops\": [{\"ifindex\": 2, \"gateway\": \"10.0.0.300\"}]}\n]\n",
        ]
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        let badGateway = try kdp("trace-rules", "--snapshot", dir, "--src", "10.0.0.9", "--dst", "8.8.8.8")
        #expect(badGateway.status == 2)
        #expect(badGateway.stderr.hasPrefix("kdp: \(dir)/routes.json:3: entry 2: gateway '10.0.0.300'"))

        try files["routes.json"]!.replacingOccurrences(of: "10.0.0.300", with: "10.0.0.1").write(toFile: dir + "/routes.json", atomically: true, encoding: .utf8)
        // No iptables.rules: meta.json says why.
        let noRules = try kdp("trace-rules", "--snapshot", dir, "--src", "10.0.0.9", "--dst", "8.8.8.8")
        #expect(noRules.status == 2)
        #expect(noRules.stderr.hasPrefix("kdp: \(dir)/iptables.rules: missing (meta.json: iptables.rules: iptables-save not found)"))

        try FileManager.default.removeItem(atPath: dir + "/links.json")
        let noLinks = try kdp("trace-rules", "--snapshot", dir, "--src", "10.0.0.9", "--dst", "8.8.8.8")
        #expect(noLinks.status == 2 && noLinks.stderr.hasPrefix("kdp: \(dir)/links.json: missing"))

        let both = try kdp("trace-rules", "--snapshot", dir, "--local-ip", "10.0.0.2", "--src", "10.0.0.9", "--dst", "8.8.8.8")
        #expect(both.status == 2 && both.stderr.contains("--snapshot gives the node's interfaces and routes"))
        let neither = try kdp("trace-rules", "--src", "10.0.0.9", "--dst", "8.8.8.8", "--local-ip", "10.0.0.2")
        #expect(neither.status == 2 && neither.stderr.contains("--rules"))
        let mixed = try kdp("verify", "--snapshot", dir, "--invariant", "routing")
        #expect(mixed.status == 2 && mixed.stderr.contains("drop --topology"))
        let badVerify = try kdp("verify", "--snapshot", dir + "/nothing-here")
        #expect(badVerify.status == 2 && badVerify.stderr.hasPrefix("kdp: \(dir)/nothing-here: no such directory"))
        let notDir = try kdp("trace-rules", "--snapshot", dir + "/meta.json", "--src", "10.0.0.9", "--dst", "8.8.8.8")
        #expect(notDir.status == 2 && notDir.stderr.hasPrefix("kdp: \(dir)/meta.json: not a directory"))
    }

    /// Two host-gw nodes built by hand: eth0 joined to each other, cni0 with the node's pod
    /// CIDR, a route to the other node's pod CIDR via its address, flannel's POSTROUTING rules.
    static func buildNodes(_ a: NetworkNamespace, _ b: NetworkNamespace) throws {
        try a.sh("ip link add eth0 type veth peer name eth0 netns \(b.name)")
        for (ns, me, other, mine, theirs) in [(a, "10.1.0.2", "10.1.0.3", "1", "2"), (b, "10.1.0.3", "10.1.0.2", "2", "1")] {
            try ns.sh("""
            set -e
            ip link set lo up
            ip addr add \(me)/24 dev eth0
            ip link set eth0 up
            ip link add cni0 type bridge
            ip addr add 10.244.\(mine).1/24 dev cni0
            ip link set cni0 up
            ip route add default via 10.1.0.1 dev eth0
            ip route add 10.244.\(theirs).0/24 via \(other) dev eth0
            sysctl -qw net.ipv4.ip_forward=1
            iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN
            iptables -t nat -A POSTROUTING -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE
            """)
        }
    }

    @Test func verifyFromSnapshotsChecksRoutingPodToPodAndMasquerade() throws {
        guard !KernelCheck.unavailable() else { return }
        let a = try NetworkNamespace("nl"), b = try NetworkNamespace("nl")
        defer { a.delete(); b.delete() }
        try Self.buildNodes(a, b)
        let dirs = (0..<4).map { _ in Self.directory() }
        defer { for d in dirs { try? FileManager.default.removeItem(atPath: d) } }
        for (ns, dir) in [(a, dirs[0]), (b, dirs[1])] {
            let r = try kdp("snapshot", "--netns", ns.name, "-o", dir)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let good = try kdp("verify", "--snapshot", dirs[0], "--snapshot", dirs[1])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(good.stdout.contains("\(a.name) (\(dirs[0])): address 10.1.0.2, pod CIDR 10.244.1.0/24"))
        #expect(good.stdout.contains("routing: holds (2 checked)"))
        #expect(good.stdout.contains("pod-to-pod: holds (2 checked)"))
        #expect(good.stdout.contains("masquerade: holds (2 checked)"))

        // Break both: B loses its route to A's pods, A masquerades pod-to-pod traffic.
        try b.sh("ip route del 10.244.1.0/24")
        try a.sh("iptables -t nat -D POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN")
        for (ns, dir) in [(a, dirs[2]), (b, dirs[3])] { _ = try kdp("snapshot", "--netns", ns.name, "-o", dir) }
        let bad = try kdp("verify", "--snapshot", dirs[2], "--snapshot", dirs[3], "-o", "json")
        #expect(bad.status == 1)
        let checks = bad.json["checks"] as? [[String: Any]] ?? []
        let byName = Dictionary(uniqueKeysWithValues: checks.map { ($0["name"] as? String ?? "", $0) })
        let routing = byName["routing"]?["violations"] as? [[String: Any]] ?? []
        #expect(routing.count == 1)
        #expect(routing.first?["node"] as? String == b.name)
        #expect((routing.first?["text"] as? String)?.hasPrefix("route to 10.244.1.0/24 goes via 10.1.0.1 out of eth0, not via") == true)
        let pod = byName["pod-to-pod"]?["violations"] as? [[String: Any]] ?? []
        #expect(pod.contains { $0["node"] as? String == a.name && ($0["text"] as? String)?.contains("leaves as 10.1.0.2 → 10.244.2.2") == true })
        #expect(byName["masquerade"]?["holds"] as? Bool == true)
    }
}
