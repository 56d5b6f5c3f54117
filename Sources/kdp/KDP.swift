import ArgumentParser
import Cluster
import Foundation
import Wire

/// The `kdp` command. Exit status: 0 on success, 1 when a check fails, 2 for bad input or
/// usage, with one message on stderr that names the file, line and problem (ARCHITECTURE.md).
@main
struct KDP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kdp",
        abstract: "Emulate a Kubernetes cluster's data plane: where does this packet go, and why?",
        subcommands: [ClusterCommand.self, RoutesCommand.self, ResolveCommand.self, TraceCommand.self, ReplayCommand.self, VerifyCommand.self, ReportCommand.self, TraceRulesCommand.self, SnapshotCommand.self, MaterializeCommand.self, CompileCommand.self, IPVSCommand.self, BenchCommand.self, GenerateCommand.self]
    )

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as InputError {
            Console.fail(error.description)
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            // Help and version print to stdout and exit 0; every usage error exits 2.
            if exitCode(for: error) == .success { exit(withError: error) }
            Console.fail(usageLine(for: error, arguments: Array(CommandLine.arguments.dropFirst())))
        }
    }

    /// swift-argument-parser's message for a usage error (a missing or unknown flag, a value it
    /// cannot parse, a `validate()` failure) as kdp's one line: the message, its lines joined,
    /// and where to read the usage (`kdp compile --help`), instead of the parser's multi-line
    /// text with the usage block.
    static func usageLine(for error: Error, arguments: [String]) -> String {
        let lines = message(for: error).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        var text = lines.filter { !$0.isEmpty }.joined(separator: "; ")
        if text.hasPrefix("Error: ") { text.removeFirst("Error: ".count) }
        if text.isEmpty { text = "invalid usage" }
        var path = ["kdp"]
        var level: [ParsableCommand.Type] = configuration.subcommands
        for word in arguments {
            guard let sub = level.first(where: { $0.configuration.commandName == word }) else { break }
            path.append(word)
            level = sub.configuration.subcommands
        }
        return "\(text) (see \(path.joined(separator: " ")) --help)"
    }
}

/// Writing to the terminal without Swift 6's unsafe global `stderr`.
enum Console {
    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }

    /// Prints a note (`kdp: note: …`) on one line, long quotations and tokens of the input cut
    /// to excerpts (`Excerpt.shortened`).
    static func note(_ text: String) {
        error("kdp: note: " + Excerpt.shortened(text))
    }

    /// Prints a warning (`kdp: warning: FILE:LINE:COL: …`) on one line: input that kdp takes
    /// as it is though it contradicts itself (a `ClusterInconsistency`).
    static func warning(_ text: String) {
        error("kdp: warning: " + Excerpt.shortened(text))
    }

    /// Prints `message` as kdp's one error line (`Diagnostic.line`) and exits with status 2.
    static func fail(_ message: String) -> Never {
        error(Diagnostic.line(message))
        exit(2)
    }

    /// Prints text output in one write, ending it with a newline unless told otherwise.
    static func out(_ text: String, terminator: String = "\n") {
        FileHandle.standardOutput.write(Data((text.hasSuffix("\n") || terminator.isEmpty ? text : text + terminator).utf8))
    }
}
