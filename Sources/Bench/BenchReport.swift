/// One measured operation of `kdp bench`. Encodes with the snake-case keys of its JSON output.
public struct BenchResult: Encodable, Sendable {
    public var name: String
    public var opsPerSecond: Double
    public var nsPerOp: Double
    public var seconds: Double

    public init(name: String, opsPerSecond: Double, nsPerOp: Double, seconds: Double) {
        self.name = name
        self.opsPerSecond = opsPerSecond
        self.nsPerOp = nsPerOp
        self.seconds = seconds
    }

    /// `operations` done in `seconds`.
    public init(name: String, operations: Int, seconds: Double) {
        self.init(name: name, opsPerSecond: Double(operations) / seconds, nsPerOp: seconds * 1e9 / Double(operations), seconds: seconds)
    }

    enum CodingKeys: String, CodingKey {
        case name, opsPerSecond = "ops_per_second", nsPerOp = "ns_per_op", seconds
    }
}

/// What one `kdp bench` run measured on.
public struct BenchWorkload: Encodable, Sendable {
    public var services: Int
    public var endpointsPerService: Int
    public var connections: Int
    public var seed: UInt64
    public var nodes: Int
    /// Rules (filter + nat) of the measured node's iptables-mode proxier.
    public var iptablesRules: Int

    enum CodingKeys: String, CodingKey {
        case services, endpointsPerService = "endpoints_per_service", connections, seed, nodes, iptablesRules = "iptables_rules"
    }
}

/// One workload and its results, in measurement order.
public struct BenchReport: Encodable, Sendable {
    public var workload: BenchWorkload
    public var results: [BenchResult]
    /// The targeted ratios between `results` (`BenchRatio.all`).
    public var ratios: [BenchRatio]

    public init(workload: BenchWorkload, results: [BenchResult]) {
        self.workload = workload
        self.results = results
        self.ratios = BenchRatio.all(results)
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
