import Foundation
import IPVS
import Netfilter
import Netlink
import NodeSnapshot
import TestSupport
import Testing
import Wire

/// `NodeSnapshot`: a namespace built by hand with `ip` reads back through libnl as `ip -j`
/// shows it, survives its directory format unchanged, and bad directories are named precisely.
@Suite(.serialized) struct NodeSnapshotTests {
    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("kdp-nl-snap-\(UUID().uuidString)").path
    }

    /// A node-like namespace: eth0 (a veth to a second namespace of the test) with IPv4 and
    /// IPv6 addresses, a default route via a gateway, an onlink route with a metric and an MTU,
    /// a route in table 100, a blackhole, a bridge with a port, flannel.1, and one MASQUERADE rule.
    static func buildNode(_ node: NetworkNamespace, peer: NetworkNamespace) throws {
        try node.sh("""
        set -e
        ip link set lo up
        ip link add eth0 type veth peer name kdp-peer0 netns \(peer.name)
        ip addr add 10.1.0.2/24 dev eth0
        ip addr add 10.1.0.3/24 dev eth0
        ip addr add fd00:1::2/64 dev eth0 nodad
        ip link set eth0 up
        ip route add default via 10.1.0.1 dev eth0
        ip route add 192.168.5.0/24 via 172.16.9.9 dev eth0 onlink metric 10 mtu 1400
        ip route add 10.9.0.0/16 dev eth0 table 100
        ip route add blackhole 10.66.0.0/16
        ip -6 route add fd00:77::/48 via fd00:1::1 dev eth0 metric 1024
        ip link add cni0 type bridge
        ip link add veth1 type veth peer name veth1p
        ip link set veth1 master cni0
        ip addr add 10.244.0.1/24 dev cni0
        ip link add flannel.1 type vxlan id 1 dstport 8472 local 10.1.0.2 dev eth0 nolearning
        iptables -t nat -A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE
        """)
    }

    /// `ip -j route show table all` in the shape of routes.json, to compare entry by entry.
    static func ipRoutes(_ ns: NetworkNamespace) throws -> Set<String> {
        let text = try ns.sh("ip -j route show table all")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        return Set(entries.map { e -> String in
            var dst = e["dst"] as? String ?? "?"
            let v6 = dst.contains(":") || (dst == "default" && (e["gateway"] as? String ?? "").contains(":"))
            if dst == "default" { dst = v6 ? "::/0" : "0.0.0.0/0" } else if !dst.contains("/") { dst += v6 ? "/128" : "/32" }
            let flags = (e["flags"] as? [String] ?? [])
            let metrics = (e["metrics"] as? [[String: Any]] ?? []).flatMap { $0.map { "\($0.key)=\($0.value)" } }.sorted()
            return [e["table"] as? String ?? "main", e["type"] as? String ?? "unicast", dst, e["gateway"] as? String ?? "-", e["dev"] as? String ?? "-",
                    e["protocol"] as? String ?? "boot", e["scope"] as? String ?? "global", "\(e["metric"] as? Int ?? 0)",
                    e["prefsrc"] as? String ?? "-", flags.contains("onlink") ? "onlink" : "-", metrics.joined(separator: ",")].joined(separator: " ")
        })
    }

    /// routes.json's entries in the same shape.
    static func snapshotRoutes(_ dir: String) throws -> Set<String> {
        let text = try String(contentsOfFile: dir + "/routes.json", encoding: .utf8)
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        return Set(entries.map { e -> String in
            let hop = (e["nexthops"] as? [[String: Any]])?.first ?? [:]
            let metrics = (e["metrics"] as? [String: Any] ?? [:]).map { "\($0.key)=\($0.value)" }.sorted()
            return [e["table"] as? String ?? "?", e["type"] as? String ?? "?", e["destination"] as? String ?? "?", hop["gateway"] as? String ?? "-",
                    hop["dev"] as? String ?? "-", e["protocol"] as? String ?? "?", e["scope"] as? String ?? "?", "\(e["metric"] as? Int ?? -1)",
                    e["prefsrc"] as? String ?? "-", hop["onlink"] as? Bool == true ? "onlink" : "-", metrics.joined(separator: ",")].joined(separator: " ")
        })
    }

    @Test func aHandBuiltNamespaceReadsBackExactlyAsIPShowsIt() throws {
        guard !KernelCheck.unavailable() else { return }
        let node = try NetworkNamespace("nl"), peer = try NetworkNamespace("nl")
        defer { node.delete(); peer.delete() }
        try Self.buildNode(node, peer: peer)
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snapshot = try NodeSnapshot.record(netns: node.name)
        try snapshot.write(to: dir)

        // Routes: every table, compared entry by entry with ip's own view.
        let ip = try Self.ipRoutes(node)
        let ours = try Self.snapshotRoutes(dir)
        #expect(ours == ip, "only in routes.json: \(ours.subtracting(ip).sorted()); only in ip: \(ip.subtracting(ours).sorted())")
        #expect(ip.contains("main unicast 192.168.5.0/24 172.16.9.9 eth0 boot global 10 - onlink mtu=1400"))

        // Addresses: (interface, address, prefix length, scope) as ip -j addr lists them.
        let addrText = try node.sh("ip -j addr")
        let ifaces = try #require(try JSONSerialization.jsonObject(with: Data(addrText.utf8)) as? [[String: Any]])
        var ipAddresses: Set<String> = []
        for i in ifaces {
            for a in i["addr_info"] as? [[String: Any]] ?? [] where (a["family"] as? String) != nil {
                ipAddresses.insert("\(i["ifname"]!) \(a["local"]!)/\(a["prefixlen"]!) \(a["scope"]!)")
            }
        }
        let snapAddresses = Set(snapshot.addresses.map { "\(snapshot.linkName($0.interfaceIndex)!) \($0.address)/\($0.prefixLength) \($0.scope.name)" })
        #expect(snapAddresses == ipAddresses)

        // Links: index, name, MTU, kind and master as ip -d -j link shows them.
        let linkText = try node.sh("ip -d -j link")
        let ipLinks = try #require(try JSONSerialization.jsonObject(with: Data(linkText.utf8)) as? [[String: Any]])
        let ipView = Set(ipLinks.map { l in
            "\(l["ifindex"]!) \(l["ifname"]!) \(l["mtu"]!) \((l["linkinfo"] as? [String: Any])?["info_kind"] as? String ?? "-") \(l["master"] as? String ?? "-")"
        })
        let linkNames = Dictionary(uniqueKeysWithValues: snapshot.links.map { ($0.index, $0.name) })
        let ourView = Set(snapshot.links.map { "\($0.index) \($0.name) \($0.mtu) \($0.kind ?? "-") \($0.masterIndex.flatMap { linkNames[$0] } ?? "-")" })
        #expect(ourView == ipView)
        let flannel = try #require(snapshot.links.first { $0.name == "flannel.1" })
        #expect(flannel.vxlan == VXLANParameters(id: 1, port: 8472, local: try IPAddress(parsing: "10.1.0.2")))
        #expect(flannel.parentIndex == snapshot.links.first { $0.name == "eth0" }?.index)

        // The dumps and meta.
        #expect(snapshot.iptablesRules?.contains("-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE") == true)
        #expect(snapshot.meta.netns == node.name)
        let ipvsLoaded = FileManager.default.fileExists(atPath: "/sys/module/ip_vs")
        #expect(snapshot.meta.missing.contains { $0.hasPrefix("ipvs: the kernel has no IPVS") } == !ipvsLoaded)

        // The directory reads back to the same typed values.
        let back = try NodeSnapshot.read(from: dir)
        #expect(back.links == snapshot.links)
        #expect(back.addresses == snapshot.addresses)
        #expect(back.routes == snapshot.routes)
        #expect(back.neighbours == snapshot.neighbours)
        #expect(back.iptablesRules == snapshot.iptablesRules && back.meta == snapshot.meta)

        // As a host: eth0's primary first, the main table's routes, the rest noted.
        let model = back.hostModel()
        let eth0 = try #require(model.interfaces.first { $0.name == "eth0" })
        #expect(eth0.addresses.first?.address == (try IPAddress(parsing: "10.1.0.2")))
        #expect(model.routes.contains(Route(destination: try Prefix(parsing: "0.0.0.0/0"), device: "eth0", gateway: try IPAddress(parsing: "10.1.0.1"))))
        #expect(!model.routes.contains { $0.destination == (try? Prefix(parsing: "10.9.0.0/16")) })
        #expect(model.notes.contains { $0.contains("table 100 not used") })
        #expect(model.notes.contains { $0.contains("blackhole 10.66.0.0/16") })
    }

    @Test func anExistingDirectoryIsNeverOverwritten() throws {
        let dir = Self.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snapshot = NodeSnapshot(links: [KernelLink(index: 1, name: "lo")], addresses: [], routes: [],
                                    meta: SnapshotMeta(hostname: "h", kernel: "k", time: "t", netns: nil))
        let error = #expect(throws: SnapshotError.self) { try snapshot.write(to: dir) }
        #expect(error?.message.hasPrefix("exists already") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        let parent = URL(fileURLWithPath: dir).deletingLastPathComponent().path
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent).contains { $0.contains(".kdp-tmp-") } == false)
    }

    /// A valid snapshot's files, to break one at a time.
    static let good: [SnapshotFile: String] = [
        .meta: #"{"format": 1, "hostname": "n", "kernel": "6", "time": "t", "missing": [], "sysctls": {}}"#,
        .links: """
        [
        {"index": 1, "name": "lo", "mtu": 65536, "flags": ["LOOPBACK", "UP"]},
        {"index": 2, "name": "eth0", "mtu": 1500, "flags": ["UP"]}
        ]
        """,
        .addresses: """
        [
        {"ifindex": 2, "family": "inet", "address": "10.0.0.2", "prefixLength": 24, "scope": "global", "flags": 0}
        ]
        """,
        .routes: """
        [
        {"table": "main", "family": "inet", "type": "unicast", "destination": "0.0.0.0/0", "scope": "global", "protocol": "boot", "metric": 0, "nexthops": [{"ifindex": 2, "gateway": "10.0.0.1"}]}
        ]
        """,
    ]

    func read(replacing file: SnapshotFile, with text: String?) throws -> SnapshotError? {
        let dir = Self.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var files = Self.good
        files[file] = text
        for (f, t) in files { try t.write(toFile: dir + "/" + f.rawValue, atomically: true, encoding: .utf8) }
        do { _ = try NodeSnapshot.read(from: dir); return nil } catch {
            #expect(error.file == dir + "/" + file.rawValue)
            return error
        }
    }

    @Test func aGoodSnapshotDirectoryReads() throws {
        let dir = Self.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (f, t) in Self.good { try t.write(toFile: dir + "/" + f.rawValue, atomically: true, encoding: .utf8) }
        let s = try NodeSnapshot.read(from: dir)
        #expect(s.hostModel().routes == [Route(destination: try Prefix(parsing: "0.0.0.0/0"), device: "eth0", gateway: try IPAddress(parsing: "10.0.0.1"))])
        #expect(s.iptablesRules == nil)
    }

    @Test func badSnapshotsNameTheFileTheLineAndWhatIsWrong() throws {
        let missing = try read(replacing: .routes, with: nil)
        #expect(missing?.message.hasPrefix("missing") == true)
        let routes = Self.good[.routes]!
        let badPrefix = try read(replacing: .routes, with: routes.replacingOccurrences(of: "0.0.0.0/0", with: "0.0.0.0/33"))
        #expect(badPrefix?.line == 2)
        #expect(badPrefix?.message.hasPrefix("entry 1: destination '0.0.0.0/33'") == true)
        let noLink = try read(replacing: .routes, with: routes.replacingOccurrences(of: "\"ifindex\": 2", with: "\"ifindex\": 7"))
        #expect(noLink?.message == "entry 1: next hop ifindex 7 is not a link in links.json" && noLink?.line == 2)
        let wrongType = try read(replacing: .links, with: Self.good[.links]!.replacingOccurrences(of: "\"mtu\": 1500", with: "\"mtu\": \"big\""))
        #expect(wrongType?.line == 3 && wrongType?.message.hasPrefix("entry 2: mtu: expected") == true)
        let noKey = try read(replacing: .addresses, with: Self.good[.addresses]!.replacingOccurrences(of: "\"scope\": \"global\", ", with: ""))
        #expect(noKey?.line == 2 && noKey?.message == "entry 1: 'scope' is missing")
        let broken = try read(replacing: .links, with: "[\n{\"index\": 1,,}\n]")
        #expect(broken?.line == 2 && broken?.column == 13 && broken?.message == "not valid JSON (invalid value)")
        let duplicate = try read(replacing: .links, with: Self.good[.links]!.replacingOccurrences(of: "\"index\": 2", with: "\"index\": 1"))
        #expect(duplicate?.line == 3 && duplicate?.message == "index 1 appears twice")
        let format = try read(replacing: .meta, with: #"{"format": 9, "hostname": "n", "kernel": "6", "time": "t", "missing": [], "sysctls": {}}"#)
        #expect(format?.line == 1 && format?.message.hasPrefix("format 9") == true)
    }

    @Test func aDownLinksAddressesStayLocalButRouteNothing() throws {
        let a = try IPAddress(parsing: "10.7.0.1"), b = try IPAddress(parsing: "10.8.0.1")
        let snapshot = NodeSnapshot(
            links: [KernelLink(index: 1, name: "lo", flags: [.loopback, .up]), KernelLink(index: 2, name: "eth0", flags: [.up]), KernelLink(index: 3, name: "eth1")],
            addresses: [KernelAddress(interfaceIndex: 2, address: b, prefixLength: 24), KernelAddress(interfaceIndex: 3, address: a, prefixLength: 24)],
            routes: [], meta: SnapshotMeta(hostname: "h", kernel: "k", time: "t", netns: nil))
        let model = snapshot.hostModel()
        let host = Host(interfaces: model.interfaces, routes: model.routes)
        #expect(host.isLocal(a))
        #expect(host.route(to: try IPAddress(parsing: "10.7.0.9")) == nil)
        #expect(host.route(to: try IPAddress(parsing: "10.8.0.9"))?.device == "eth0")
        #expect(model.notes.contains { $0.hasPrefix("snapshot: links down") && $0.hasSuffix("eth1") })
    }

    @Test func ipvsServicesFromGenericNetlinkAreWrittenAsIpvsadmSaveAndReadBack() throws {
        func ip(_ s: String) throws -> IPAddress { try IPAddress(parsing: s) }
        let services = [
            IPVSServiceEntry(family: .ipv4, ipProtocol: 6, address: try ip("10.96.0.1"), port: 443, scheduler: "rr", destinations: [
                IPVSDestinationEntry(address: try ip("10.244.1.5"), port: 6443), IPVSDestinationEntry(address: try ip("10.244.2.5"), port: 6443, weight: 2),
            ]),
            IPVSServiceEntry(family: .ipv4, ipProtocol: 17, address: try ip("10.96.0.10"), port: 53, scheduler: "sh", flags: 0x1 | 0x10, timeout: 10800,
                             destinations: [IPVSDestinationEntry(address: try ip("10.244.1.7"), port: 53, forwardMethod: 3)]),
            IPVSServiceEntry(family: .ipv6, ipProtocol: 6, address: try ip("fd00:96::1"), port: 80, scheduler: "wlc", netmask: 128,
                             destinations: [IPVSDestinationEntry(address: try ip("fd00:244::5"), port: 8080)]),
        ]
        let text = try NodeSnapshot.ipvsSave(services).get()
        let lines = Set(text.split(separator: "\n").map(String.init))
        #expect(lines.contains("-A -t 10.96.0.1:443 -s rr"))
        #expect(lines.contains("-a -t 10.96.0.1:443 -r 10.244.2.5:6443 -m -w 2"))
        #expect(lines.contains("-A -u 10.96.0.10:53 -s sh -p 10800 -b sh-port"))
        #expect(lines.contains("-a -u 10.96.0.10:53 -r 10.244.1.7:53 -g -w 1"))
        #expect(lines.contains("-A -t [fd00:96::1]:80 -s wlc"))
        var table = IPVSTable()
        _ = try IPVSAdm.parseDump(text, into: &table)
        #expect(IPVSAdm.save(table) == text)
        let unknown = NodeSnapshot.ipvsSave([IPVSServiceEntry(family: .ipv4, ipProtocol: 6, address: try ip("10.0.0.1"), port: 80, scheduler: "nope")])
        #expect(throws: SnapshotError.self) { try unknown.get() }
    }
}
