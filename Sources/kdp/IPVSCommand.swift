import ArgumentParser
import Cluster
import KubeProxy
import Wire
import Foundation
import IPVSScenarios

/// `kdp ipvs`: the IPVS core on its own.
struct IPVSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipvs",
        abstract: "IPVS as the kernel runs it: replay connection scenarios, show a node's IPVS table.",
        subcommands: [Simulate.self, Show.self])

    /// `kdp ipvs show --node NAME`: the node's IPVS table in IPVS mode, as `ipvsadm -Ln` lists it.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show a node's IPVS virtual servers in kube-proxy's IPVS mode, as ipvsadm -Ln does.")

        @OptionGroup var topology: TopologyOptions
        @Option(help: "The node whose kube-proxy to emulate.") var node: String
        @Option(help: "ipv4 or ipv6.") var family: String?
        @Option(help: "IPVS scheduler (default: the topology's, else rr).") var ipvsScheduler: String?

        func validate() throws {
            try FamilyFlag.validate(family)
            try FlagValue.scheduler(ipvsScheduler)
        }

        func run() throws {
            let cluster = try topology.cluster()
            let n = try cluster.requireNode(named: node)
            let fam = cluster.proxierFamily(family.flatMap(IPFamily.init(flag:)))
            guard cluster.settings.families.contains(fam) else { throw InputError("the cluster has no \(fam.rawValue) addresses") }
            let config = ProxierConfig.forNode(n, in: cluster, family: fam)
            let ruleset = IPVSModeCompiler.compile(cluster, config: config, scheduler: ipvsScheduler ?? cluster.settings.kubeProxy.ipvsScheduler)
            for e in ruleset.errors { Console.note("\(e)") }
            Console.out(ruleset.ipvsadmListText(), terminator: "")
        }
    }

    /// `kdp ipvs simulate SCENARIO`: what happens to sessions when servers change.
    struct Simulate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "simulate",
            abstract: "Run a scenario (YAML or JSON: service, setup, events) through the kernel's scheduler and connection table.")

        @Argument(help: "The scenario file.") var scenario: String
        @Option(name: .shortAndLong, help: "text or json.") var output: OutputFormat = .text

        func validate() throws {
            if output == .yaml { throw ValidationError("ipvs simulate prints text or json") }
        }

        func run() throws {
            let run = try Self.simulate(try InputFile.read(scenario))
            Console.out(output == .json ? ScenarioRender.json(run) : ScenarioRender.text(run))
        }

        /// Decodes and runs a scenario already read: what `run` prints, and what the fuzz tests call.
        static func simulate(_ file: InputFile) throws(InputError) -> ScenarioRun {
            do { return try ScenarioRunner.run(try IPVSScenario.decode(file.text)) } catch {
                throw InputError(error, file: file.name)
            }
        }
    }
}
