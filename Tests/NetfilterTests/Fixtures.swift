import Foundation

/// Test inputs that sit beside the tests.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func text(_ name: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    /// Real `iptables-save` (1.8.9, nf_tables) output after loading upstream's
    /// TestOverallIPTablesRules rules (nfacct removed: the kernel here lacks it).
    static var kubeProxySave: String { text("kube-proxy-example.iptables-save") }
    /// The same rules as kube-proxy writes them for iptables-restore (`-m tcp -p tcp` order).
    static var kubeProxyRestore: String { text("kube-proxy-example.restore") }
}
