import ArgumentParser
import Cluster
import Materialize

/// `kdp materialize`: the emulated cluster built in the running kernel, in network namespaces
/// named with `--prefix` (`Materializer`, `MaterializeNames`); `--delete` removes them.
/// Needs root; a failure part-way removes what it made and exits 2.
struct MaterializeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "materialize",
        abstract: "Build the topology in real network namespaces (nodes, pods, a fabric, routes, VXLAN, sysctls, rules); --delete removes them.")

    @OptionGroup var topology: TopologyOptions
    @Option(help: "The prefix of every namespace made (a-z, 0-9, -; ending in -).") var prefix: String = MaterializeNames.defaultPrefix
    @Flag(help: "Remove the namespaces this prefix names, and nothing else.") var delete = false
    @Option(name: .shortAndLong, help: "text or json.") var output: OutputFormat = .text

    func validate() throws {
        if let why = MaterializeNames.problem(prefix: prefix) { throw ValidationError("--prefix: \(why)") }
        if output == .yaml { throw ValidationError("-o takes text or json") }
        if delete && !topology.topology.isEmpty { throw ValidationError("--delete takes no --topology: it removes every namespace the prefix names") }
    }

    func run() throws {
        let report: MaterializeReport
        if delete {
            do { report = try Materializer.delete(prefix: prefix) } catch { throw InputError("materialize --delete: \(error)") }
        } else {
            // Refuse before reading the topology when nothing could be built.
            if let why = Materializer.unavailable() { throw InputError("materialize: \(why)") }
            let cluster = try topology.cluster(refusingNFTables: "kdp materialize loads iptables rules into the namespaces and does not load nft tables yet (kdp compile --proxy-mode nftables prints them)")
            do { report = try Materializer.build(cluster, prefix: prefix) } catch { throw InputError("materialize: \(error)") }
        }
        switch output {
        case .json: Console.out(Render.json(report))
        case .text, .yaml:
            Console.out(report.text)
            for n in report.notes { Console.note(n) }
        }
    }
}
