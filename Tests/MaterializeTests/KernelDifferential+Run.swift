import Cluster
import Dataplane
import Foundation
import Materialize
import TestSupport
import Wire

extension KernelDifferential {
    /// The figures of one run.
    struct Summary {
        var probes = 0
        var classes = 0
        var byKind: [String: Int] = [:]
        var byVerdict: [String: Int] = [:]
        var mismatches: [String] = []
        var affinityChecked = 0
        /// Per group of probes with the same target probabilities: (targets and
        /// probabilities, χ², degrees of freedom, p-value, counts).
        var chiSquareGroups: [(String, Double, Int, Double, String)] = []
        var chiSquareSkipped = 0
        var pooled: (Double, Int, Double) = (0, 0, 1)
        var seconds = 0.0
        var randomProbes = 0
    }

    /// Plans `repeats` probes per class, each from a source port of its own (per sender
    /// namespace and address, counting up from 40000): no two probes share a 5-tuple.
    func plan(repeats: Int) throws {
        var nextPort: [String: Int] = [:]
        var id = 0
        for _ in 0..<repeats {
            for (i, c) in classes.enumerated() {
                let key = "\(c.sender.namespace) \(c.sender.bind)"
                let port = nextPort[key, default: 40000]
                nextPort[key] = port + 1
                guard port < 65000 else { throw KernelCheckError("more probes from \(key) than source ports") }
                let probe = KernelProbes.Probe(id: id, proto: Self.protoName(c.target.proto), source: c.sender.bind, sourcePort: port,
                                               destination: "\(c.target.address)", destinationPort: Int(c.target.port))
                sent.append(Sent(classIndex: i, probe: probe, primer: false))
                id += 1
            }
        }
    }

    /// The first probe of each affinity key is its primer: primers go alone, before the rest,
    /// so that the key's endpoint is chosen once, at random, and the rest must follow it.
    func markPrimers() {
        var primed = Set<String>()
        for j in sent.indices {
            guard let key = classes[sent[j].classIndex].affinityKey else { continue }
            if primed.insert(key).inserted { sent[j].primer = true }
        }
    }

    /// Sends every probe: primers first, then the rest; pods' and nodes' batches run side by
    /// side (a few client processes at once), the external client's once per node, with the
    /// fabric's VIP routes pointing at that node.
    func execute() throws {
        for phase in [true, false] {
            let indices = sent.indices.filter { sent[$0].primer == phase }
            var inside: [String: [Int]] = [:]
            var external: [String: [Int]] = [:]
            for j in indices {
                let c = classes[sent[j].classIndex]
                if let via = c.via { external[via, default: []].append(j) } else { inside[c.sender.namespace, default: []].append(j) }
            }
            var jobs: [Job] = []
            for (ns, js) in inside.sorted(by: { $0.key < $1.key }) {
                let probes = js.map { sent[$0].probe }
                jobs.append { [directory] in
                    let results = try KernelProbes.send(probes, from: ns, directory: directory, timeout: Self.timeout)
                    return js.compactMap { j in results[self.sent[j].probe.id].map { (j, $0) } }
                }
            }
            let externalRounds = external.sorted { $0.key < $1.key }
            let vips = Set(classes.filter { $0.via != nil && $0.target.kind != "NodePort" }.map(\.target.address))
            let collected = try runConcurrently(jobs, width: 4)
            for (j, r) in collected { sent[j].result = r }
            // The external client's rounds after the rest: they move the fabric's VIP routes,
            // which packets from nodes to a VIP without endpoints follow (they leave the cluster).
            let rounds: Job = { [self] in
                var out: [(Int, KernelProbes.Result)] = []
                for (node, js) in externalRounds {
                    for vip in vips { try Materializer.routeVIP(vip, to: node, cluster: cluster, prefix: names.prefix) }
                    let probes = js.map { sent[$0].probe }
                    let results = try KernelProbes.send(probes, from: names.external, directory: directory, timeout: Self.timeout)
                    out += js.compactMap { j in results[sent[j].probe.id].map { (j, $0) } }
                }
                return out
            }
            for (j, r) in try rounds() { sent[j].result = r }
            for (vip, node) in vipRoutes { try Materializer.routeVIP(vip, to: node, cluster: cluster, prefix: names.prefix) }
        }
    }

