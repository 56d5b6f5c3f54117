import Dispatch
import Foundation
import Synchronization

extension Verifier {
    /// Runs `work` over `0..<count` split into contiguous ranges, on every core, and returns
    /// each range's result in range order (so that merged reports read as a sequential run's).
    ///
    /// Each range gets its own explorers (copies of the caller's: the nodes' state is shared
    /// copy-on-write, and nothing is written to what another thread reads), so ranges share
    /// no mutable state.
    static func inParallel<T: Sendable>(_ count: Int, _ work: @Sendable (Range<Int>) -> T) -> [T] {
        guard count > 0 else { return [] }
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let parts = min(count, cores == 1 ? 1 : cores * 8)
        let bounds = (0...parts).map { count * $0 / parts }
        let results = Mutex<[T?]>(Array(repeating: nil, count: parts))
        DispatchQueue.concurrentPerform(iterations: parts) { k in
            let r = work(bounds[k]..<bounds[k + 1])
            results.withLock { $0[k] = r }
        }
        return results.withLock { $0.compactMap { $0 } }
    }
}

extension ResultBuilder {
    /// Adds a later part's classes, violations (up to `maxExamples` kept in full) and notes.
    mutating func merge(_ other: ResultBuilder) {
        result.classes += other.result.classes
        result.violationCount += other.result.violationCount
        result.violations += other.result.violations.prefix(max(0, maxExamples - result.violations.count))
        for n in other.result.notes where !result.notes.contains(n) { result.notes.append(n) }
        result.classList += other.result.classList
    }

    /// The same invariant and options, with nothing counted yet.
    var empty: ResultBuilder {
        var b = self
        b.result = InvariantResult(invariant: result.invariant, classes: 0, violationCount: 0, violations: [], notes: [], classList: [])
        return b
    }
}

extension ServiceChecks {
    var empty: ServiceChecks { ServiceChecks(endpoints: endpoints.empty, reply: reply.empty, source: source.empty) }

    mutating func merge(_ other: ServiceChecks) {
        endpoints.merge(other.endpoints)
        reply.merge(other.reply)
        source.merge(other.source)
    }
}
