import ArgumentParser
import Cluster
import Foundation
import IPVS

/// `kdp ipvs`: the IPVS core on its own.
struct IPVSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipvs",
        abstract: "IPVS as the kernel runs it: replay connection scenarios against a virtual service.",
        subcommands: [Simulate.self])

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
            let text: String
            do { text = try String(contentsOfFile: scenario, encoding: .utf8) } catch {
                throw InputError("cannot read: \(error.localizedDescription)", at: InputLocation(file: scenario))
            }
            do {
                let run = try ScenarioRunner.run(try IPVSScenario.decode(text))
                Console.out(output == .json ? ScenarioRender.json(run) : ScenarioRender.text(run))
            } catch {
                throw InputError(error.description, at: InputLocation(file: scenario))
            }
        }
    }
}
