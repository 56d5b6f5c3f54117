import Cluster
import Netfilter
import Wire

/// What `kdp trace-rules` knows of the node beyond its rules: interfaces and addresses, routes
/// and sysctls. What the user states (`--iface`, `--route`, `--sysctl`) is taken as given; the
/// rest is assumed, and every assumption is a note on the trace.
extension TraceRulesRequest {
    /// Parses `--iface NAME=ADDR/LEN`.
    public static func parseInterface(_ text: String) throws(InputError) -> (name: String, address: IPAddress, prefixLength: Int) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw InputError("--iface takes NAME=ADDR/LEN: '\(text.prefix(60))'")
        }
        let name = String(text[..<eq])
        guard name.count <= 15, name.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "/" }) else {
            throw InputError("--iface: '\(name.prefix(20))' is not an interface name (at most 15 characters, no spaces or '/')")
        }
        let cidr = text[text.index(after: eq)...]
        let prefix: Prefix
        do { prefix = try Prefix(parsing: cidr, sloppy: true, allowHostBits: true) } catch {
            throw InputError("--iface \(name): \(error)")
        }
        guard let address = Self.address(in: cidr) else { throw InputError("--iface \(name): '\(cidr.prefix(60))' is not ADDR/LEN") }
        return (name, address, prefix.length)
    }

    private static func address(in cidr: Substring) -> IPAddress? {
        guard let slash = cidr.firstIndex(of: "/") else { return nil }
        return try? IPAddress(sloppy: cidr[..<slash])
    }

    /// Parses `--route DEST[,via=GW],dev=IFACE[,src=ADDR]`; DEST is a CIDR or `default`
    /// (`default` for the family of the gateway or source, else IPv4; `default6` or `::/0` for
    /// IPv6).
    public static func parseRoute(_ text: String) throws(InputError) -> Route {
        let fields = text.split(separator: ",", omittingEmptySubsequences: false)
        guard let first = fields.first, !first.isEmpty else { throw InputError("--route takes DEST[,via=GW],dev=IFACE: '\(text.prefix(60))'") }
        var via: IPAddress?, dev: String?, src: IPAddress?
        for f in fields.dropFirst() {
            guard let eq = f.firstIndex(of: "=") else { throw InputError("--route \(first): '\(f.prefix(40))' is not via=GW, dev=IFACE or src=ADDR") }
            let key = f[..<eq], value = f[f.index(after: eq)...]
            func ip() throws(InputError) -> IPAddress {
                do { return try IPAddress(sloppy: value) } catch { throw InputError("--route \(first): \(key)=: \(error)") }
            }
            switch key {
            case "via": via = try ip()
            case "src": src = try ip()
            case "dev":
                guard !value.isEmpty, value.count <= 15 else { throw InputError("--route \(first): dev= needs an interface name") }
                dev = String(value)
            default: throw InputError("--route \(first): unknown field '\(key.prefix(20))' (via=, dev=, src=)")
            }
        }
        guard let dev else { throw InputError("--route \(first): dev=IFACE is required") }
        let destination: Prefix
        switch first {
        case "default":
            let family = via?.family ?? src?.family ?? .ipv4
            destination = Prefix(containing: IPAddress(family: family, bits: 0), length: 0)
        case "default6":
            destination = Prefix(containing: IPAddress(family: .ipv6, bits: 0), length: 0)
        default:
            do { destination = try Prefix(parsing: first, sloppy: true, allowBareAddress: true) } catch {
                throw InputError("--route: \(error)")
            }
        }
        for a in [via, src].compactMap({ $0 }) where a.family != destination.family {
            throw InputError("--route \(first): \(a) is not of the destination's family")
        }
        return Route(destination: destination, device: dev, gateway: via, source: src)
    }

    /// The host the trace runs on, and what was assumed to build it: `--iface` interfaces, every
    /// `--local-ip` not on one of them on eth0 (/24 or /64, assumed), `--route` routes or a
    /// default route per family out of eth0, else the first interface with an address of that family
    /// (assumed), and the sysctls: `--sysctl` values, else what the rules imply.
    func assumedHost(_ rules: Ruleset) -> (Host, [String]) {
        var notes: [String] = []
        var ifaces: [Interface] = []
        for i in interfaces {
            if let k = ifaces.firstIndex(where: { $0.name == i.name }) { ifaces[k].addresses += i.addresses } else { ifaces.append(i) }
        }
        var placed: [String] = []
        for a in localAddresses where !ifaces.contains(where: { $0.addresses.contains { $0.address == a } }) {
            let length = a.family == .ipv4 ? 24 : 64
            if let k = ifaces.firstIndex(where: { $0.name == "eth0" }) { ifaces[k].addresses.append((a, length)) } else {
                ifaces.append(Interface(name: "eth0", addresses: [(a, length)]))
            }
            placed.append("\(a)/\(length)")
        }
        if !placed.isEmpty {
            notes.append("assumed: eth0 has \(placed.joined(separator: ", "))\(placed.count > 1 ? " (the first of each family primary)" : ""); state interfaces with --iface NAME=ADDR/LEN")
        }
        var table = routes
        if table.isEmpty && !routesAreComplete {
            var assumed: [String] = []
            for family in [IPFamily.ipv4, .ipv6] {
                let candidates = ifaces.filter { $0.addresses.contains { $0.address.family == family && !$0.address.isLoopback } }
                guard let i = candidates.first(where: { $0.name == "eth0" }) ?? candidates.first else { continue }
                table.append(Route(destination: Prefix(containing: IPAddress(family: family, bits: 0), length: 0), device: i.name))
                assumed.append("\(family == .ipv4 ? "default route" : "IPv6 default route") out \(i.name)")
            }
            if !assumed.isEmpty { notes.append("assumed: \(assumed.joined(separator: ", ")), no gateway; state routes with --route DEST[,via=GW],dev=IFACE") }
        }
        var host = Host(interfaces: ifaces, routes: table)
        let family = destination.family
        let implied = impliedSysctls(rules, family: family)
        var said: [String] = []
        for (sysctl, value, why) in implied {
            let on = sysctls[sysctl] ?? value
            said.append("\(sysctl.rawValue)=\(on ? 1 : 0) (\(sysctls[sysctl] == nil ? "assumed: \(why)" : "given"))")
            switch sysctl {
            case .ipForward, .ipv6Forwarding: host.forwarding = on
            case .routeLocalnet: host.routeLocalnet = on
            case .bridgeNFCallIPTables, .bridgeNFCallIP6Tables: break
            }
        }
        notes.append("sysctls: " + said.joined(separator: ", ") + (implied.contains { sysctls[$0.0] == nil } ? "; override with --sysctl NAME=VALUE" : ""))
        return (host, notes)
    }

    /// The sysctls a trace of `family` consults, each with the value the rules imply and why.
    func impliedSysctls(_ rules: Ruleset, family: IPFamily) -> [(Sysctl, Bool, String)] {
        let kube = rules.tables.contains { t in t.chains.contains { $0.name.hasPrefix("KUBE-") } }
        var out: [(Sysctl, Bool, String)] = []
        out.append((Sysctl.forwarding(family), true, kube ? "a Kubernetes node forwards pod traffic" : "the host forwards; the kernel's default is 0"))
        if family == .ipv4 {
            if let why = Self.localhostNodePorts(rules) {
                out.append((.routeLocalnet, true, "kube-proxy sets it for the localhost NodePorts its rules serve: \(why)"))
            } else {
                out.append((.routeLocalnet, false, "the kernel's default; the rules serve no NodePorts on 127.0.0.1"))
            }
        }
        out.append((Sysctl.bridgeNFCall(family), true, kube ? "kube-proxy needs it" : "as on a Kubernetes node"))
        return out
    }

    /// Whether the nat table's KUBE-SERVICES sends 127.0.0.1 to KUBE-NODEPORTS, as kube-proxy
    /// writes it with localhost NodePorts on (pkg/proxy/iptables/proxier.go: the nodeports rule
    /// gets `! -d 127.0.0.0/8` when they are off, or lists the addresses of
    /// --nodeport-addresses); the rule that does, or nil.
    static func localhostNodePorts(_ rules: Ruleset) -> String? {
        guard let nat = rules.table(.nat), let services = nat.chain("KUBE-SERVICES") else { return nil }
        let loopback = IPAddress.v4(IPv4Address(127, 0, 0, 1))
        for (i, rule) in services.rules.enumerated() {
            guard case .jump("KUBE-NODEPORTS")? = rule.target else { continue }
            var reaches = true
            for m in rule.matches {
                if case .destination(let prefixes, let negated) = m, prefixes.contains(where: { $0.contains(loopback) }) == negated {
                    reaches = false
                }
            }
            if reaches { return "KUBE-SERVICES rule \(i + 1) sends 127.0.0.1 to KUBE-NODEPORTS" }
        }
        return nil
    }
}
