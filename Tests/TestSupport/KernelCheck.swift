import Foundation
import Testing

/// When the kernel checks run. They need root, network namespaces and the iptables tools.
/// The single-namespace checks (`NetworkNamespace`) run under CI=true, where they fail if they
/// cannot, and elsewhere whenever root and the tools are there; the lab's checks (`KernelLab`:
/// three namespaces, python3 listeners, conntrack, xtables-monitor) run only under CI=true as
/// root.
public enum KernelCheck {
    public static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// Why the single-namespace checks cannot run here, or nil.
    public static let missing: String? = {
        if getuid() != 0 { return "not root" }
        for tool in ["ip", "iptables-restore", "ip6tables-restore", "iptables-legacy-restore"] {
            if (try? Shell.run(["sh", "-c", "command -v \(tool)"]).status) != 0 { return "\(tool) not installed" }
        }
        return nil
    }()

    public static var enabled: Bool { isCI || missing == nil }

    /// Whether `KernelLab` checks run.
    public static var labEnabled: Bool { isCI && geteuid() == 0 }

    /// Records why the test cannot run: a failure under CI, a skip message elsewhere.
    public static func unavailable() -> Bool {
        guard let why = missing else { return false }
        if isCI { Issue.record("kernel check cannot run under CI: \(why)") } else { print("skipping kernel check: \(why)") }
        return true
    }
}

public struct KernelCheckError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
