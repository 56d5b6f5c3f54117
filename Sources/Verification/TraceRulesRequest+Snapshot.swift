import Cluster
import Dataplane
import NodeSnapshot

extension TraceRulesRequest {
    /// Takes the node from a snapshot: its links and addresses as the interfaces, its main
    /// routing table as the routes (nothing assumed), its recorded sysctls where none is set
    /// already (`--sysctl`), and bridge-nf-call off when the snapshot found no br_netfilter.
    /// Returns the notes that say so. Shared by `kdp trace-rules --snapshot` and
    /// `SnapshotVerification`, so both trace the same node.
    public mutating func use(_ snap: NodeSnapshot, directory: String) -> [String] {
        let model = snap.hostModel()
        interfaces = model.interfaces
        routes = model.routes
        routesAreComplete = true
        var recorded: [String] = []
        for (name, value) in snap.meta.sysctls.sorted(by: { $0.key < $1.key }) {
            guard let sysctl = Sysctl(rawValue: name), sysctls[sysctl] == nil else { continue }
            sysctls[sysctl] = value != 0
            recorded.append("\(name)=\(value)")
        }
        var notes = ["snapshot \(directory): host \(snap.meta.hostname)\(snap.meta.netns.map { " namespace \($0)" } ?? ""), taken \(snap.meta.time); "
            + "\(model.interfaces.count) interface\(model.interfaces.count == 1 ? "" : "s"), \(model.routes.count) main-table route\(model.routes.count == 1 ? "" : "s")"
            + (recorded.isEmpty ? "" : "; sysctls as recorded: \(recorded.joined(separator: ", "))")]
        let bridge = Sysctl.bridgeNFCall(destination.family)
        if sysctls[bridge] == nil, snap.meta.missing.contains(where: { $0.contains(bridge.rawValue) }) {
            sysctls[bridge] = false
            notes.append("snapshot: \(bridge.rawValue) was not there (br_netfilter not loaded): bridged frames skip iptables")
        }
        return notes + model.notes
    }
}
