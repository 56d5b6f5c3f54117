import Foundation
import Wire

/// A network namespace made for one test, deleted by `delete()` or when the last reference
/// goes. Its name is unique (purpose, process id, a random number). Nothing in it is connected
/// to the host: rules, routes and links made here touch no host interface, rule or route.
public final class NetworkNamespace {
    public let name: String
    private var deleted = false

    public init(_ purpose: String) throws {
        name = "kdp-\(purpose)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let r = try Shell.run(["ip", "netns", "add", name])
        guard r.status == 0 else { throw KernelCheckError("ip netns add \(name) failed: \(r.output)") }
    }

    /// Runs a command inside the namespace; returns its status and combined output.
    @discardableResult
    public func exec(_ args: [String], input: String? = nil) throws -> (status: Int32, output: String) {
        try Shell.run(["ip", "netns", "exec", name] + args, input: input)
    }

    /// Runs a shell script inside the namespace; a non-zero exit throws.
    @discardableResult
    public func sh(_ script: String) throws -> String {
        try Shell.sh(script, in: name)
    }

    public func delete() {
        guard !deleted else { return }
        deleted = true
        _ = try? Shell.run(["ip", "netns", "del", name])
    }

    deinit { delete() }
}

extension NetworkNamespace {
    /// What kubelet sets up before kube-proxy runs (pkg/kubelet/kubelet_network_linux.go):
    /// KUBE-IPTABLES-HINT, the KUBE-KUBELET-CANARY chains, and for IPv4 its KUBE-FIREWALL chain
    /// with the localnet rule, appended to INPUT and OUTPUT.
    public func setUpKubelet(family: IPFamily) throws {
        let tool = family == .ipv4 ? "iptables" : "ip6tables"
        func must(_ args: [String]) throws {
            let r = try exec(args)
            guard r.status == 0 else { throw KernelCheckError("\(args.joined(separator: " ")): \(r.output)") }
        }
        try must([tool, "-t", "mangle", "-N", "KUBE-IPTABLES-HINT"])
        for t in ["mangle", "nat", "filter"] { try must([tool, "-t", t, "-N", "KUBE-KUBELET-CANARY"]) }
        guard family == .ipv4 else { return }
        try must([tool, "-t", "filter", "-N", "KUBE-FIREWALL"])
        try must([tool, "-t", "filter", "-A", "KUBE-FIREWALL", "-m", "comment", "--comment", "block incoming localnet connections",
                  "--dst", "127.0.0.0/8", "!", "--src", "127.0.0.0/8", "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"])
        try must([tool, "-t", "filter", "-A", "INPUT", "-j", "KUBE-FIREWALL"])
        try must([tool, "-t", "filter", "-A", "OUTPUT", "-j", "KUBE-FIREWALL"])
    }
}
