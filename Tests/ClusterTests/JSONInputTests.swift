import Foundation
import Testing
import Yams
@testable import Cluster
import Wire

/// JSON input goes through `JSONScanner`, not libyaml: the same nodes, the same marks, the same
/// cluster, and one positioned error for each way JSON can be malformed.
@Suite struct JSONInputTests {
    /// The node tree and marks libyaml composes, compared node by node.
    func expectSameTree(_ a: Yams.Node, _ b: Yams.Node, path: String = "$", sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.mark?.line == b.mark?.line && a.mark?.column == b.mark?.column,
                "\(path): mark \(a.mark.map { "\($0)" } ?? "nil") vs libyaml's \(b.mark.map { "\($0)" } ?? "nil")", sourceLocation: sourceLocation)
        switch (a, b) {
        case (.scalar(let x), .scalar(let y)):
            #expect(x.string == y.string && x.style == y.style, "\(path): \(x.string) \(x.style) vs \(y.string) \(y.style)", sourceLocation: sourceLocation)
        case (.mapping(let x), .mapping(let y)):
            #expect(x.count == y.count, "\(path): \(x.count) keys vs \(y.count)", sourceLocation: sourceLocation)
            for ((k1, v1), (k2, v2)) in zip(x, y) {
                expectSameTree(k1, k2, path: path + ".key", sourceLocation: sourceLocation)
                expectSameTree(v1, v2, path: path + "." + (k1.scalar?.string ?? "?"), sourceLocation: sourceLocation)
            }
        case (.sequence(let x), .sequence(let y)):
            #expect(x.count == y.count, "\(path): \(x.count) items vs \(y.count)", sourceLocation: sourceLocation)
            for (k, (v1, v2)) in zip(x, y).enumerated() { expectSameTree(v1, v2, path: path + "[\(k)]", sourceLocation: sourceLocation) }
        default:
            Issue.record("\(path): \(a) vs \(b)", sourceLocation: sourceLocation)
        }
    }

    @Test func scannerBuildsTheNodesAndMarksLibyamlComposesFromTheSameJSON() throws {
        let dump = try String(contentsOf: dumpFixtures.appendingPathComponent("the-hard-way.json"), encoding: .utf8)
        let samples = [
            dump,
            "{\"a\": [1, -2.5e+3, true, false, null, {}, []],\r\n \"é\": {\"ü\": \"x\", \"k\": 0}}",
            "[\n\t{\"name\": \"日本\", \"v\": \"\\u00e9\"},  \"z\"\n]\n",
        ]
        for text in samples {
            let ours = try JSONScanner.parse(text)
            let theirs = try #require(try Yams.compose(yaml: text, .basic))
            expectSameTree(ours, theirs)
        }
    }

    @Test func stringsThatLookLikeNumbersBooleansOrNullStayStringsAndEscapesDecode() throws {
        let text = #"{"s": "null", "n": null, "q": "80", "i": 80, "b": "true", "t": true, "e": "\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}"#
        let obj = try YAMLValue(node: JSONScanner.parse(text), file: "t.json").object("test")
        let s = try #require(obj["s"]), q = try #require(obj["q"]), i = try #require(obj["i"])
        let b = try #require(obj["b"]), t = try #require(obj["t"]), e = try #require(obj["e"])
        #expect(!s.isNull)
        #expect(try s.string("s") == "null")
        #expect(obj["n"] == nil && obj.entries.first { $0.key == "n" }?.value.isNull == true)
        #expect(try q.string("q") == "80")
        #expect(try i.int("i") == 80)
        #expect(try b.string("b") == "true")
        #expect(try t.bool("t"))
        #expect(try e.string("e") == "\"\\/\u{8}\u{c}\n\r\té😀")
        guard case .scalar(let scalar) = q.node else { Issue.record("q is not a scalar"); return }
        #expect(scalar.style == .doubleQuoted)
    }

    @Test func aBadValueInAJSONDumpIsReportedAtItsLineAndColumn() throws {
        var text = try String(contentsOf: dumpFixtures.appendingPathComponent("the-hard-way.json"), encoding: .utf8)
        let range = try #require(text.range(of: "\"podIP\": \"10.200.0.2\""))
        text.replaceSubrange(range, with: "\"podIP\": \"10.200.0.300\"")
        // Without podIPs the decoder reads podIP.
        text = text.replacingOccurrences(of: "\"podIPs\"", with: "\"podIPz\"")
        do {
            _ = try TopologyLoader.parse(text: text, file: "dump.json")
            Issue.record("accepted 10.200.0.300")
        } catch {
            #expect(error.location == InputLocation(file: "dump.json", line: 266, column: 26), "\(error.description)")
            #expect(error.description.contains("status.podIP"))
        }
    }

    @Test(arguments: [
        ("{\"a\": \"x", 1, 7, "unterminated string"),
        ("{\"a\": \"x\\q\"}", 1, 9, "bad escape \\q"),
        ("{\"a\": \"\\u12\"}", 1, 8, "four hex digits"),
        ("{\"a\": \"\\uD800\"}", 1, 8, "half a surrogate pair"),
        ("{\"a\": 1,\n \"b\": 2,\n}", 3, 1, "trailing comma before '}'"),
        ("[1, 2,]", 1, 7, "trailing comma before ']'"),
        ("{\"a\" 1}", 1, 6, "expected ':'"),
        ("{\"a\": 01}", 1, 8, "leading zero"),
        ("{\"a\": [1, 2}", 1, 12, "expected ',' or ']'"),
        ("{\"a\": tru}", 1, 7, "expected a value"),
        ("{\"a\": 1} x", 1, 10, "after the end of the JSON document"),
        ("{\"a\": 1, \"a\": 2}", 1, 10, "duplicate key \"a\""),
        ("{\"é\": \"a\tb\"}", 1, 9, "control character"),
        ("{\n  \"a\": [", 2, 9, "unexpected end of input"),
    ] as [(String, Int, Int, String)])
    func malformedJSONIsOneErrorWithLineAndColumn(text: String, line: Int, column: Int, what: String) {
        do {
            _ = try TopologyLoader.parse(text: text, file: "bad.json")
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.location == InputLocation(file: "bad.json", line: line, column: column), "\(error.description)")
            #expect(error.description.contains("invalid JSON: ") && error.description.contains(what), "\(error.description)")
        }
    }

    @Test func deepNestingIsAnErrorNotAStackOverflow() {
        let text = String(repeating: "[", count: 100_000)
        #expect(throws: InputError.self) { try TopologyLoader.parse(text: text, file: "deep.json") }
    }

    @Test func yamlFlowStyleThatIsNotJSONIsStillReadAsYAML() throws {
        let input = try TopologyLoader.parse(text: "{kind: Topology, nodes: [{name: n1}]}\n", file: "flow.yaml")
        #expect(input.nodes.map(\.name) == ["n1"])
    }
}
