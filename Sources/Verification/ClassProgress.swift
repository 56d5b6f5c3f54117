import Synchronization

/// Counts classes as the explorers trace them, on every thread, and hands the running total to
/// `report` every 256 classes (kdp draws a progress line from it on a terminal).
///
/// - Complexity: one relaxed atomic add per class.
public final class ClassProgress: Sendable {
    private let count = Atomic<Int>(0)
    private let report: @Sendable (Int) -> Void

    public init(_ report: @escaping @Sendable (Int) -> Void) {
        self.report = report
    }

    /// Classes traced so far.
    public var classes: Int { count.load(ordering: .relaxed) }

    func tick() {
        let n = count.add(1, ordering: .relaxed).newValue
        if n & 255 == 0 { report(n) }
    }
}