    /// Runs `jobs` on `width` threads; the first error is thrown after all have ended.
    func runConcurrently(_ jobs: [Job], width: Int) throws -> [(Int, KernelProbes.Result)] {
        let state = JobState(jobs)
        let group = DispatchGroup()
        for _ in 0..<min(width, jobs.count) {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                state.work()
            }
        }
        group.wait()
        if let e = state.firstError { throw e }
        return state.results
    }

    /// Compares every probe with kdp: the outcome must be one of kdp's paths' (deterministic
    /// fields equal), an affinity key's probes must all reach its primer's pod, and per
    /// distribution of targets the counts must fit kdp's probabilities (χ², p > 0.001, and
    /// each group at p > 0.001 / groups).
    func compare() -> Summary {
        var s = Summary()
        s.probes = sent.count
        s.classes = classes.count
        var primerTarget: [String: String] = [:]
        for x in sent where x.primer {
            let k = Self.kernelOutcome(x.result)
            if let key = classes[x.classIndex].affinityKey { primerTarget[key] = k.target }
        }
        var groups: [String: (probabilities: [String: Double], counts: [String: Int])] = [:]
        var reported = 0
        var reportedClasses = Set<Int>()
        for x in sent {
            let c = classes[x.classIndex]
            let k = Self.kernelOutcome(x.result)
            s.byKind["\(x.probe.proto) \(c.sender.kind) → \(c.target.kind)", default: 0] += 1
            s.byVerdict[k.verdict, default: 0] += 1
            var problem: String?
            if !Self.agrees(k, x.expected) {
                problem = "the kernel's outcome is none of kdp's"
            } else if let key = c.affinityKey, !x.primer, let first = primerTarget[key], first != k.target {
                problem = "session affinity: \(key) chose \(first) first, this probe reached \(k.target)"
            }
            if c.affinityKey != nil, !x.primer, problem == nil { s.affinityChecked += 1 }
            if let problem {
                s.mismatches.append("\(c.description) sport \(x.probe.sourcePort)")
                if reported < 12, reportedClasses.insert(x.classIndex).inserted {
                    reported += 1
                    let expected = x.expected.sorted { $0.value > $1.value }.map { "    p=\($0.value) \($0.key)" }.joined(separator: "\n")
                    print("""
                    MISMATCH [\(label)] \(problem)
                      probe: \(c.description), source port \(x.probe.sourcePort)
                      kernel: \(k) (\(x.result.map { "\($0.kind) '\($0.payload)' from \($0.replyFrom)" } ?? "no result"))
                      kdp expected:
                    \(expected)
                    \(explain(c, sourcePort: UInt16(x.probe.sourcePort)))
                    """)
                }
                continue
            }
            // The random choices: targets by their probability, affinity followers left out.
            var targets: [String: Double] = [:]
            for (o, p) in x.expected { targets[o.verdict == "ok" ? o.target : o.verdict, default: 0] += p }
            guard targets.count > 1, c.affinityKey == nil || x.primer else { continue }
            s.randomProbes += 1
            let signature = targets.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.9f", $0.value))" }.joined(separator: " ")
            groups[signature, default: (targets, [:])].counts[k.verdict == "ok" ? k.target : k.verdict, default: 0] += 1
        }
        if ProcessInfo.processInfo.environment["KDP_DIFF_DEBUG"] != nil {
            for c in classes where c.target.service?.sessionAffinity == .clientIP && c.affinityKey == nil { print("UNKEYED \(c.description)") }
            for x in sent where x.primer { print("PRIMER \(classes[x.classIndex].affinityKey ?? "") | \(classes[x.classIndex].description) | \(Self.kernelOutcome(x.result).target)") }
        }
        var pooledX = 0.0, pooledDF = 0
        for (signature, g) in groups.sorted(by: { $0.key < $1.key }) {
            let keys = g.probabilities.keys.sorted()
            let n = g.counts.values.reduce(0, +)
            let probabilities = keys.map { g.probabilities[$0]! }
            guard probabilities.allSatisfy({ Double(n) * $0 >= 5 }) else { s.chiSquareSkipped += n; continue }
            let x = ChiSquare.statistic(observed: keys.map { g.counts[$0, default: 0] }, probabilities: probabilities)
            let df = keys.count - 1
            s.chiSquareGroups.append((signature, x, df, ChiSquare.survival(x, degreesOfFreedom: df), keys.map { "\($0)=\(g.counts[$0, default: 0])" }.joined(separator: " ")))
            pooledX += x
            pooledDF += df
        }
        s.pooled = (pooledX, pooledDF, ChiSquare.survival(pooledX, degreesOfFreedom: pooledDF))
        return s
    }

    /// Materializes, serves, plans at least `quota` probes, traces, sends, compares; cleans up
    /// whatever happens.
    func run(quota: Int, senderPods: [Pod]) throws -> Summary {
        let start = Date()
        defer { cleanUp() }
        try materialize()
        try startServers()
        makeClasses(pods: senderPods)
        let repeats = max(1, (quota + classes.count - 1) / classes.count)
        try plan(repeats: repeats)
        let traced = Date()
        try traceProbes()
        markPrimers()
        let probing = Date()
        try execute()
        print("kernel differential [\(label)]: set up \(String(format: "%.1f", traced.timeIntervalSince(start))) s, kdp traces \(String(format: "%.1f", probing.timeIntervalSince(traced))) s, probes \(String(format: "%.1f", Date().timeIntervalSince(probing))) s")
        var s = compare()
        s.seconds = Date().timeIntervalSince(start)
        print("kernel differential [\(label)]: \(s.probes) probes in \(s.classes) classes (\(repeats) each), \(s.probes - s.mismatches.count) agreed, \(s.mismatches.count) mismatches, \(String(format: "%.1f", s.seconds)) s")
        for (k, n) in s.byKind.sorted(by: { $0.key < $1.key }) { print("  \(k): \(n)") }
        var byProto: [String: Int] = [:], bySender: [String: Int] = [:]
        for (k, n) in s.byKind {
            byProto[String(k.split(separator: " ")[0]), default: 0] += n
            bySender[String(k.split(separator: " ")[1]), default: 0] += n
        }
        print("  by protocol: " + byProto.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
              + "; by sender: " + bySender.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        print("  kernel verdicts: " + s.byVerdict.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        print("  random choices: \(s.randomProbes) probes in \(s.chiSquareGroups.count) χ² groups (\(s.chiSquareSkipped) probes in groups too small), pooled χ² \(String(format: "%.2f", s.pooled.0)) df \(s.pooled.1) p \(String(format: "%.4f", s.pooled.2)); affinity followers checked: \(s.affinityChecked)")
        let debug = ProcessInfo.processInfo.environment["KDP_DIFF_DEBUG"] != nil
        for g in s.chiSquareGroups where g.3 < 0.01 || debug { print("  χ² group p=\(g.3) x=\(g.1) df=\(g.2): \(g.0) counts \(g.4)") }
        return s
    }
}

typealias Job = () throws -> [(Int, KernelProbes.Result)]

/// The work list of `runConcurrently`, shared by its threads under a lock.
final class JobState: @unchecked Sendable {
    private let lock = NSLock()
    private let jobs: [Job]
    private var next = 0
    var results: [(Int, KernelProbes.Result)] = []
    var firstError: Error?

    init(_ jobs: [Job]) { self.jobs = jobs }

    func work() {
        while true {
            lock.lock()
            guard next < jobs.count, firstError == nil else { lock.unlock(); return }
            let job = jobs[next]
            next += 1
            lock.unlock()
            do {
                let r = try job()
                lock.lock(); results += r; lock.unlock()
            } catch {
                lock.lock(); if firstError == nil { firstError = error }; lock.unlock()
            }
        }
    }
}
