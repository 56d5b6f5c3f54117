import ArgumentParser
import Cluster
import Foundation

/// `kdp generate`: a synthetic cluster for scale tests, as a kdp topology on stdout.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a generated topology (nodes, pods, services) to standard output.")

    @Option(help: "Number of nodes (the first is the control plane).") var nodes: Int = 3
    @Option(help: "Pods per node.") var podsPerNode: Int = 10
    @Option(help: "Number of Services.") var services: Int = 10
    @Option(help: "Endpoints (selected pods) per Service.") var endpointsPerService: Int = 2
    @Option(help: "Seed for the mix of Service types and features.") var seed: UInt64 = 1
    @Option(help: "CNI mode: host-gw or vxlan.") var cni: String = "host-gw"
    @Option(name: .shortAndLong, help: "yaml, or json (the same topology as one JSON document).") var output: String = "yaml"

    /// The generator's spec; `validate()` checks it (every count against its bound) before any
    /// output is written.
    var spec: TopologyGenerator.Spec {
        TopologyGenerator.Spec(
            nodes: nodes, podsPerNode: podsPerNode, services: services, endpointsPerService: endpointsPerService,
            seed: seed, cni: CNIMode(rawValue: cni) ?? .hostGW)
    }

    func validate() throws {
        guard CNIMode(rawValue: cni) != nil else { throw ValidationError("--cni must be host-gw or vxlan") }
        guard output == "yaml" || output == "json" else { throw ValidationError("--output must be yaml or json") }
        try spec.validate()
    }

    func run() throws {
        var out = StandardOutput()
        if output == "json" { try TopologyGenerator.writeJSON(spec, to: &out) } else { TopologyGenerator.write(spec, to: &out) }
        out.flush()
    }
}

/// Buffered stdout for large generated files: one write per MiB.
struct StandardOutput: TextOutputStream {
    private var buffer: [UInt8] = []
    mutating func write(_ string: String) {
        buffer.append(contentsOf: string.utf8)
        if buffer.count > 1 << 20 { flush() }
    }
    mutating func flush() {
        // Writes every byte (FileHandle retries short writes); a closed pipe ends the output.
        try? FileHandle.standardOutput.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}
