import Cluster
import Dataplane
import Foundation
import KubeProxy
import Netlink
import Wire

/// Why `kdp materialize` stopped: no root or namespaces, a refusal (IPVS mode on a kernel
/// without IPVS), or a kernel or tool failure part-way (after which what was made is removed).
public struct MaterializeError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Builds kdp's emulated cluster in the running kernel: one network namespace per node and per
/// pod that is not hostNetwork, a fabric namespace whose bridge joins the nodes' `eth0`, the
/// interfaces, addresses and routes kdp's CNI emulator computes (`NodeNetwork`, `PodNetwork`),
/// flannel's VXLAN devices with their neighbour and FDB entries, each node's sysctls, and each
/// node's rules (the ruleset kdp's traces walk, `NodeHost.netfilterRuleset`) loaded with
/// `iptables-restore` inside the node's namespace. Namespaces, links, addresses, routes and
/// neighbours go through libnl (`Netlink`); only rules use the iptables tools.
///
/// Nothing is made outside the namespaces it creates: the veth pairs are created from inside a
/// namespace of this cluster with the peer straight in another (`IFLA_NET_NS_FD`), and the
/// fabric is a namespace too, so no traffic reaches the host. A failure part-way removes every
/// namespace this run made (with their links), and only those.
public enum Materializer {
    /// Why this process cannot build namespaces, or nil.
    public static func unavailable() -> String? {
        if geteuid() != 0 { return "kdp materialize needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create network namespaces" }
        if access("/proc/self/ns/net", F_OK) != 0 { return "this kernel has no network namespaces (/proc/self/ns/net is missing)" }
        return nil
    }

    /// Builds `cluster` with `prefix` (`MaterializeNames`). On any failure, the namespaces made
    /// so far are removed before the error is thrown.
    public static func build(_ cluster: Cluster, prefix: String, external: ExternalNetwork? = nil) throws(MaterializeError) -> MaterializeReport {
        if let why = MaterializeNames.problem(prefix: prefix) { throw MaterializeError("--prefix: \(why)") }
        if let why = unavailable() { throw MaterializeError(why) }
        let names = MaterializeNames(prefix: prefix)
        if NetworkNamespaceFile.names().contains(names.fabric) {
            throw MaterializeError("a cluster is materialized with prefix \(prefix) already (namespace \(names.fabric) exists): remove it with `kdp materialize --prefix \(prefix) --delete`, or choose another --prefix")
        }
        let builder = Builder(cluster: cluster, names: names)
        builder.external = external
        do {
            try builder.build()
        } catch {
            builder.cleanUp()
            throw MaterializeError("\(error.description) (removed the \(builder.made.count) network namespaces made so far)")
        }
        builder.close()
        return builder.report
    }

    /// Removes every namespace `prefix` names (`MaterializeNames.owns`), and nothing else.
    public static func delete(prefix: String) throws(MaterializeError) -> MaterializeReport {
        if let why = MaterializeNames.problem(prefix: prefix) { throw MaterializeError("--prefix: \(why)") }
        if let why = unavailable() { throw MaterializeError(why) }
        let names = MaterializeNames(prefix: prefix)
        var report = MaterializeReport(prefix: prefix, cluster: "")
        for name in NetworkNamespaceFile.names() where names.owns(name) {
            do { try NetworkNamespaceFile.delete(named: name) } catch { throw MaterializeError("delete: \(error)") }
            report.deleted.append(name)
        }
        return report
    }
}

/// A failure while building, with what was being done.
struct BuildError: Error {
    var description: String
    init(_ d: String) { description = d }
}

/// One build: the namespaces made (in order, for clean-up), their files and sockets.
final class Builder {
    let cluster: Cluster
    let names: MaterializeNames
    var dataplane: Dataplane
    var report: MaterializeReport
    /// The client network outside the cluster, when asked for (`Materializer+External`).
    var external: ExternalNetwork?
    private(set) var made: [String] = []
    private var files: [String: NetworkNamespaceFile] = [:]
    private var sockets: [String: NetlinkSocket] = [:]
    private var noted: Set<String> = []

    init(cluster: Cluster, names: MaterializeNames) {
        self.cluster = cluster
        self.names = names
        dataplane = Dataplane(cluster: cluster)
        report = MaterializeReport(prefix: names.prefix, cluster: cluster.settings.name)
    }

    /// Closes the sockets and namespace files (the namespaces stay, held by their mounts).
    func close() {
        sockets = [:]
        files = [:]
    }

