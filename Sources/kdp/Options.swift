import ArgumentParser
import Cluster
import Wire
import Foundation
import Yams

/// `--topology PATH` (repeatable), shared by every command that reads a cluster.
struct TopologyOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "A kdp topology file, Kubernetes manifests, or a folder of them (repeatable). Default: the embedded topologies/demo.yaml.",
        valueName: "path"))
    var topology: [String] = []
    @Option(name: .customLong("cluster-cidr"), help: ArgumentHelp(
        "The cluster's pod range, one CIDR per family (comma-separated): kube-controller-manager's --cluster-cidr, and kube-proxy's too (kubeadm gives both the same podSubnet). Overrides the topology file, the dump's ConfigMaps and what kdp infers from the Nodes' podCIDRs.",
        valueName: "cidrs"))
    var clusterCIDR: String?
    @Option(name: .customLong("service-cidr"), help: ArgumentHelp(
        "The Service range, one CIDR per family (comma-separated): kube-apiserver's --service-cluster-ip-range. Overrides the topology file and what kdp infers from the ClusterIPs.",
        valueName: "cidrs"))
    var serviceCIDR: String?

    /// The flags are checked before any work starts.
    func validate() throws {
        if topology.contains("") { throw ValidationError("--topology needs a path (a file, a folder, or - for standard input)") }
        try InputFile.checkStandardInputUsedOnce(topology)
        do {
            if let text = clusterCIDR { _ = try FlagValue.cidrs(text, flag: "--cluster-cidr", onePerFamily: true) }
            if let text = serviceCIDR { _ = try FlagValue.cidrs(text, flag: "--service-cidr", onePerFamily: true) }
        } catch { throw ValidationError(error.message) }
    }

    /// Loads and builds the cluster; notes (ignored kinds, scheduling, inferred ranges) go to stderr.
    /// `refusingNFTables`: what the caller cannot do in kube-proxy's nftables mode (exit 2,
    /// naming where the mode was said); nil for the commands that follow it.
    func cluster(refusingNFTables: String? = nil) throws(InputError) -> Cluster {
        let t0 = ContinuousClock.now
        var input = try Self.load(topology)
        if let text = clusterCIDR { input.flagClusterCIDRs = try FlagValue.cidrs(text, flag: "--cluster-cidr", onePerFamily: true) }
        if let text = serviceCIDR { input.flagServiceCIDRs = try FlagValue.cidrs(text, flag: "--service-cidr", onePerFamily: true) }
        let t1 = ContinuousClock.now
        let cluster = try ClusterBuilder.build(input)
        if ProcessInfo.processInfo.environment["KDP_PROFILE"] != nil {
            Console.error("kdp: profile: parse \(t1 - t0), build \(ContinuousClock.now - t1)")
        }
        if let refusingNFTables, let at = cluster.settings.kubeProxy.nftablesModeSource {
            throw InputError("kube-proxy mode nftables: \(refusingNFTables)", at: at)
        }
        for note in cluster.notes { Console.note(note) }
        for inconsistency in cluster.inconsistencies { Console.warning(inconsistency.message) }
        return cluster
    }
}

extension TopologyOptions {
    /// Reads every `--topology` input through `InputFile` (files, folders, pipes, `-`) and
    /// merges them in order; no paths: the embedded default.
    static func load(_ paths: [String]) throws(InputError) -> TopologyInput {
        if paths.isEmpty { return try TopologyLoader.load(paths: []) }
        try InputFile.checkStandardInputUsedOnce(paths)
        var files: [InputFile] = []
        for path in paths { files += try InputFile.topology(path) }
        return try load(files)
    }

    /// Parses inputs already read and merges them in order (the fuzz tests call this too).
    static func load(_ files: [InputFile]) throws(InputError) -> TopologyInput {
        var input = TopologyInput()
        for file in files { try input.merge(try TopologyLoader.parse(text: file.text, file: file.name)) }
        return input
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, yaml
}

/// JSON and YAML renderings of any report value, stable for scripts.
enum Render {
    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func yaml<T: Encodable>(_ value: T) -> String {
        (try? YAMLEncoder().encode(value)) ?? "{}\n"
    }

    /// Left-aligned columns, two spaces apart, as kubectl prints tables.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (i, cell) in cells.enumerated() {
                out += cell
                if i < cells.count - 1 { out += String(repeating: " ", count: widths[i] - cell.count + 2) }
            }
            return out
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}

/// `--family ipv4|ipv6` (compile and ipvs show, each with its own help text): checked in
/// `validate()`, resolved with `Cluster.proxierFamily`.
enum FamilyFlag {
    static func validate(_ text: String?) throws {
        if let text, IPFamily(flag: text) == nil { throw ValidationError("--family must be ipv4 or ipv6") }
    }
}
