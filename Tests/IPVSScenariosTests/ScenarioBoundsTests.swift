import Testing
import Wire
import IPVS
@testable import IPVSScenarios

/// Scenarios are user input: their numbers are bounded and their errors are positioned, short
/// and never echo the input (issue 12 §4).
@Suite struct ScenarioBoundsTests {
    static let service = "service: {vip: 10.96.0.10, port: 80, scheduler: rr}\n"

    @Test func theClockIsBoundedSoManyAdvancesCannotOverflowIt() throws {
        let s = try IPVSScenario.decode(Self.service + "events:\n" + String(repeating: "  - {op: advance, seconds: 2147483647}\n", count: 500))
        do {
            _ = try ScenarioRunner.run(s)
            Issue.record("10^12 s passed without an error")
        } catch {
            // 465 advances of 2^31 - 1 s reach 9.99e11 s; the next would pass 10^12.
            #expect(error.index == 465)
            #expect(error.message.contains("the clock would pass 1000000000000 s"))
        }
    }

    @Test func yamlErrorsHaveALineAndColumnAndDoNotQuoteTheInput() {
        let text = Self.service + "events:\n  - {op: connect, client: [unclosed\n" + String(repeating: "# padding\n", count: 1000)
        do {
            _ = try IPVSScenario.decode(text)
            Issue.record("accepted")
        } catch {
            #expect(error.section == "yaml")
            #expect(error.line != nil && error.column != nil)
            #expect(!error.summary.contains("padding"))
            #expect(error.summary.count < 200)
        }
    }

    @Test func stepErrorsCarryTheNodesColumn() {
        do {
            _ = try IPVSScenario.decode(Self.service + "events:\n  - {op: connect, client: nowhere}\n")
            Issue.record("accepted")
        } catch {
            #expect(error.line == 3)
            #expect(error.column == 27)
            #expect(error.summary == "event 0: malformed address \"nowhere\" (want ip:port)")
        }
    }

    @Test func longValuesAreQuotedAsExcerpts() {
        do {
            _ = try IPVSScenario.decode(Self.service + "events:\n  - {op: \(String(repeating: "z", count: 5000))}\n")
            Issue.record("accepted")
        } catch {
            #expect(error.summary == "event 0: unknown op \"\(String(repeating: "z", count: 39))…\"")
        }
    }
}
