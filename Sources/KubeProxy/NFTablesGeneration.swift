/// Which generation of kube-proxy's nftables mode kdp writes: every difference between
/// kube-proxy releases lives here, as one switch each, so that the compiler's writers read a
/// switch and never a version number. Adding a generation (a `--kube-proxy-version` choice) is
/// a new value here plus the writers its new switches need.
public struct NFTablesGeneration: Sendable, Equatable, CustomStringConvertible {
    /// The Kubernetes releases this shape belongs to, as people name them.
    public let name: String
    /// The base chains' names, hooks and priorities. Since kubernetes#132456 (v1.34): the
    /// pre-DNAT filter chains at `dstnat - 10` and the other filter chains at `filter`.
    public let baseChains: [(name: String, base: NFTablesRuleset.BaseChain)]
    /// The ordinary chains jumped to from the base chains, with the condition in front of the
    /// jump (`nftablesJumpChains`).
    public let jumps: [(chain: String, from: String, condition: String)]
    /// A `mark-for-masquerade` chain that every masquerade decision jumps to (until v1.35;
    /// v1.36 inlines `meta mark set meta mark or …`, kubernetes#135800).
    public let markForMasqueradeChain: Bool
    /// The ClusterIP masquerade rule matches address only (`ip daddr X ip saddr != CIDR`), no
    /// protocol and port (the test's mid-2025 text; proxier.go b0f823e6 still wrote `tcp dport`).
    public let clusterIPMasqueradeMatchesAddressOnly: Bool
    /// Hairpin traffic is caught through a `hairpin-connections` set of endpoints instead of an
    /// `ip saddr EP jump mark-for-masquerade` rule per endpoint chain (v1.36, kubernetes#136499).
    public let hairpinConnectionsSet: Bool
    /// Services without affinity DNAT straight from the service chain with
    /// `dnat to numgen random mod N map { … }` and have no endpoint chains (v1.36).
    public let numgenDNATMap: Bool

    public var description: String { name }

    /// The shape upstream's `proxier_test.go` at 81810de6 expects (mid-2025, after #132456 and
    /// before #135800): Kubernetes v1.34 and v1.35. What kdp compiles.
    public static let v1_34 = NFTablesGeneration(
        name: "v1.34",
        baseChains: [
            ("filter-prerouting-pre-dnat", .init(type: .filter, hook: .prerouting, priority: -110)),
            ("filter-output-pre-dnat", .init(type: .filter, hook: .output, priority: -110)),
            ("filter-forward", .init(type: .filter, hook: .forward, priority: 0)),
            ("filter-input", .init(type: .filter, hook: .input, priority: 0)),
            ("filter-output", .init(type: .filter, hook: .output, priority: 0)),
            ("nat-output", .init(type: .nat, hook: .output, priority: -100)),
            ("nat-postrouting", .init(type: .nat, hook: .postrouting, priority: 100)),
            ("nat-prerouting", .init(type: .nat, hook: .prerouting, priority: -100)),
        ],
        jumps: [
            ("nodeport-endpoints-check", "filter-input", "ct state new"),
            ("service-endpoints-check", "filter-input", "ct state new"),
            ("service-endpoints-check", "filter-forward", "ct state new"),
            ("service-endpoints-check", "filter-output", "ct state new"),
            ("firewall-check", "filter-prerouting-pre-dnat", "ct state new"),
            ("firewall-check", "filter-output-pre-dnat", "ct state new"),
            ("services", "nat-output", ""),
            ("services", "nat-prerouting", ""),
            ("masquerading", "nat-postrouting", ""),
            ("cluster-ips-check", "filter-forward", "ct state new"),
            ("cluster-ips-check", "filter-output", "ct state new"),
        ],
        markForMasqueradeChain: true, clusterIPMasqueradeMatchesAddressOnly: true,
        hairpinConnectionsSet: false, numgenDNATMap: false)

    /// The v1.36 shape (issue 17's text): no `mark-for-masquerade` chain, a
    /// `hairpin-connections` set, `dnat … to numgen random mod N map {…}` where there is no
    /// affinity. Its switches are noted here; its writers are not written, so it is not
    /// selectable yet (`selectable`).
    static let v1_36 = NFTablesGeneration(
        name: "v1.36", baseChains: v1_34.baseChains, jumps: v1_34.jumps,
        markForMasqueradeChain: false, clusterIPMasqueradeMatchesAddressOnly: true,
        hairpinConnectionsSet: true, numgenDNATMap: true)

    /// What `kdp compile` can write today.
    public static let selectable: [NFTablesGeneration] = [.v1_34]
    public static let current = v1_34

    public static func == (a: Self, b: Self) -> Bool { a.name == b.name }
}
