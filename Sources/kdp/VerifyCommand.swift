import ArgumentParser
import Cluster
import Dataplane
import Foundation
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
    @Option(help: "iptables or ipvs (default: the topology's kube-proxy mode).") var proxyMode: ProxyMode?
    @Option(help: "Violations shown with an example trace, per invariant (all are counted).") var maxExamples = 3
    @Flag(help: "List every packet class checked.") var explain = false
    @Option(name: .shortAndLong, help: "text or json.") var output: Format = .text

    func validate() throws {
        for name in invariants where Invariant(rawValue: name) == nil {
            throw ValidationError("--invariant \(name): no such invariant; invariants: \(Invariant.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard (0...10_000).contains(maxExamples) else { throw ValidationError("--max-examples must be 0-10000") }
    }

    func run() throws {
        let cluster = try topology.cluster().withKubeProxy { kp in
            if let proxyMode { kp.mode = proxyMode }
        }
        var options = Verifier.Options()
        if !invariants.isEmpty { options.invariants = invariants.compactMap(Invariant.init(rawValue:)) }
        options.maxExamples = maxExamples
        options.explain = explain
        var verifier = try Verifier(cluster: cluster)
        let report = verifier.verify(options)
        switch output {
        case .text: Console.out(VerifyRender.text(report, explain: explain))
        case .json: Console.out(VerifyRender.json(report, explain: explain))
        }
        if !report.holds { throw ExitCode(1) }
    }
}
