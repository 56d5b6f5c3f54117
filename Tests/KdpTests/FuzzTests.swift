import Foundation
import Testing
@testable import kdp

@Suite struct FuzzProbe {
    @Test func probe() { #expect(Diagnostic.line("a\nb") == "kdp: a\\nb") }
}
