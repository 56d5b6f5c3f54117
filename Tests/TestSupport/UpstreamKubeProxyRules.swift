import Foundation

/// Upstream kube-proxy's own rules (its TestOverallIPTablesRules, as kube-proxy writes them for
/// iptables-restore; the file is Tests/NetfilterTests/Fixtures/kube-proxy-example.restore),
/// with the jumps kube-proxy installs in the built-in chains (kube-proxy-rules.md §1.3, in
/// their prepended order).
public enum UpstreamKubeProxyRules {
    /// The fixture as it is.
    public static var restoreText: String {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("NetfilterTests/Fixtures/kube-proxy-example.restore")
        return (try? String(contentsOf: file, encoding: .utf8)) ?? ""
    }

    public static let builtinJumps = """
    *filter
    -A INPUT -m comment --comment "kubernetes load balancer firewall" -m conntrack --ctstate NEW -j KUBE-PROXY-FIREWALL
    -A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
    -A INPUT -m comment --comment "kubernetes externally-visible service portals" -m conntrack --ctstate NEW -j KUBE-EXTERNAL-SERVICES
    -A FORWARD -m comment --comment "kubernetes load balancer firewall" -m conntrack --ctstate NEW -j KUBE-PROXY-FIREWALL
    -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
    -A FORWARD -m comment --comment "kubernetes service portals" -m conntrack --ctstate NEW -j KUBE-SERVICES
    -A FORWARD -m comment --comment "kubernetes externally-visible service portals" -m conntrack --ctstate NEW -j KUBE-EXTERNAL-SERVICES
    -A OUTPUT -m comment --comment "kubernetes load balancer firewall" -m conntrack --ctstate NEW -j KUBE-PROXY-FIREWALL
    -A OUTPUT -m comment --comment "kubernetes service portals" -m conntrack --ctstate NEW -j KUBE-SERVICES
    COMMIT
    *nat
    -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
    -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
    -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
    COMMIT

    """

    /// The fixture with the jumps placed in its own table sections, so that the text loads the
    /// same way with or without `--noflush`.
    public static func withBuiltinJumps(nfacct: Bool = true) -> String {
        var text = restoreText
        if !nfacct {
            text = text.replacingOccurrences(of: " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts", with: "")
                .replacingOccurrences(of: " -m nfacct --nfacct-name localhost_nps_accepted_pkts", with: "")
        }
        let sections = builtinJumps.components(separatedBy: "COMMIT\n")
        let filterJumps = sections[0].replacingOccurrences(of: "*filter\n", with: "")
        let natJumps = sections[1].replacingOccurrences(of: "*nat\n", with: "")
        let parts = text.components(separatedBy: "COMMIT\n")
        return parts[0] + filterJumps + "COMMIT\n" + parts[1] + natJumps + "COMMIT\n"
    }
}
