import ArgumentParser
import Cluster
import Foundation
import Netlink
import NodeSnapshot

/// `kdp snapshot`: records a live node (or one network namespace) as a snapshot directory
/// (`NodeSnapshot`), the input `kdp trace-rules --snapshot` reads. Reading needs no root for
/// links, addresses and routes; the iptables and ipset dumps need it, and what could not be
/// recorded is listed in meta.json and here.
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Record this node's (or a network namespace's) links, addresses, routes, iptables, ipsets and IPVS into a directory.")

    @Option(help: "The network namespace to record (a name from `ip netns list`); default: the caller's own.") var netns: String?
    @Option(name: .shortAndLong, help: "The directory to write; it must not exist (default: kdp-snapshot-HOST-TIME).") var output: String?

    func validate() throws {
        if let netns {
            guard !netns.isEmpty, !netns.contains("/"), netns != ".", netns != ".." else { throw ValidationError("--netns takes a namespace name as `ip netns list` shows it") }
        }
        if let output, output.isEmpty { throw ValidationError("-o needs a directory path") }
    }

    func run() throws {
        let snapshot: NodeSnapshot
        do { snapshot = try NodeSnapshot.record(netns: netns) } catch {
            throw InputError("snapshot\(netns.map { " of namespace \($0)" } ?? ""): \(error)")
        }
        let stamp = snapshot.meta.time.filter { $0.isNumber || $0 == "T" }
        let dir = output ?? "kdp-snapshot-\(snapshot.meta.hostname)\(netns.map { "-\($0)" } ?? "")-\(stamp)"
        do { try snapshot.write(to: dir) } catch { throw InputError(error.description) }
        var text = "wrote \(dir): \(snapshot.links.count) links, \(snapshot.addresses.count) addresses, \(snapshot.routes.count) routes, \(snapshot.neighbours.count) neighbours"
        let dumps = [("iptables.rules", snapshot.iptablesRules), ("ip6tables.rules", snapshot.ip6tablesRules), ("ipsets", snapshot.ipsets), ("ipvs", snapshot.ipvs)]
        let written = dumps.filter { $0.1 != nil }.map(\.0)
        if !written.isEmpty { text += "; \(written.joined(separator: ", "))" }
        Console.out(text)
        for m in snapshot.meta.missing { Console.note("not recorded: \(m)") }
    }
}