    /// Removes every namespace this build made, newest first.
    func cleanUp() {
        close()
        for name in made.reversed() { try? NetworkNamespaceFile.delete(named: name) }
    }

    func note(_ text: String) {
        if noted.insert(text).inserted { report.notes.append(text) }
    }

    func netlink<T>(_ body: () throws(NetlinkError) -> T) throws(BuildError) -> T {
        do { return try body() } catch { throw BuildError(error.description) }
    }

    /// Creates a namespace of this cluster, with its loopback up.
    func namespace(_ name: String) throws(BuildError) -> (NetworkNamespaceFile, NetlinkSocket) {
        guard name.utf8.count <= 255 else { throw BuildError("the namespace name \(name.prefix(40))… is longer than 255 bytes") }
        let file = try netlink { () throws(NetlinkError) in try NetworkNamespaceFile.create(named: name) }
        made.append(name)
        files[name] = file
        let socket = try netlink { () throws(NetlinkError) in try NetlinkSocket(namespace: file) }
        sockets[name] = socket
        try netlink { () throws(NetlinkError) in try socket.setLink(name: "lo", up: true) }
        return (file, socket)
    }

    func index(_ socket: NetlinkSocket, _ link: String) throws(BuildError) -> Int {
        guard let i = try netlink({ () throws(NetlinkError) in try socket.linkIndex(name: link) }) else {
            throw BuildError("link \(link) is missing in \(socket.namespacePath ?? "?")")
        }
        return i
    }

    /// Adds `addresses` to `link` (IPv6 ones without duplicate address detection, so they are
    /// usable at once, as a CNI's are after its DAD wait).
    func address(_ socket: NetlinkSocket, _ link: String, _ addresses: [(IPAddress, Int)]) throws(BuildError) -> String {
        let i = try index(socket, link)
        for (ip, length) in addresses {
            let a = KernelAddress(interfaceIndex: i, address: ip, prefixLength: length, flags: ip.family == .ipv6 ? 0x2 : 0)
            try netlink { () throws(NetlinkError) in try socket.addAddress(a) }
        }
        return addresses.map { "\($0.0)/\($0.1)" }.joined(separator: " ")
    }

    /// Adds kdp's routes, except those the kernel adds itself for an address (`proto kernel`).
    private func routes(_ socket: NetlinkSocket, _ routes: [IPRoute]) throws(BuildError) -> [String] {
        var out: [String] = []
        for r in routes where r.proto != "kernel" {
            let i = try index(socket, r.device)
            let route = KernelRoute(destination: r.destination ?? Prefix(containing: IPAddress(family: r.family, bits: 0), length: 0),
                                    scope: r.scopeLink ? .link : .universe,
                                    preferredSource: r.family == .ipv4 ? r.source : nil,
                                    nextHops: [NextHop(interfaceIndex: i, gateway: r.gateway, onlink: r.onlink)])
            try netlink { () throws(NetlinkError) in try socket.addRoute(route) }
            out.append(r.description)
        }
        return out
    }

