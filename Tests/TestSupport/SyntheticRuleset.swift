import Netfilter
import Wire

/// Generated rulesets in kube-proxy's iptables-mode shape (kube-proxy-rules.md §1.5), for the
/// differential test of the compiled fast path and the parser's fast-path tests: thousands of
/// services with ClusterIPs, externalIPs and NodePorts, 1–4 endpoints chosen by `statistic`,
/// masquerade rules with `! -s`, and adversarial extras in the dispatch chains — CIDR and range matches,
/// negated protocols and ports, goto/RETURN (also mid-chain, on a source alone), a rule on a mark only,
/// `recent` and `statistic nth` before a `--dport`.
public struct SyntheticRuleset: Sendable {
    public var text: String
    /// ClusterIP, protocol and port of every service, to aim packets at.
    public var services: [(address: IPAddress, proto: IPProtocol, port: UInt16, nodePort: UInt16?)]
    public var nodeAddress: IPAddress
    public var ruleCount: Int

    public static func kubeProxyShaped(services count: Int, seed: UInt64, adversarial: Bool = true) -> SyntheticRuleset {
        var rng = SeededGenerator(seed: seed)
        func r(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        let node = IPAddress.v4(IPv4Address(192, 168, 0, 2))
        var nat = "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-ODD - [0:0]\n"
        var natRules = ""
        var filter = "*filter\n:KUBE-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]\n"
        var filterRules = ""
        var services: [(IPAddress, IPProtocol, UInt16, UInt16?)] = []
        var rules = 0
        var svcRules = ""
        var nodePortRules = ""
        var chains = ""
        for i in 0..<count {
            let ip = IPv4Address(172, 30, UInt8(truncatingIfNeeded: i >> 8), UInt8(truncatingIfNeeded: i))
            let proto: IPProtocol = r(5) == 0 ? .udp : .tcp
            let p = proto.name
            let port: UInt16 = [80, 443, 53, 8080, 9090, 6379][r(6)]
            let hasNodePort = r(3) == 0
            let nodePort: UInt16? = hasNodePort ? UInt16(30000 + i % 2700) : nil
            services.append((.v4(ip), proto, port, nodePort))
            let svc = "KUBE-SVC-S\(i)"
            let name = "ns\(i % 17)/svc\(i):p\(port)"
            let endpoints = r(8) == 0 ? 0 : 1 + r(4)
            if endpoints == 0 {
                filterRules += "-A KUBE-SERVICES -m comment --comment \"\(name) has no endpoints\" -m \(p) -p \(p) -d \(ip) --dport \(port) -j REJECT\n"
                rules += 1
                continue
            }
            chains += ":\(svc) - [0:0]\n"
            svcRules += "-A KUBE-SERVICES -m comment --comment \"\(name) cluster IP\" -m \(p) -p \(p) -d \(ip) --dport \(port) -j \(svc)\n"
            rules += 1
            if r(6) == 0 {
                let ext = IPv4Address(203, 0, 113, UInt8(truncatingIfNeeded: i))
                svcRules += "-A KUBE-SERVICES -m comment --comment \"\(name) external IP\" -m \(p) -p \(p) -d \(ext) --dport \(port) -j \(svc)\n"
                rules += 1
            }
            if let np = nodePort {
                nodePortRules += "-A KUBE-NODEPORTS -m comment --comment \(name) -m \(p) -p \(p) --dport \(np) -j \(svc)\n"
                rules += 1
            }
            natRules += "-A \(svc) -m comment --comment \"\(name) cluster IP\" -m \(p) -p \(p) -d \(ip) --dport \(port) ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ\n"
            rules += 1
            for e in 0..<endpoints {
                let sep = "KUBE-SEP-S\(i)E\(e)"
                let epIP = IPv4Address(10, 180, UInt8(truncatingIfNeeded: i >> 6), UInt8(truncatingIfNeeded: (i & 63) * 4 + e))
                chains += ":\(sep) - [0:0]\n"
                if e < endpoints - 1 {
                    let prob = 1.0 / Double(endpoints - e)
                    natRules += "-A \(svc) -m comment --comment \"\(name) -> \(epIP):8080\" -m statistic --mode random --probability \(prob) -j \(sep)\n"
                } else {
                    natRules += "-A \(svc) -m comment --comment \"\(name) -> \(epIP):8080\" -j \(sep)\n"
                }
                natRules += "-A \(sep) -m comment --comment \(name) -s \(epIP) -j KUBE-MARK-MASQ\n"
                natRules += "-A \(sep) -m comment --comment \(name) -m \(p) -p \(p) -j DNAT --to-destination \(epIP):8080\n"
                rules += 3
            }
            if adversarial && r(40) == 0 {
                // Extras the index must not skip wrongly.
                switch r(9) {
                case 0: svcRules += "-A KUBE-SERVICES -d 172.30.\(i >> 8).0/24 -p tcp -m tcp --dport 8000:8100 -j KUBE-ODD\n"
                case 1: svcRules += "-A KUBE-SERVICES ! -p tcp -d \(ip) -j RETURN\n"
                case 2: svcRules += "-A KUBE-SERVICES -p \(p) -m \(p) ! --dport \(port) -d \(ip) -j KUBE-ODD\n"
                case 3: svcRules += "-A KUBE-SERVICES -d \(ip) -p \(p) -m recent --name R\(i) --set -m \(p) --dport \(port &+ 1) -j KUBE-ODD\n"
                case 4: svcRules += "-A KUBE-SERVICES -d \(ip) -p \(p) -m statistic --mode nth --every 3 -m \(p) --dport \(port) -g \(svc)\n"
                case 5: svcRules += "-A KUBE-SERVICES -d \(ip) -p \(p) -m statistic --mode random --probability 0.25 -m \(p) --dport \(port) -j KUBE-ODD\n"
                case 6: svcRules += "-A KUBE-SERVICES -m mark --mark 0x1/0x1 -j KUBE-ODD\n"  // matches on a mark only
                case 7: svcRules += "-A KUBE-SERVICES -s 10.9.\(i & 3).0/24 -j RETURN\n"  // a RETURN in the middle
                default: svcRules += "-A KUBE-SERVICES -s 10.9.0.0/16 -p \(p) -m multiport --dports \(port),9999 -j RETURN\n"
                }
                rules += 1
            }
        }
        nat += chains
        nat += "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
        nat += "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
        nat += "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n"
        nat += svcRules
        nat += "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n"
        nat += nodePortRules + natRules
        nat += "-A KUBE-ODD -p tcp -j DNAT --to-destination 10.250.0.1-10.250.0.3\n"
        nat += "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n"
        nat += "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
        nat += "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
        nat += "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE\n"
        nat += "COMMIT\n"
        filter += "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n"
        filter += "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
        filter += "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
        filter += "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
        filter += "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n"
        filter += filterRules + "COMMIT\n"
        return SyntheticRuleset(text: filter + nat, services: services, nodeAddress: node, ruleCount: rules + 14)
    }

    /// A packet aimed at the ruleset: at a service (right port, wrong port, wrong protocol),
    /// at a NodePort on the node, or anywhere; from pods, the node, or outside.
    public func randomPacket(_ rng: inout SeededGenerator) -> Packet {
        func r(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        let sources: [IPAddress] = [
            .v4(IPv4Address(10, 180, UInt8(r(40)), UInt8(r(256)))), .v4(IPv4Address(203, 0, 113, UInt8(r(256)))),
            .v4(IPv4Address(10, 9, UInt8(r(4)), 1)), .v4(IPv4Address(UInt32(truncatingIfNeeded: rng.next()))), nodeAddress,
        ]
        let src = sources[r(sources.count)]
        let sport = UInt16(1024 + r(60000))
        var dst: IPAddress = .v4(IPv4Address(UInt32(truncatingIfNeeded: rng.next())))
        var proto: IPProtocol = [.tcp, .udp, .sctp, .icmp][r(8) < 5 ? 0 : r(4)]
        var dport = UInt16(r(65536))
        if !services.isEmpty && r(10) < 7 {
            let s = services[r(services.count)]
            dst = s.address
            switch r(10) {
            case 0: dport = s.port &+ 1; proto = s.proto
            case 1: dport = s.port; proto = s.proto == .tcp ? .udp : .tcp
            case 2: if let np = s.nodePort { dst = r(2) == 0 ? nodeAddress : .v4(IPv4Address(127, 0, 0, 1)); dport = np; proto = s.proto }
            case 3: dport = UInt16(8000 + r(120)); proto = .tcp
            default: dport = s.port; proto = s.proto
            }
        }
        let local = src == nodeAddress
        var packet = Packet(source: src, destination: dst, proto: proto, sourcePort: sport, destinationPort: dport,
                            tcpFlags: r(10) == 0 ? TCPFlag.ack : TCPFlag.syn, icmpType: 8,
                            inInterface: local ? nil : (r(2) == 0 ? "eth0" : "cni0"))
        if r(8) == 0 { packet.mark = 1 }  // for the rules that match on a mark alone
        return packet
    }
}
