import Wire

/// Speeds the lead's `kdp bench` reports: linear vs compiled lookups on a generated
/// kube-proxy-shaped ruleset, ns per rule of linear evaluation, and parse throughput. No unit
/// test asserts on these (timing depends on the machine); they are figures to quote.
public struct NetfilterBenchmarkResult: Sendable, CustomStringConvertible {
    public var services: Int
    public var rules: Int
    public var packets: Int
    /// Mean time to trace one packet through every hook (no steps recorded).
    public var linearNanosecondsPerLookup: Double
    public var compiledNanosecondsPerLookup: Double
    /// Linear lookup time divided by the rules it evaluated.
    public var linearNanosecondsPerRule: Double
    public var rulesPerLookupLinear: Double
    public var rulesPerLookupCompiled: Double
    public var parseSeconds: Double
    public var parseRulesPerSecond: Double

    public var description: String {
        func f(_ x: Double, _ d: Int = 1) -> String {
            var s = String(x)
            if let dot = s.firstIndex(of: ".") { s = String(s[..<(s.index(dot, offsetBy: d + 1, limitedBy: s.endIndex) ?? s.endIndex)]) }
            return s
        }
        return """
        netfilter: \(services) services, \(rules) rules, \(packets) packets
          linear:   \(f(linearNanosecondsPerLookup, 0)) ns/lookup, \(f(rulesPerLookupLinear)) rules/lookup, \(f(linearNanosecondsPerRule, 2)) ns/rule
          compiled: \(f(compiledNanosecondsPerLookup, 0)) ns/lookup, \(f(rulesPerLookupCompiled)) rules/lookup
          parse:    \(f(parseSeconds, 3)) s for \(rules) rules (\(f(parseRulesPerSecond, 0)) rules/s)
        """
    }
}

public enum NetfilterBenchmark {
    /// Generates a ruleset of `services`, parses it (timed), then traces `packets` generated
    /// packets through linear and compiled evaluation.
    public static func run(services: Int = 10_000, packets: Int = 20_000, seed: UInt64 = 1) -> NetfilterBenchmarkResult {
        let synth = SyntheticRuleset.kubeProxyShaped(services: services, seed: seed, adversarial: false)
        let clock = ContinuousClock()
        var rs = Ruleset()
        let parse = clock.measure { rs = (try? Ruleset.parse(text: synth.text, file: "bench")) ?? Ruleset() }
        let linear = Tracer(ruleset: rs), compiled = Tracer(ruleset: rs, compiled: true)
        var rng = SeededGenerator(seed: seed)
        let input = (0..<packets).map { _ in synth.randomPacket(&rng) }
        let host = Host.simple(localAddresses: [synth.nodeAddress])
        let options = TraceOptions(seed: seed, recordSteps: false)
        var triedL = 0, triedC = 0
        let tl = clock.measure {
            for p in input { triedL += linear.trace(packet: p, host: host, options: options).paths[0].rulesTried }
        }
        let tc = clock.measure {
            for p in input { triedC += compiled.trace(packet: p, host: host, options: options).paths[0].rulesTried }
        }
        let ruleCount = rs.tables.reduce(0) { $0 + $1.chains.reduce(0) { $0 + $1.rules.count } }
        let ps = seconds(parse)
        return NetfilterBenchmarkResult(
            services: services, rules: ruleCount, packets: packets,
            linearNanosecondsPerLookup: seconds(tl) * 1e9 / Double(packets),
            compiledNanosecondsPerLookup: seconds(tc) * 1e9 / Double(packets),
            linearNanosecondsPerRule: seconds(tl) * 1e9 / Double(max(triedL, 1)),
            rulesPerLookupLinear: Double(triedL) / Double(packets),
            rulesPerLookupCompiled: Double(triedC) / Double(packets),
            parseSeconds: ps, parseRulesPerSecond: Double(ruleCount) / ps)
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