    func build() throws(BuildError) {
        // Everything that can fail without the kernel first: the rules of every node.
        var rules: [String: [(IPFamily, String, IPVSModeRuleset?)]] = [:]
        if cluster.settings.kubeProxy.mode == .ipvs { try checkIPVS() }
        for node in cluster.nodes {
            guard let host = dataplane.node(named: node.name) else { continue }
            for family in cluster.settings.families {
                do {
                    guard let ruleset = try host.netfilterRuleset(for: family) else { continue }
                    rules[node.name, default: []].append((family, ruleset.iptablesSave(), host.ipvsRuleset(for: family)))
                } catch {
                    throw BuildError("node \(node.name): compiling its \(family.rawValue) rules: \(error)")
                }
            }
        }

        let (_, fabric) = try namespace(names.fabric)
        var fabricEntry = MaterializeReport.Namespace(role: "fabric", name: names.fabric)
        try netlink { () throws(NetlinkError) in try fabric.addBridge(name: MaterializeNames.fabricBridge) }
        // The nodes' default gateway (kdp's route) on the fabric bridge: a node's packets for
        // anywhere else end here, inside the fabric, and go no further.
        var gateways: [(IPAddress, Int)] = []
        let nodeAddresses = Set(cluster.nodes.flatMap(\.internalIPs))

        var nodeFiles: [(Node, NetworkNamespaceFile, NetlinkSocket, NodeNetwork)] = []
        for (i, node) in cluster.nodes.enumerated() {
            let name = names.node(node.name)
            let (file, socket) = try namespace(name)
            let network = NodeNetwork(node: node, in: cluster)
            var entry = MaterializeReport.Namespace(role: "node", name: name, of: node.name)
            let port = MaterializeNames.fabricPort(index: i, node: node.name)
            try netlink { () throws(NetlinkError) in
                try fabric.addVeth(name: port, peer: "eth0", peerNamespace: file)
                try fabric.setLink(name: port, masterIndex: try fabric.linkIndex(name: MaterializeNames.fabricBridge) ?? 0)
                try fabric.setLink(name: port, up: true)
            }
            fabricEntry.links.append("\(port) (veth, port of \(MaterializeNames.fabricBridge)) to \(name) eth0")
            for interface in network.interfaces {
                switch interface.kind {
                case .loopback:
                    continue
                case .ethernet:
                    let text = try address(socket, interface.name, interface.addresses)
                    try netlink { () throws(NetlinkError) in try socket.setLink(name: interface.name, up: true) }
                    entry.links.append("\(interface.name) (veth to \(names.fabric) \(port)) \(text)")
                case .bridge:
                    try netlink { () throws(NetlinkError) in try socket.addBridge(name: interface.name) }
                    let text = try address(socket, interface.name, interface.addresses)
                    try netlink { () throws(NetlinkError) in try socket.setLink(name: interface.name, up: true) }
                    entry.links.append("\(interface.name) (bridge) \(text)")
                case .vxlan:
                    let family = interface.addresses.first?.0.family ?? .ipv4
                    guard let local = node.internalIP(family) else {
                        throw BuildError("node \(node.name): \(interface.name) needs an \(family.rawValue) node address")
                    }
                    let eth0 = try index(socket, "eth0")
                    try netlink { () throws(NetlinkError) in
                        try socket.addVXLAN(name: interface.name, parameters: VXLANParameters(id: 1, port: NodeNetwork.vxlanPort, local: local),
                                            parentIndex: eth0, learning: false)
                    }
                    let text = try address(socket, interface.name, interface.addresses)
                    try netlink { () throws(NetlinkError) in try socket.setLink(name: interface.name, up: true) }
                    entry.links.append("\(interface.name) (vxlan id 1 dstport \(NodeNetwork.vxlanPort) local \(local) dev eth0 nolearning) \(text)")
                case .veth:
                    continue
                }
            }
            for r in network.routes where r.destination == nil {
                if let gw = r.gateway, !nodeAddresses.contains(gw), !gateways.contains(where: { $0.0 == gw }),
                   let length = network.interfaces.first(where: { $0.name == r.device })?.addresses.first(where: { $0.0.family == gw.family })?.1 {
                    gateways.append((gw, length))
                }
            }
            report.namespaces.append(entry)
            nodeFiles.append((node, file, socket, network))
        }
        let bridgeText = try address(fabric, MaterializeNames.fabricBridge, gateways)
        try netlink { () throws(NetlinkError) in try fabric.setLink(name: MaterializeNames.fabricBridge, up: true) }
        fabricEntry.links.insert("\(MaterializeNames.fabricBridge) (bridge, the nodes' gateway)\(bridgeText.isEmpty ? "" : " " + bridgeText)", at: 0)
        report.namespaces.insert(fabricEntry, at: 0)

        // Pods: a veth from the node's cni0 to the pod's eth0, as the bridge plugin makes it.
        var podEntries: [MaterializeReport.Namespace] = []
        for pod in cluster.pods {
            guard let network = PodNetwork(pod: pod, in: cluster),
                  let (_, _, nodeSocket, _) = nodeFiles.first(where: { $0.0.name == pod.nodeName }) else { continue }
            let name = names.pod(namespace: pod.namespace, name: pod.name)
            let (file, socket) = try namespace(name)
            let veth = MaterializeNames.podVeth(namespace: pod.namespace, name: pod.name)
            try netlink { () throws(NetlinkError) in
                try nodeSocket.addVeth(name: veth, peer: "eth0", peerNamespace: file)
                guard let bridge = try nodeSocket.linkIndex(name: NodeNetwork.bridgeName) else {
                    throw NetlinkError(operation: "attach \(veth)", message: "node \(pod.nodeName ?? "?") has no \(NodeNetwork.bridgeName)")
                }
                try nodeSocket.setLink(name: veth, masterIndex: bridge)
                try nodeSocket.setLink(name: veth, up: true)
            }
            let hairpin = dataplane.node(named: pod.nodeName ?? "")?.kernel.hairpinMode.on ?? true
            try netlink { () throws(NetlinkError) in try nodeSocket.setBridgePort(name: veth, hairpin: hairpin) }
            if let n = report.namespaces.firstIndex(where: { $0.of == pod.nodeName && $0.role == "node" }) {
                report.namespaces[n].links.append("\(veth) (veth, port of \(NodeNetwork.bridgeName), hairpin \(hairpin ? "on" : "off")) to \(name) eth0")
            }
            var entry = MaterializeReport.Namespace(role: "pod", name: name, of: pod.key)
            for interface in network.interfaces where interface.kind == .veth {
                let text = try address(socket, interface.name, interface.addresses)
                try netlink { () throws(NetlinkError) in try socket.setLink(name: interface.name, up: true) }
                entry.links.append("\(interface.name) (veth to \(veth) on node \(pod.nodeName ?? "?")) \(text)")
            }
            entry.routes = try routes(socket, network.routes)
            podEntries.append(entry)
        }

        // flannel's VXLAN: for every other node, an ARP entry for its VTEP (the network address
        // of its subnet) and an FDB entry sending that MAC to its node address.
        if cluster.settings.cni == .vxlan {
            var macs: [String: [String: EthernetAddress]] = [:]
            for (node, _, socket, network) in nodeFiles {
                let links = try netlink { () throws(NetlinkError) in try socket.links() }
                for interface in network.interfaces where interface.kind == .vxlan {
                    macs[node.name, default: [:]][interface.name] = links.first { $0.name == interface.name }?.address
                }
            }
            for (node, _, socket, network) in nodeFiles {
                guard let n = report.namespaces.firstIndex(where: { $0.of == node.name && $0.role == "node" }) else { continue }
                for interface in network.interfaces where interface.kind == .vxlan {
                    let family = interface.addresses.first?.0.family ?? .ipv4
                    let vx = try index(socket, interface.name)
                    for other in cluster.nodes where other.name != node.name {
                        guard let mac = macs[other.name]?[interface.name], let cidr = other.podCIDR(family),
                              let remote = other.internalIP(family) else { continue }
                        let arp = KernelNeighbour(family: family == .ipv4 ? 2 : 10, interfaceIndex: vx, destination: cidr.network,
                                                  linkAddress: mac, state: KernelNeighbour.permanentState)
                        let fdb = KernelNeighbour(family: KernelNeighbour.bridgeFamily, interfaceIndex: vx, destination: remote, linkAddress: mac,
                                                  state: KernelNeighbour.permanentState, flags: KernelNeighbour.selfFlag)
                        try netlink { () throws(NetlinkError) in
                            try socket.setNeighbour(arp)
                            try socket.setNeighbour(fdb)
                        }
                        report.namespaces[n].neighbours.append("\(cidr.network) lladdr \(mac) dev \(interface.name) permanent")
                        report.namespaces[n].neighbours.append("fdb \(mac) dst \(remote) dev \(interface.name) self permanent")
                    }
                }
            }
        }

        // Routes, sysctls and rules of every node.
        for (node, file, socket, network) in nodeFiles {
            guard let n = report.namespaces.firstIndex(where: { $0.of == node.name && $0.role == "node" }),
                  let host = dataplane.node(named: node.name) else { continue }
            report.namespaces[n].routes = try routes(socket, network.routes)
            report.namespaces[n].sysctls = try sysctls(file, host.kernel, node: node.name)
            for (family, text, ipvs) in rules[node.name] ?? [] {
                if let ipvs {
                    try loadIPVS(ipvs, socket: socket, namespace: names.node(node.name), into: &report.namespaces[n])
                }
                let tool = family == .ipv4 ? "iptables-restore" : "ip6tables-restore"
                try run(["ip", "netns", "exec", names.node(node.name), tool], input: text)
                let count = text.split(separator: "\n").filter { $0.hasPrefix("-A ") }.count
                report.namespaces[n].rules.append("\(tool): \(count) rules")
            }
        }
        report.namespaces += podEntries
        if let external { try buildExternal(external, fabric: fabric) }
    }

