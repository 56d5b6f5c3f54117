import Netlink
import Wire

/// The JSON shape of each snapshot file's entries: strings (addresses, prefixes, names) only
/// here, typed values on either side. Optional fields are left out when absent.
struct LinkRecord: Codable, Equatable {
    var index: Int
    var name: String
    var kind: String?
    var mtu: UInt32
    var flags: [String]
    var master: String?
    var masterIndex: Int?
    /// IFLA_LINK: a veth's peer, a VXLAN's lower device.
    var link: String?
    var linkIndex: Int?
    var linkNetnsID: Int32?
    var address: String?
    var vxlan: VXLANRecord?
}

struct VXLANRecord: Codable, Equatable {
    var id: UInt32
    var port: UInt16
    var local: String?
}

struct AddressRecord: Codable, Equatable {
    var ifindex: Int
    var interface: String?
    var family: String
    var address: String
    var prefixLength: Int
    var peer: String?
    var broadcast: String?
    var scope: String
    var flags: UInt32
    var label: String?
}

struct NextHopRecord: Codable, Equatable {
    var dev: String?
    var ifindex: Int?
    var gateway: String?
    var onlink: Bool?
    var weight: Int?
}

struct RouteRecord: Codable, Equatable {
    var table: String
    var family: String
    var type: String
    var destination: String
    var scope: String
    var `protocol`: String
    var metric: UInt32
    var prefsrc: String?
    var tos: UInt8?
    var nexthops: [NextHopRecord]
    var metrics: [String: UInt32]?
}

struct NeighbourRecord: Codable, Equatable {
    var family: String
    var ifindex: Int
    var dev: String?
    var destination: String?
    var lladdr: String?
    var state: UInt16
    var flags: UInt8
    var master: String?
    var masterIndex: Int?
    var vlan: Int?
}

/// A field of a record that does not hold what it should.
struct RecordError: Error {
    var message: String
    init(_ m: String) { message = m }
}

enum TableName {
    static func text(_ t: UInt32) -> String {
        switch t {
        case 254: "main"
        case 255: "local"
        case 253: "default"
        default: String(t)
        }
    }
    static func parse(_ s: String) -> UInt32? {
        switch s {
        case "main": 254
        case "local": 255
        case "default": 253
        default: UInt32(s)
        }
    }
}

func familyText(_ f: IPFamily) -> String { f == .ipv4 ? "inet" : "inet6" }

func parseAddress(_ s: String, _ field: String) throws(RecordError) -> IPAddress {
    do { return try IPAddress(parsing: s) } catch { throw RecordError("\(field) '\(s.prefix(40))': \(error)") }
}

func parseEthernet(_ s: String, _ field: String) throws(RecordError) -> EthernetAddress {
    let parts = s.split(separator: ":")
    guard parts.count == 6 else { throw RecordError("\(field) '\(s.prefix(40))' is not a MAC address (six hex bytes, colon-separated)") }
    var v: UInt64 = 0
    for p in parts {
        guard p.count <= 2, let b = UInt8(p, radix: 16) else { throw RecordError("\(field) '\(s.prefix(40))' is not a MAC address") }
        v = v << 8 | UInt64(b)
    }
    return EthernetAddress(v)
}

extension LinkRecord {
    init(_ l: KernelLink, names: [Int: String]) {
        index = l.index
        name = l.name
        kind = l.kind
        mtu = l.mtu
        flags = LinkFlags.names.filter { l.flags.contains($0.0) }.map(\.1)
        masterIndex = l.masterIndex
        master = l.masterIndex.flatMap { names[$0] }
        linkIndex = l.parentIndex
        // A parent in another namespace has an index of that namespace: no name here.
        link = l.linkNetnsID == nil ? l.parentIndex.flatMap { names[$0] } : nil
        linkNetnsID = l.linkNetnsID
        address = l.address?.description
        vxlan = l.vxlan.map { VXLANRecord(id: $0.id, port: $0.port, local: $0.local?.description) }
    }

    func typed() throws(RecordError) -> KernelLink {
        guard !name.isEmpty, name.count <= 15 else { throw RecordError("name '\(name.prefix(20))' is not an interface name") }
        var flagSet: LinkFlags = []
        for f in flags {
            guard let hit = LinkFlags.names.first(where: { $0.1 == f }) else {
                throw RecordError("flag '\(f.prefix(20))' unknown (\(LinkFlags.names.map(\.1).joined(separator: ", ")))")
            }
            flagSet.insert(hit.0)
        }
        var vx: VXLANParameters?
        if let v = vxlan { vx = VXLANParameters(id: v.id, port: v.port, local: try v.local.map { s throws(RecordError) in try parseAddress(s, "vxlan.local") }) }
        return KernelLink(index: index, name: name, kind: kind, mtu: mtu, flags: flagSet, masterIndex: masterIndex, parentIndex: linkIndex,
                          linkNetnsID: linkNetnsID, address: try address.map { s throws(RecordError) in try parseEthernet(s, "address") }, vxlan: vx)
    }
}

