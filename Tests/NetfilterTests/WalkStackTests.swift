import Testing
@testable import Netfilter
import Wire

/// The chain call stack (`WalkStack`): its first frames live in the walk's stack memory, deeper
/// ones in an array. Chains nested past that boundary must unwind exactly as shallow ones do,
/// in linear and compiled walks, and a path forked deep in the stack must resume there.
@Suite struct WalkStackTests {
    static let ip = KubeProxyExample.ip

    /// INPUT jumps into C0, each Ci into Ci+1, down to C(depth-1), which holds `last`. After each
    /// jump comes a LOG naming its chain, so the steps show the unwinding order. A packet marked
    /// on the way down is dropped back in INPUT.
    static func nested(depth: Int, last: String) -> String {
        var text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        for i in 0..<depth { text += ":C\(i) - [0:0]\n" }
        text += "-A INPUT -j C0\n-A INPUT -m mark --mark 0x1/0x1 -j DROP\n"
        for i in 0..<depth - 1 { text += "-A C\(i) -j C\(i + 1)\n-A C\(i) -j LOG --log-prefix back-\(i)\n" }
        text += "-A C\(depth - 1) \(last)\nCOMMIT\n"
        return text
    }

    static let packet = KubeProxyExample.tcp("10.1.2.3", 40000, "192.168.0.2", 80, in: "eth0")
    static let host = Host.simple(localAddresses: [ip("192.168.0.2")])

    static func logs(_ path: TracePath) -> [String] {
        path.steps.compactMap { $0.action.hasPrefix("log ") ? $0.action : nil }
    }

    static func expectedLogs(depth: Int) -> [String] {
        (0..<depth - 1).reversed().map { "log \"back-\($0)\"" }
    }

    @Test(arguments: [3, WalkStack.inlineCapacity - 1, WalkStack.inlineCapacity + 1, 200])
    func chainsNestedPastTheInlineFramesUnwindInOrder(depth: Int) throws {
        let rs = try Ruleset.parse(text: Self.nested(depth: depth, last: "-j MARK --set-xmark 0x1/0x1"), file: "nested")
        for compiled in [false, true] {
            let tracer = Tracer(ruleset: rs, compiled: compiled)
            // Steps recorded: every LOG shows; not recorded: the quick targets act unseen.
            let stepped = tracer.trace(packet: Self.packet, host: Self.host).paths
            #expect(stepped.count == 1)
            #expect(Self.logs(stepped[0]) == Self.expectedLogs(depth: depth))
            #expect(stepped[0].verdict == .dropped)
            let quiet = tracer.trace(packet: Self.packet, host: Self.host, options: TraceOptions(recordSteps: false)).paths
            #expect(quiet.map(\.verdict) == [.dropped])
            #expect(quiet[0].finalPacket.mark == 1)
        }
    }

    @Test func aSecondDeepDescentAfterUnwindingReadsItsOwnFrames() throws {
        // INPUT enters the C chains, unwinds, then enters the D chains, as deep: the second
        // descent's frames take the places the first one's had.
        let depth = WalkStack.inlineCapacity + 20
        var text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        for i in 0..<depth { text += ":C\(i) - [0:0]\n:D\(i) - [0:0]\n" }
        text += "-A INPUT -j C0\n-A INPUT -j D0\n-A INPUT -m mark --mark 0x1/0x1 -j DROP\n"
        for c in ["C", "D"] {
            for i in 0..<depth - 1 { text += "-A \(c)\(i) -j \(c)\(i + 1)\n-A \(c)\(i) -j LOG --log-prefix \(c)\(i)\n" }
        }
        text += "-A C\(depth - 1) -j RETURN\n-A D\(depth - 1) -j MARK --set-xmark 0x1/0x1\nCOMMIT\n"
        let rs = try Ruleset.parse(text: text, file: "twice")
        let expected = ["C", "D"].flatMap { c in (0..<depth - 1).reversed().map { "log \"\(c)\($0)\"" } }
        for compiled in [false, true] {
            let p = Tracer(ruleset: rs, compiled: compiled).trace(packet: Self.packet, host: Self.host).paths[0]
            #expect(Self.logs(p) == expected)
            #expect(p.verdict == .dropped)
        }
    }

    @Test func aPathForkedDeepInTheStackResumesThere() throws {
        let depth = WalkStack.inlineCapacity + 30
        let rs = try Ruleset.parse(text: Self.nested(depth: depth, last: "-m statistic --mode random --probability 0.25 -j MARK --set-xmark 0x1/0x1"),
                                   file: "nested")
        for compiled in [false, true] {
            let paths = Tracer(ruleset: rs, compiled: compiled).trace(packet: Self.packet, host: Self.host, options: TraceOptions(allPaths: true)).paths
            #expect(paths.count == 2)
            // Both branches unwind through every frame; only the marked one is dropped.
            for p in paths { #expect(Self.logs(p) == Self.expectedLogs(depth: depth)) }
            let dropped = paths.filter { $0.verdict == .dropped }, accepted = paths.filter { $0.verdict == .accepted }
            #expect(dropped.count == 1 && accepted.count == 1)
            #expect(abs((dropped.first?.probability ?? 0) - 0.25) < 1e-6)
        }
    }

    @Test func chainsNestedMoreThan256DeepAreCutAsALoop() throws {
        let rs = try Ruleset.parse(text: Self.nested(depth: 300, last: "-j ACCEPT"), file: "nested")
        for compiled in [false, true] {
            let p = Tracer(ruleset: rs, compiled: compiled).trace(packet: Self.packet, host: Self.host, options: TraceOptions(recordSteps: false)).paths[0]
            #expect(p.verdict == .dropped)
            #expect(p.reason?.contains("nest too deep") == true)
        }
    }

    @Test func framesPushedPastTheInlineCapacityComeBackInOrder() {
        withUnsafeTemporaryAllocation(of: WalkFrame.self, capacity: WalkStack.inlineCapacity) { buffer in
            var stack = WalkStack(buffer.baseAddress!)
            let n = WalkStack.inlineCapacity * 2 + 5
            for i in 0..<n { stack.append(WalkFrame(chain: i, next: i * 10)) }
            #expect(stack.count == n)
            stack[n - 1].next = 7
            stack[3].next = 8
            #expect(stack[n - 1].next == 7 && stack[3].next == 8)
            let saved = stack.saved
            #expect(saved.count == n && saved[n - 1].next == 7 && saved[WalkStack.inlineCapacity].chain == WalkStack.inlineCapacity)
            for i in (0..<n).reversed() {
                #expect(stack[stack.count - 1].chain == i)
                stack.removeLast()
            }
            #expect(stack.isEmpty)
            // Pushed again past the boundary with other frames: no stale frame reads back.
            for i in 0..<n { stack.append(WalkFrame(chain: 1000 + i, next: 0)) }
            #expect((0..<n).allSatisfy { stack[$0].chain == 1000 + $0 })
            stack.removeAll()
            stack.load(saved)
            #expect(stack.saved.map(\.chain) == Array(0..<n))
            stack.removeAll()
            #expect(stack.isEmpty && stack.saved.isEmpty)
        }
    }
}
