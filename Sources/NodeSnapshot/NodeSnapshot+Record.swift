import Foundation
import Netlink
import Wire

extension NodeSnapshot {
    /// Records the namespace `ip netns` calls `netns` (nil: the caller's own, the node): its
    /// links, addresses, routes and neighbours through libnl; `iptables-save`,
    /// `ip6tables-save` and `ipset save` run inside it (`ip netns exec`); IPVS's services and
    /// real servers over generic netlink where the kernel has the family (as `ipvsadm -S -n`);
    /// the sysctls a trace consults. A tool that is
    /// missing or fails leaves its file out and says why in `meta.missing`; netlink failures
    /// (no such namespace, no permission) throw.
    public static func record(netns: String?) throws(NetlinkError) -> NodeSnapshot {
        var file: NetworkNamespaceFile?
        if let netns { file = try NetworkNamespaceFile(named: netns) }
        let socket = if let file { try NetlinkSocket(namespace: file) } else { try NetlinkSocket() }
        let links = try socket.links()
        let addresses = try socket.addresses()
        let routes = try socket.routes()
        let neighbours = try socket.neighbours()
        var missing: [String] = []
        func tool(_ args: [String], file: SnapshotFile) -> String? {
            let command = (netns.map { ["ip", "netns", "exec", $0] } ?? []) + args
            switch run(command) {
            case .success(let out): return out
            case .failure(let why):
                missing.append("\(file.rawValue): \(args.joined(separator: " ")) \(why)")
                return nil
            }
        }
        let v4 = tool(["iptables-save"], file: .iptables)
        let v6 = tool(["ip6tables-save"], file: .ip6tables)
        let sets = tool(["ipset", "save"], file: .ipsets)
        var ipvs: String?
        do {
            if let services = try GenericNetlink.ipvsServices(namespace: file) {
                switch ipvsSave(services) {
                case .success(let text): ipvs = text
                case .failure(let e): missing.append("ipvs: \(e.message)")
                }
            } else {
                missing.append("ipvs: the kernel has no IPVS generic netlink family (the ip_vs module is not loaded)")
            }
        } catch {
            missing.append("ipvs: \(error)")
        }
        var sysctls: [String: Int] = [:]
        let read = { () throws(NetlinkError) -> [String: Int] in
            var out: [String: Int] = [:]
            for name in SnapshotMeta.recordedSysctls {
                let path = "/proc/sys/" + name.replacingOccurrences(of: ".", with: "/")
                if let text = try? String(contentsOfFile: path, encoding: .utf8), let v = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    out[name] = v
                }
            }
            return out
        }
        sysctls = if let file { try file.run(read) } else { try read() }
        for name in SnapshotMeta.recordedSysctls where sysctls[name] == nil {
            missing.append("meta.json: sysctl \(name) not readable (\(name.hasPrefix("net.bridge") ? "br_netfilter is not loaded" : "no such file"))")
        }
        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let meta = SnapshotMeta(hostname: ProcessInfo.processInfo.hostName, kernel: kernel,
                                time: Date().formatted(.iso8601), netns: netns, missing: missing, sysctls: sysctls)
        return NodeSnapshot(links: links, addresses: addresses, routes: routes, neighbours: neighbours,
                            iptablesRules: v4, ip6tablesRules: v6, ipsets: sets, ipvs: ipvs, meta: meta)
    }

    /// Runs a tool and returns its standard output, or why it gave none.
    static func run(_ command: [String]) -> Result<String, RecordFailure> {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = command
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { return .failure(RecordFailure(text: "could not start: \(error)")) }
        // Read before waiting: a large ruleset would fill the pipe.
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let text = String(decoding: errors, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            return .failure(RecordFailure(text: p.terminationStatus == 127 ? "not found" : "failed (exit \(p.terminationStatus)): \(text.prefix(120))"))
        }
        return .success(String(decoding: data, as: UTF8.self))
    }

    struct RecordFailure: Error, CustomStringConvertible {
        var text: String
        var description: String { text }
    }
}