extension AddressRecord {
    init(_ a: KernelAddress, names: [Int: String]) {
        ifindex = a.interfaceIndex
        interface = names[a.interfaceIndex]
        family = familyText(a.address.family)
        address = a.address.description
        prefixLength = a.prefixLength
        peer = a.peer?.description
        broadcast = a.broadcast?.description
        scope = a.scope.name
        flags = a.flags
        label = a.label
    }

    func typed() throws(RecordError) -> KernelAddress {
        let ip = try parseAddress(address, "address")
        guard familyText(ip.family) == family else { throw RecordError("family '\(family.prefix(10))' but address \(ip) is \(familyText(ip.family))") }
        guard (0...ip.family.bitWidth).contains(prefixLength) else { throw RecordError("prefixLength \(prefixLength) is out of 0...\(ip.family.bitWidth)") }
        guard let s = Scope(name: scope) else { throw RecordError("scope '\(scope.prefix(20))' unknown") }
        return KernelAddress(interfaceIndex: ifindex, address: ip, prefixLength: prefixLength,
                             peer: try peer.map { p throws(RecordError) in try parseAddress(p, "peer") },
                             broadcast: try broadcast.map { p throws(RecordError) in try parseAddress(p, "broadcast") },
                             scope: s, flags: flags, label: label)
    }
}

extension RouteRecord {
    init(_ r: KernelRoute, names: [Int: String]) {
        table = TableName.text(r.table)
        family = familyText(r.destination.family)
        type = r.type.name
        destination = r.destination.description
        scope = r.scope.name
        `protocol` = r.proto.name
        metric = r.priority
        prefsrc = r.preferredSource?.description
        tos = r.tos == 0 ? nil : r.tos
        nexthops = r.nextHops.map {
            NextHopRecord(dev: $0.interfaceIndex.flatMap { names[$0] }, ifindex: $0.interfaceIndex, gateway: $0.gateway?.description,
                          onlink: $0.onlink ? true : nil, weight: r.nextHops.count > 1 ? $0.weight : nil)
        }
        var m: [String: UInt32] = [:]
        for (k, v) in r.metrics { m[RouteMetric.names[k] ?? String(k)] = v }
        metrics = m.isEmpty ? nil : m
    }

    func typed() throws(RecordError) -> KernelRoute {
        guard let t = TableName.parse(table) else { throw RecordError("table '\(table.prefix(20))' is not main, local, default or a number") }
        let dst: Prefix
        do { dst = try Prefix(parsing: destination) } catch { throw RecordError("destination '\(destination.prefix(50))': \(error)") }
        guard familyText(dst.family) == family else { throw RecordError("family '\(family.prefix(10))' but destination \(dst) is \(familyText(dst.family))") }
        guard let ty = RouteType(name: type) else { throw RecordError("type '\(type.prefix(20))' unknown") }
        guard let sc = Scope(name: scope) else { throw RecordError("scope '\(scope.prefix(20))' unknown") }
        guard let pr = RouteProtocol(name: `protocol`) else { throw RecordError("protocol '\(`protocol`.prefix(20))' unknown") }
        var hops: [NextHop] = []
        for h in nexthops {
            let gw = try h.gateway.map { g throws(RecordError) in try parseAddress(g, "gateway") }
            hops.append(NextHop(interfaceIndex: h.ifindex, gateway: gw, onlink: h.onlink ?? false, weight: h.weight ?? 1))
        }
        var m: [Int: UInt32] = [:]
        for (k, v) in metrics ?? [:] {
            guard let n = RouteMetric.names.first(where: { $0.value == k })?.key ?? Int(k) else { throw RecordError("metric '\(k.prefix(20))' unknown") }
            m[n] = v
        }
        return KernelRoute(table: t, destination: dst, type: ty, scope: sc, proto: pr, priority: metric,
                           preferredSource: try prefsrc.map { p throws(RecordError) in try parseAddress(p, "prefsrc") }, nextHops: hops, metrics: m, tos: tos ?? 0)
    }
}

extension NeighbourRecord {
    static let families: [Int32: String] = [2: "inet", 10: "inet6", 7: "bridge"]

    init(_ n: KernelNeighbour, names: [Int: String]) {
        family = Self.families[n.family] ?? String(n.family)
        ifindex = n.interfaceIndex
        dev = names[n.interfaceIndex]
        destination = n.destination?.description
        lladdr = n.linkAddress?.description
        state = n.state
        flags = n.flags
        master = n.masterIndex.flatMap { names[$0] }
        masterIndex = n.masterIndex
        vlan = n.vlan
    }

    func typed() throws(RecordError) -> KernelNeighbour {
        guard let f = Self.families.first(where: { $0.value == family })?.key ?? Int32(family) else { throw RecordError("family '\(family.prefix(10))' unknown") }
        return KernelNeighbour(family: f, interfaceIndex: ifindex, destination: try destination.map { d throws(RecordError) in try parseAddress(d, "destination") },
                               linkAddress: try lladdr.map { l throws(RecordError) in try parseEthernet(l, "lladdr") }, state: state, flags: flags, masterIndex: masterIndex, vlan: vlan)
    }
}
