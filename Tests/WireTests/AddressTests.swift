import Testing
@testable import Wire

@Suite struct IPv4AddressTests {
    @Test func parsesAndPrintsDottedQuad() throws {
        let a = try IPv4Address(parsing: "10.244.1.5")
        #expect(a.value == 0x0AF4_0105)
        #expect(a.description == "10.244.1.5")
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "1.2.3.4 ", "a.b.c.d", "1.2.3.-4", "1.2.3.1000"])
    func rejectsMalformedText(_ text: String) {
        #expect(throws: AddressError.self) { try IPv4Address(parsing: text) }
    }

    @Test func strictParseRejectsLeadingZeros() {
        #expect(throws: AddressError.self) { try IPv4Address(parsing: "172.30.0.041") }
    }

    @Test func sloppyParseReadsLeadingZerosAsDecimal() throws {
        // kube-proxy-rules.md §1.1: 172.30.0.041 is 172.30.0.41, not octal 33.
        #expect(try IPv4Address(sloppy: "172.30.0.041").description == "172.30.0.41")
        #expect(try IPAddress(sloppy: "010.001.000.009").description == "10.1.0.9")
    }

    @Test func errorNamesTheTextAndTheProblem() {
        do {
            _ = try IPv4Address(parsing: "10.0.0.300")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "invalid \"10.0.0.300\": IPv4 field out of range (0-255)")
        }
    }
}

@Suite struct IPv6AddressTests {
    @Test(arguments: [
        ("2001:db8:0:0:0:0:2:1", "2001:db8::2:1"),
        ("2001:0db8::0001", "2001:db8::1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  // a single zero group is not compressed
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),  // the longest run wins
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  // the first run wins a tie
        ("::", "::"),
        ("::1", "::1"),
        ("FD00:10:244::", "fd00:10:244::"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ("fe80::1:2:3:4", "fe80::1:2:3:4"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
    ])
    func printsRFC5952Form(_ input: String, _ expected: String) throws {
        #expect(try IPv6Address(parsing: input).description == expected)
    }

    @Test(arguments: ["", ":", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "g::1", "1:2:3:4:5:6:7", ":1::", "1::2:", "::1.2.3", "fe80::1%eth0"])
    func rejectsMalformedText(_ text: String) {
        #expect(throws: AddressError.self) { try IPv6Address(parsing: text) }
    }

    /// The address is stored as two 64-bit halves: `value`, its setter and `<` must still be
    /// the 128-bit number's, including where the halves disagree (a larger high half with a
    /// smaller low one).
    @Test func valueAndOrderAreThoseOfThe128BitNumber() {
        let values: [UInt128] = [0, 1, UInt128(UInt64.max), UInt128(1) << 64, UInt128(1) << 64 | UInt128(UInt64.max),
                                 UInt128(0xfd00) << 112 | 1, UInt128(UInt64.max) << 64, .max]
        for v in values {
            #expect(IPv6Address(v).value == v)
            var a = IPv6Address.zero
            a.value = v
            #expect(a == IPv6Address(v))
            for w in values {
                #expect((IPv6Address(v) < IPv6Address(w)) == (v < w))
                #expect((IPv6Address(v) == IPv6Address(w)) == (v == w))
            }
        }
    }

    @Test func embeddedIPv4FillsTheLastTwoGroups() throws {
        let a = try IPv6Address(parsing: "64:ff9b::10.0.0.1")
        #expect(a.groups == [0x64, 0xff9b, 0, 0, 0, 0, 0x0a00, 0x0001])
    }
}

@Suite struct IPAddressTests {
    @Test func familyComesFromTheText() throws {
        #expect(try IPAddress(parsing: "10.0.0.1").family == .ipv4)
        #expect(try IPAddress(parsing: "fd00::1").family == .ipv6)
    }

    @Test func joinHostPortBracketsIPv6() throws {
        #expect(try IPAddress(parsing: "10.0.0.1").joined(port: 80) == "10.0.0.1:80")
        #expect(try IPAddress(parsing: "fd00::1").joined(port: 80) == "[fd00::1]:80")
    }

    @Test func ipv4SortsBeforeIPv6AndNumericallyWithin() throws {
        let list = try ["fd00::1", "10.0.0.10", "10.0.0.9", "::1"].map { try IPAddress(parsing: $0) }
        #expect(list.sorted().map(\.description) == ["10.0.0.9", "10.0.0.10", "::1", "fd00::1"])
    }

    @Test func advancingStopsAtTheEndOfTheFamily() throws {
        #expect(try IPAddress(parsing: "255.255.255.254").advanced(by: 1)?.description == "255.255.255.255")
        #expect(try IPAddress(parsing: "255.255.255.255").advanced(by: 1) == nil)
    }
}
