import CNetlink
import Foundation
import Netlink
import Wire

extension NodeSnapshot {
    /// Writes the snapshot as the directory `path`: every file into a new temporary directory
    /// beside it, then one rename, so a reader never sees half a snapshot. An existing `path`
    /// is never overwritten: that is an error.
    public func write(to path: String) throws(SnapshotError) {
        let fm = FileManager.default
        let target = URL(fileURLWithPath: path).standardizedFileURL
        guard !fm.fileExists(atPath: target.path) else {
            throw SnapshotError(file: path, "exists already: kdp snapshot does not overwrite; give a new directory with -o or remove it")
        }
        let parent = target.deletingLastPathComponent()
        let temp = parent.appendingPathComponent(".\(target.lastPathComponent).kdp-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do { try fm.createDirectory(at: temp, withIntermediateDirectories: false) } catch {
            throw SnapshotError(file: parent.path, "cannot create a directory in it: \(error.localizedDescription)")
        }
        do {
            for (file, text) in files() {
                try Data(text.utf8).write(to: temp.appendingPathComponent(file.rawValue))
            }
            // RENAME_NOREPLACE: a directory that appeared since the check is not replaced.
            if kdp_rename_noreplace(temp.path, target.path) != 0 {
                let e = errno
                throw SnapshotError(file: path, e == EEXIST || e == ENOTEMPTY ? "exists already: kdp snapshot does not overwrite" : "cannot rename into place: \(String(cString: strerror(e)))")
            }
        } catch {
            try? fm.removeItem(at: temp)
            if let e = error as? SnapshotError { throw e }
            throw SnapshotError(file: path, "cannot write: \(error.localizedDescription)")
        }
    }

    /// Each file's text: JSON arrays with one entry a line (so a message can name an entry's
    /// line), dumps as their tools printed them; files with nothing recorded are left out.
    public func files() -> [(SnapshotFile, String)] {
        var names: [Int: String] = [:]
        for l in links { names[l.index] = l.name }
        var out: [(SnapshotFile, String)] = [
            (.links, Self.jsonLines(links.map { LinkRecord($0, names: names) })),
            (.addresses, Self.jsonLines(addresses.map { AddressRecord($0, names: names) })),
            (.routes, Self.jsonLines(routes.map { RouteRecord($0, names: names) })),
            (.neighbours, Self.jsonLines(neighbours.map { NeighbourRecord($0, names: names) })),
        ]
        if let iptablesRules { out.append((.iptables, iptablesRules)) }
        if let ip6tablesRules { out.append((.ip6tables, ip6tablesRules)) }
        if let ipsets { out.append((.ipsets, ipsets)) }
        if let ipvs { out.append((.ipvs, ipvs)) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let meta = (try? encoder.encode(meta)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        out.append((.meta, meta + "\n"))
        return out
    }

    static func jsonLines<T: Encodable>(_ records: [T]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let lines = records.map { (try? encoder.encode($0)).map { String(decoding: $0, as: UTF8.self) } ?? "{}" }
        return lines.isEmpty ? "[]\n" : "[\n" + lines.joined(separator: ",\n") + "\n]\n"
    }
}
