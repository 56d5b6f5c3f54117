/// The chain call stack of one table walk (ipt_do_table's jumpstack): its first
/// `inlineCapacity` frames in memory the walk borrows from its own stack frame
/// (`withUnsafeTemporaryAllocation`), deeper ones in an array.
///
/// Why: a packet walks a table at every hook, and the stack as an array cost a heap allocation
/// per trace and a uniqueness check on every push, pop and `next` update. Pushes and pops here
/// are a store and a count; the array is touched only past `inlineCapacity` frames, which no
/// real ruleset reaches (kube-proxy nests five deep).
struct WalkStack {
    /// 64 frames of 16 bytes: 1 KiB, the size the standard library always puts on the stack.
    static let inlineCapacity = 64

    private let base: UnsafeMutablePointer<WalkFrame>
    private var overflow: [WalkFrame] = []
    private(set) var count = 0

    /// A stack over `base`, which holds `inlineCapacity` frames and outlives the stack.
    init(_ base: UnsafeMutablePointer<WalkFrame>) { self.base = base }

    var isEmpty: Bool { count == 0 }

    subscript(_ i: Int) -> WalkFrame {
        @inline(__always) get { i < Self.inlineCapacity ? base[i] : overflow[i - Self.inlineCapacity] }
        @inline(__always) set {
            if i < Self.inlineCapacity { base[i] = newValue } else { overflow[i - Self.inlineCapacity] = newValue }
        }
    }

    @inline(__always)
    mutating func append(_ f: WalkFrame) {
        if count < Self.inlineCapacity { base[count] = f } else { overflow.append(f) }
        count += 1
    }

    @inline(__always)
    mutating func removeLast() {
        count -= 1
        if count >= Self.inlineCapacity { overflow.removeLast() }
    }

    mutating func removeAll() {
        count = 0
        overflow.removeAll()
    }

    /// The frames as an array, for a path that forks and resumes later (`PathState.frames`).
    var saved: [WalkFrame] { (0..<count).map { self[$0] } }

    /// Pushes `frames` in order (a forked path resuming its walk).
    mutating func load(_ frames: [WalkFrame]) {
        for f in frames { append(f) }
    }
}