    /// Writes the node's sysctls (kdp's resolved `NodeKernel`) inside its namespace. A
    /// br_netfilter sysctl the kernel lacks is noted, never loaded.
    private func sysctls(_ file: NetworkNamespaceFile, _ kernel: NodeKernel, node: String) throws(BuildError) -> [String] {
        let wanted = Sysctl.allCases.compactMap { s in kernel.sysctls[s].map { (s, $0.on) } }
        let result = try netlink { () throws(NetlinkError) -> [(String, Bool?)] in
            try file.run { () throws(NetlinkError) -> [(String, Bool?)] in
                wanted.map { (sysctl, on) -> (String, Bool?) in
                    let path = "/proc/sys/" + sysctl.rawValue.replacingOccurrences(of: ".", with: "/")
                    guard let handle = FileHandle(forWritingAtPath: path) else { return (sysctl.rawValue, nil) }
                    defer { try? handle.close() }
                    do { try handle.write(contentsOf: Data((on ? "1\n" : "0\n").utf8)) } catch { return (sysctl.rawValue, false) }
                    return ("\(sysctl.rawValue)=\(on ? 1 : 0)", true)
                }
            }
        }
        var out: [String] = []
        for (text, ok) in result {
            switch ok {
            case true?: out.append(text)
            case false?: throw BuildError("node \(node): writing sysctl \(text) failed")
            case nil:
                if text.hasPrefix("net.bridge.") {
                    note("br_netfilter is not loaded: \(text) is not set on any node (kdp never loads modules); bridged pod-to-pod packets skip iptables here, while kdp's traces follow each node's settings")
                } else {
                    note("sysctl \(text) does not exist in this kernel: not set")
                }
            }
        }
        return out
    }

