import ArgumentParser
import Captures
import Cluster
import Dataplane
import Foundation
import Verification

/// `kdp report`: one self-contained HTML file with the cluster's picture, the traces asked
/// for (step table beside the picture), a replay's summary with a chart of flows per endpoint,
/// and `kdp verify`'s table with each counterexample's trace.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML report: the cluster drawn, traces, a replay summary and the verification.",
        discussion: "The file has no network or file fetches (inline CSS, SVG and script). Pictures need Graphviz's dot.")

    @OptionGroup var topology: TopologyOptions
    @Option(name: .customLong("trace"), help: ArgumentHelp("A trace to include, as SRC,DST in kdp trace's --from and --to forms (repeatable).", valueName: "SRC,DST"))
    var traces: [String] = []
    @Option(name: .customLong("replay"), help: ArgumentHelp("A pcap or pcapng capture to replay and summarise.", valueName: "capture"))
    var replay: String?
    @Option(help: "Where the capture was taken: auto, pod/NS/NAME, node/NAME[/IFACE] or external.") var at = "auto"
    @Option(help: "For packets from outside: the node that receives them, as node/NAME.") var via: String?
    @Flag(help: "Include kdp verify's results.") var verify = false
    @Option(help: "iptables, ipvs or nftables (default: the topology's kube-proxy mode).") var proxyMode: DataplaneProxyMode?
    @Option(name: .shortAndLong, help: ArgumentHelp("The HTML file to write (written to a temporary file, then renamed).", valueName: "report.html"))
    var output: String

    func validate() throws {
        for t in traces where t.split(separator: ",", maxSplits: 1).count != 2 {
            throw ValidationError("--trace \(t): give SRC,DST, as pod/default/client,service/default/web:80")
        }
        if let v = via, !v.hasPrefix("node/") { throw ValidationError("--via takes node/NAME") }
        if let r = replay, URL(fileURLWithPath: r).standardizedFileURL == URL(fileURLWithPath: output).standardizedFileURL {
            throw ValidationError("-o \(output) is the capture: kdp never overwrites its input")
        }
        if output.isEmpty { throw ValidationError("-o needs a file name, as report.html") }
    }

    func run() throws {
        let cluster = try topology.cluster().withKubeProxy { kp in proxyMode?.apply(to: &kp) }
        var plane = Dataplane(cluster: cluster)
        try plane.checkExtraRules()
        var report = HTMLReport(title: "kdp report: \(cluster.settings.name)")

        let picture = ClusterPicture(cluster)
        report.section(id: "cluster", title: "The cluster",
                       "<p>\(HTMLReport.escape(picture.title)), CNI \(cluster.settings.cni.rawValue).</p>\n"
                       + "<figure class=\"picture\">\(HTMLReport.inlineSVG(try Graphviz.svg(picture.dot)))</figure>")

        if !traces.isEmpty {
            var content = ""
            for (i, t) in traces.enumerated() {
                let parts = t.split(separator: ",", maxSplits: 1).map(String.init)
                let source = try TraceTargetParser.source(parts[0], in: cluster)
                let destination = try TraceTargetParser.destination(parts[1], from: source, in: cluster)
                var request = Dataplane.Request(source: source, destination: destination)
                request.proto = destination.service?.ports.first { $0.port == destination.port }?.protocol ?? .tcp
                request.via = via?.dropPrefix("node/")
                let trace = try plane.trace(request)
                content += "<article class=\"trace\" id=\"trace-\(i + 1)\">\n<h3>\(HTMLReport.escape(parts[0] + " → " + parts[1]))</h3>\n"
                content += "<p>\(HTMLReport.escape(TraceRender.packet(trace.packet)))</p>\n"
                for (k, p) in trace.paths.enumerated() {
                    let verdict = p.verdict == .delivered ? "<span class=\"ok\">delivered</span>" : "<span class=\"bad\">\(p.verdict.rawValue)</span>"
                    let to = p.deliveredTo.map { " to " + HTMLReport.escape($0.description) } ?? ""
                    let why = p.why.map { ": " + HTMLReport.escape($0) } ?? ""
                    content += "<p>\(trace.paths.count > 1 ? "Path \(k + 1) of \(trace.paths.count): " : "")\(verdict)\(to)\(why)</p>\n"
                }
                content += "<div class=\"trace-grid\">\n<div>\n"
                if let p = trace.paths.first {
                    content += HTMLReport.stepsTable(p)
                    if let r = p.reply { content += "<h4>Reply</h4>\n" + HTMLReport.stepsTable(r.path) }
                }
                content += "</div>\n<figure class=\"picture\">\(HTMLReport.inlineSVG(try Graphviz.svg(TraceRender.dot(trace, rankdir: "TB"))))</figure>\n</div>\n</article>\n"
            }
            report.section(id: "traces", title: "Traces", content)
        }

        if let capture = replay {
            report.section(id: "replay", title: "Replay of \(URL(fileURLWithPath: capture).lastPathComponent)", try replaySection(capture, plane: plane))
        }

        if verify {
            var verifier = try Verifier(cluster: cluster)
            var options = Verifier.Options()
            options.maxExamples = 3
            report.section(id: "verify", title: "Verification", try verifySection(verifier.verify(options)))
        }
        try write(report.html)
    }

    func replaySection(_ capture: String, plane: Dataplane) throws -> String {
        var options = ReplayOptions()
        options.capturePoint = try CapturePoint.parse(at, in: plane.cluster)
        options.via = via?.dropPrefix("node/")
        var replay = try Replay(plane: plane, options: options)
        let reader: CaptureReader
        do { reader = try CaptureReader(path: capture) } catch { throw InputError(error.description) }
        do { try replay.replayAll(reader, keepBytes: false) { _, _, _, _ in } } catch { throw InputError("\(capture): \(error)") }
        let s = replay.finish()
        var out = HTMLReport.table(["packets", "flows", "injected", "checked", "mismatches", "DNAT", "masquerade", "SNAT"],
                                   [[s.summary.packets, s.summary.flows, s.summary.injected, s.summary.checked, s.summary.mismatches,
                                     s.nat.dnat, s.nat.masquerade, s.nat.snat].map(String.init)])
        out += HTMLReport.table(["verdict", "packets"], s.summary.verdicts.sorted { $0.key < $1.key }.map { [$0.key, String($0.value)] })
        if !s.services.isEmpty {
            out += "<h3>Flows per endpoint</h3>\n"
            for svc in s.services { out += "<figure class=\"chart\">\(ReportChart.flows(svc))</figure>\n" }
        }
        out += "<h3>Drops by reason</h3>\n"
        out += s.drops.isEmpty ? "<p>None.</p>\n"
            : HTMLReport.table(["verdict", "why", "flows", "example"], s.drops.map { [$0.verdict, $0.why, String($0.count), "#\($0.examplePacket) \($0.example)"] })
        out += "<h3>Mismatches</h3>\n"
        out += s.mismatches.isEmpty ? "<p>None: the capture agrees with the model.</p>\n"
            : HTMLReport.table(["packet", "kind", "captured", "expected", "why"],
                               s.mismatches.map { [String($0.packet), $0.kind.rawValue, $0.captured, $0.expected ?? "", $0.why] })
        if !s.notes.isEmpty { out += "<ul>" + s.notes.map { "<li>\(HTMLReport.escape($0))</li>" }.joined() + "</ul>\n" }
        return out
    }

    func verifySection(_ report: VerificationReport) throws -> String {
        var out = "<p>\(report.holds ? "<span class=\"ok\">Every invariant holds.</span>" : "<span class=\"bad\">Some invariants are violated.</span>")</p>\n"
        out += HTMLReport.table(["invariant", "what must hold", "classes", "violations", "holds"],
                                report.results.map { [$0.invariant.rawValue, $0.invariant.summary, String($0.classes), String($0.violationCount), $0.holds ? "yes" : "no"] },
                                cssClass: "verify")
        let examples = report.results.flatMap { r in r.violations.map { (r.invariant, $0) } }
        if !examples.isEmpty {
            out += "<h3>Counterexamples</h3>\n<p><button type=\"button\" data-open-all>Open every trace</button></p>\n"
            for (invariant, v) in examples {
                out += "<details><summary>\(HTMLReport.escape(invariant.rawValue)): \(HTMLReport.escape(v.packetClass)): \(HTMLReport.escape(v.why))</summary>\n"
                if let t = v.trace {
                    if let p = t.paths.first { out += HTMLReport.stepsTable(p) }
                    out += "<figure class=\"picture\">\(HTMLReport.inlineSVG(try TraceRender.svg(t)))</figure>\n"
                }
                out += "</details>\n"
            }
        }
        let notes = report.notes + report.results.flatMap(\.notes)
        if !notes.isEmpty { out += "<h3>Notes</h3>\n<ul>" + notes.map { "<li>\(HTMLReport.escape($0))</li>" }.joined() + "</ul>\n" }
        return out
    }

    /// Written beside the destination, then renamed over it: a reader never sees half a file.
    func write(_ html: String) throws {
        let url = URL(fileURLWithPath: output)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).kdp-\(getpid()).tmp")
        do {
            try Data(html.utf8).write(to: temporary)
            // rename(2) replaces the destination in one step.
            guard rename(temporary.path, url.path) == 0 else { throw InputError(String(cString: strerror(errno))) }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw InputError("-o \(output): cannot write: \(error.localizedDescription)")
        }
    }
}
