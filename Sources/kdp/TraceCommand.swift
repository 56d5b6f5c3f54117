import ArgumentParser
import Cluster
import Dataplane
import Foundation
import IPVS
import Wire

/// `kdp trace`: a packet from a pod, node or outside client to a Service, pod or address,
/// hop by hop through every node it crosses, and its reply.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Trace a packet (and its reply) through the cluster: every node, interface, hook, rule and rewrite.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, dot, mermaid, svg }

    @OptionGroup var topology: TopologyOptions
    @Option(help: "pod/NS/NAME (or NS/NAME), node/NAME, external/IP, or an IP.") var from: String
    @Option(help: "service/NS/NAME[:PORT|:PORTNAME], pod/NS/NAME:PORT, node/NAME:NODEPORT, a DNS name with :PORT, or IP:PORT.")
    var to: String
    @Option(name: .customLong("proto"), help: "tcp, udp or sctp (default: the Service port's protocol, else tcp).") var proto: String?
    @Option(help: "Source port (default: an ephemeral port drawn from the seed).") var sport: UInt16?
    @Option(help: "For external clients: the node that receives the packet, as node/NAME.") var via: String?
    @Option(help: "iptables, ipvs or nftables (default: the topology's kube-proxy mode).") var proxyMode: DataplaneProxyMode?
    @Option(help: "IPVS scheduler: rr, wrr, lc, wlc, sed, nq, sh, dh, mh (default: the topology's, else rr).") var ipvsScheduler: String?
    @Flag(help: "Follow every probabilistic branch: one path per endpoint (and per node for a load balancer).") var allPaths = false
    @Option(help: "Seed for every random choice.") var seed: UInt64 = 1
    @Flag(help: "Do not trace the reply.") var noReply = false
    @Option(help: "Send the packet this many times in one run (new source port each time), as session affinity sees it.")
    var repeatCount: Int = 1
    @Option(name: .shortAndLong, help: "text, json, dot, mermaid or svg.") var output: Format = .text

    func validate() throws {
        try FlagValue.scheduler(ipvsScheduler)
        if let p = proto, !["tcp", "udp", "sctp"].contains(p) { throw ValidationError("--proto must be tcp, udp or sctp") }
        if let v = via, !v.hasPrefix("node/") { throw ValidationError("--via takes node/NAME") }
        guard (1...100).contains(repeatCount) else { throw ValidationError("--repeat-count must be 1-100") }
    }

    func run() throws {
        let cluster = try topology.cluster().withKubeProxy { kp in
            proxyMode?.apply(to: &kp)
            if let ipvsScheduler { kp.ipvsScheduler = ipvsScheduler }
        }
        let source = try TraceTargetParser.source(from, in: cluster)
        let destination = try TraceTargetParser.destination(to, from: source, in: cluster)
        var plane = Dataplane(cluster: cluster)
        try plane.checkExtraRules()
        var request = Dataplane.Request(source: source, destination: destination)
        request.proto = proto.flatMap { try? IPProtocol(parsing: $0) }  // validated above
            ?? destination.service?.ports.first { $0.port == destination.port }?.protocol ?? .tcp
        request.via = via?.dropPrefix("node/")
        request.allPaths = allPaths
        request.seed = seed
        request.reply = !noReply
        var traces: [DataplaneTrace] = []
        for i in 0..<repeatCount {
            request.sourcePort = sport.map { $0 &+ UInt16(i) }
            request.seed = seed &+ UInt64(i)
            traces.append(try plane.trace(request))
        }
        switch output {
        case .text: Console.out(traces.map(TraceRender.text).joined(separator: "\n\n"))
        case .json: Console.out(traces.count == 1 ? Render.json(traces[0]) : Render.json(traces))
        case .mermaid: Console.out(TraceRender.mermaid(traces[0]))
        case .dot: Console.out(TraceRender.dot(traces[0]))
        case .svg: Console.out(try TraceRender.svg(traces[0]), terminator: "")
        }
    }
}

extension String {
    func dropPrefix(_ prefix: String) -> String? { hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil }
}
