import Testing
import Wire

@Suite struct SocketAddressTests {
    func parse(_ text: String) -> SocketAddress? { try? SocketAddress(parsing: text) }

    @Test func ipv4AndBracketedIPv6ParseAndPrintBack() throws {
        let a = try SocketAddress(parsing: "10.244.1.2:8080")
        #expect(a.address == .v4(IPv4Address(10, 244, 1, 2)) && a.port == 8080)
        #expect(a.description == "10.244.1.2:8080")
        let b = try SocketAddress(parsing: "[fd00:10:244::2]:80")
        #expect(b.address.family == .ipv6 && b.port == 80)
        #expect(b.description == "[fd00:10:244::2]:80")
        #expect(parse("0.0.0.0:0")?.port == 0 && parse("1.2.3.4:65535")?.port == 65535)
    }

    /// IPv6 prints in RFC 5952 form, whatever the input's spelling.
    @Test func ipv6PrintsInRFC5952Form() throws {
        #expect(try SocketAddress(parsing: "[FD00:0:0:0:0:0:0:1]:443").description == "[fd00::1]:443")
        #expect(try SocketAddress(parsing: "[2001:db8:0:0:1:0:0:1]:1").description == "[2001:db8::1:0:0:1]:1")
        #expect(SocketAddress(try IPAddress(parsing: "::1"), port: 53).description == "[::1]:53")
        #expect(try IPAddress(parsing: "fd00::1").joined(port: 80) == "[fd00::1]:80")
    }

    @Test func malformedTextIsRejected() {
        for bad in ["", ":", "10.0.0.1", "10.0.0.1:", ":80", "10.0.0.1:65536", "10.0.0.1:-1", "10.0.0.1:+80", "10.0.0.1:8o",
                    "10.0.0.1:80:81", "10.0.0.300:80", "010.0.0.1:80", "fd00::1:80", "fd00::1", "[fd00::1]", "[fd00::1]80",
                    "[fd00::1]:", "[fd00::1:80", "[10.0.0.1]:80", "[fd00::zz]:80", "web:80", "[]:80", " 10.0.0.1:80"] {
            #expect(parse(bad) == nil, "\(bad)")
        }
    }

    @Test func errorsNameTheText() {
        #expect(throws: AddressError("10.0.0.1", "expected ip:port, or [ipv6]:port")) { try SocketAddress(parsing: "10.0.0.1") }
        #expect(throws: AddressError("10.0.0.1:x", "port is not 0-65535")) { try SocketAddress(parsing: "10.0.0.1:x") }
        #expect(throws: AddressError("[10.0.0.1]:80", "an IPv6 address takes brackets, an IPv4 address none")) {
            try SocketAddress(parsing: "[10.0.0.1]:80")
        }
    }

    /// The lexical split trace targets use: names allowed, a bare IPv6 address has no port.
    @Test func splitHostPortSeparatesNamesAndAddressesFromTheirPorts() {
        func split(_ s: String) -> [String?] { let (h, p) = SocketAddress.splitHostPort(Substring(s)); return [String(h), p.map(String.init)] }
        #expect(split("node/worker-1:30080") == ["node/worker-1", "30080"])
        #expect(split("web.default:80") == ["web.default", "80"])
        #expect(split("web") == ["web", nil])
        #expect(split("fd00::1") == ["fd00::1", nil])
        #expect(split("[fd00::1]:80") == ["fd00::1", "80"])
        #expect(split("[fd00::1]") == ["fd00::1", nil])
        #expect(split("[fd00::1]x") == ["fd00::1", nil])
        #expect(split("10.0.0.1:") == ["10.0.0.1", ""])
    }
}