    /// IPVS mode needs the IPVS family (the ip_vs module), ipset support and the tools; kdp
    /// refuses before building anything when one is missing.
    private func checkIPVS() throws(BuildError) {
        let family: Int32?
        do { family = try GenericNetlink.familyID("IPVS") } catch { throw BuildError("IPVS mode: \(error)") }
        guard family != nil else {
            throw BuildError("the cluster's kube-proxy runs in IPVS mode, and this kernel has no IPVS (no generic netlink family IPVS: the ip_vs module is not loaded, and kdp never loads modules); nothing was built")
        }
        for tool in ["ipset", "ipvsadm"] where (try? run(["sh", "-c", "command -v \(tool)"], input: nil)) == nil {
            throw BuildError("the cluster's kube-proxy runs in IPVS mode, and \(tool) is not installed; nothing was built")
        }
        if !FileManager.default.fileExists(atPath: "/proc/net/ip_set") && !FileManager.default.fileExists(atPath: "/sys/module/ip_set") {
            throw BuildError("the cluster's kube-proxy runs in IPVS mode, and this kernel has no ipset support (the ip_set module is not loaded); nothing was built")
        }
    }

    /// What kube-proxy's IPVS proxier leaves in a node: `kube-ipvs0` with the Service
    /// addresses, the ipsets, the virtual servers.
    private func loadIPVS(_ ipvs: IPVSModeRuleset, socket: NetlinkSocket, namespace: String, into entry: inout MaterializeReport.Namespace) throws(BuildError) {
        if (try? index(socket, IPVSModeRuleset.dummyDevice)) == nil {
            try netlink { () throws(NetlinkError) in try socket.addDummy(name: IPVSModeRuleset.dummyDevice) }
        }
        let text = try address(socket, IPVSModeRuleset.dummyDevice, ipvs.boundAddresses.map { ($0, $0.family.bitWidth) })
        entry.links.append("\(IPVSModeRuleset.dummyDevice) (dummy) \(text)")
        try run(["ip", "netns", "exec", namespace, "ipset", "restore", "-exist"], input: ipvs.ipsetSaveText())
        entry.rules.append("ipset restore: \(ipvs.ipsets.sets.count) sets")
        try run(["ip", "netns", "exec", namespace, "ipvsadm", "-R"], input: ipvs.ipvsadmSaveText())
        entry.rules.append("ipvsadm -R: \(ipvs.ipvsadmSaveText().split(separator: "\n").filter { $0.hasPrefix("-A") }.count) virtual servers")
    }

    /// Runs a tool (rule loading only), `input` on its standard input; a failure throws with
    /// its first line of errors.
    @discardableResult
    func run(_ command: [String], input: String?) throws(BuildError) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = command
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input == nil ? FileHandle.nullDevice : inPipe
        do { try p.run() } catch { throw BuildError("\(command.joined(separator: " ")): could not start: \(error)") }
        if let input {
            let data = Data(input.utf8)
            let writer = inPipe.fileHandleForWriting
            Thread.detachNewThread {
                try? writer.write(contentsOf: data)
                try? writer.close()
            }
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let first = String(decoding: stderr, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            throw BuildError("\(command.joined(separator: " ")) failed (exit \(p.terminationStatus)): \(first.prefix(160))")
        }
        return String(decoding: stdout, as: UTF8.self)
    }
}
