import ArgumentParser
import Cluster
import Dataplane
import Foundation
import Synchronization
import Verification

/// `kdp verify`: the Kubernetes network model's invariants over every packet class of the
/// cluster. Exit 0 when every invariant asked for holds, 1 when one is violated, 2 for bad input.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Prove the Kubernetes network model (pod↔pod and node↔pod without NAT, Services, routing) over every packet class.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @OptionGroup var topology: TopologyOptions
    @Option(name: .customLong("invariant"), help: ArgumentHelp("Check only this invariant (repeatable): \(Invariant.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "NAME"))
    var invariants: [String] = []
    @Option(help: "iptables, ipvs or nftables (default: the topology's kube-proxy mode).") var proxyMode: DataplaneProxyMode?
    @Option(help: "Violations shown with an example trace, per invariant (all are counted).") var maxExamples = 3
    @Flag(help: "List every packet class checked.") var explain = false
    @Flag(help: "No progress line.") var quiet = false
    @Option(name: .shortAndLong, help: "text or json.") var output: Format = .text
    @Option(name: .customLong("snapshot"), help: ArgumentHelp("A `kdp snapshot` directory of a real node (repeatable): check routing, pod-to-pod and masquerade from the nodes' snapshots instead of a topology.", valueName: "DIR"))
    var snapshots: [String] = []

    func validate() throws {
        for name in invariants where Invariant(rawValue: name) == nil {
            throw ValidationError("--invariant \(name): no such invariant; invariants: \(Invariant.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard (0...10_000).contains(maxExamples) else { throw ValidationError("--max-examples must be 0-10000") }
        if !snapshots.isEmpty, !topology.topology.isEmpty || topology.clusterCIDR != nil || topology.serviceCIDR != nil || !invariants.isEmpty || proxyMode != nil || explain {
            throw ValidationError("--snapshot checks routing, pod-to-pod and masquerade from the snapshots alone: drop --topology, --cluster-cidr, --service-cidr, --invariant, --proxy-mode and --explain")
        }
    }

    func run() throws {
        if !snapshots.isEmpty { return try runSnapshots() }
        let cluster = try topology.cluster().withKubeProxy { kp in
            proxyMode?.apply(to: &kp)
        }
        var options = Verifier.Options()
        if !invariants.isEmpty { options.invariants = invariants.compactMap(Invariant.init(rawValue:)) }
        options.maxExamples = maxExamples
        options.explain = explain
        let line = VerifyProgress(enabled: !quiet)
        if line.enabled { options.progress = ClassProgress { n in line.show(classes: n) } }
        var verifier = try Verifier(cluster: cluster)
        let report = verifier.verify(options)
        line.done()
        switch output {
        case .text: Console.out(VerifyRender.text(report, explain: explain))
        case .json: Console.out(VerifyRender.json(report, explain: explain))
        }
        if !report.holds { throw ExitCode(1) }
    }
}

/// The progress line on a terminal's stderr for verifications longer than about a second:
/// classes traced and their rate (the total is not known ahead: classes are found by tracing).
final class VerifyProgress: Sendable {
    let enabled: Bool
    private let start = ContinuousClock.now
    private let state = Mutex<(last: ContinuousClock.Instant, shown: Bool)>((ContinuousClock.now, false))
    /// How long a verification runs before the line appears: a second, or
    /// `KDP_PROGRESS_AFTER_MS` (tests set it to 0, so they need no slow cluster).
    private let delay: Duration = .milliseconds(ProcessInfo.processInfo.environment["KDP_PROGRESS_AFTER_MS"].flatMap { Int($0) } ?? 1000)

    init(enabled: Bool) {
        self.enabled = enabled && isatty(2) == 1
    }

    func show(classes: Int) {
        let now = ContinuousClock.now
        guard now - start > delay else { return }
        let due = state.withLock { s -> Bool in
            guard now - s.last > .milliseconds(250) || !s.shown else { return false }
            s = (now, true)
            return true
        }
        guard due else { return }
        let elapsed = Double((now - start).components.seconds) + Double((now - start).components.attoseconds) / 1e18
        Console.errorInline(String(format: "\rkdp: verify: %d classes traced, %.0f classes/s ", classes, Double(classes) / elapsed))
    }

    func done() {
        if state.withLock({ $0.shown }) { Console.errorInline("\r\u{1B}[K") }
    }
}
