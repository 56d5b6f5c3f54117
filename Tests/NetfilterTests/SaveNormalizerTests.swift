import Testing
@testable import Netfilter
import Wire

/// The spellings iptables-save gives back for what kube-proxy writes (each pinned against the
/// real kernel by KubeProxyTests' save-format check).
@Suite struct SaveNormalizerTests {
    func saved(_ words: [String], _ family: IPFamily = .ipv4) throws -> String {
        try SaveNormalizer.normalize(words, family: family).joined(separator: " ")
    }

    @Test func headerOptionsComeFirstWithPrefixLengths() throws {
        #expect(try saved(["-m", "comment", "--comment", "a b", "-m", "tcp", "-p", "tcp", "-d", "10.96.0.1", "--dport", "443", "-j", "X"])
            == "-d 10.96.0.1/32 -p tcp -m comment --comment \"a b\" -m tcp --dport 443 -j X")
        #expect(try saved(["-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8", "-j", "DROP"]) == "! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP")
        #expect(try saved(["-d", "fd00::1", "-j", "X"], .ipv6) == "-d fd00::1/128 -j X")
    }

    @Test func markOperationsPrintAsSetXmark() throws {
        #expect(try saved(["-j", "MARK", "--or-mark", "0x00004000"]) == "-j MARK --set-xmark 0x4000/0x4000")
        #expect(try saved(["-j", "MARK", "--xor-mark", "0x4000"]) == "-j MARK --set-xmark 0x4000/0x0")
        #expect(try saved(["-j", "MARK", "--set-mark", "0x8000"]) == "-j MARK --set-xmark 0x8000/0xffffffff")
        #expect(try saved(["-m", "mark", "!", "--mark", "0x00004000/0x00004000", "-j", "RETURN"]) == "-m mark ! --mark 0x4000/0x4000 -j RETURN")
    }

    @Test func statisticShowsTheKernelsThirtyOneBitFraction() throws {
        #expect(try saved(["-m", "statistic", "--mode", "random", "--probability", "0.3333333333", "-j", "X"])
            == "-m statistic --mode random --probability 0.33333333349 -j X")
        #expect(try saved(["-m", "statistic", "--mode", "random", "--probability", "0.5000000000", "-j", "X"])
            == "-m statistic --mode random --probability 0.50000000000 -j X")
    }

    @Test func recentPrintsItsDefaults() throws {
        #expect(try saved(["-m", "recent", "--name", "S", "--rcheck", "--seconds", "10800", "--reap", "-j", "S"])
            == "-m recent --rcheck --seconds 10800 --reap --name S --mask 255.255.255.255 --rsource -j S")
        #expect(try saved(["-m", "recent", "--name", "S", "--set", "-j", "X"], .ipv6)
            == "-m recent --set --name S --mask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff --rsource -j X")
    }

    @Test func conntrackStatesInTheModulesOrderAndRejectDefaults() throws {
        #expect(try saved(["-m", "conntrack", "!", "--ctstate", "DNAT,ESTABLISHED,RELATED", "-j", "DROP"])
            == "-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP")
        #expect(try saved(["-j", "REJECT"]) == "-j REJECT --reject-with icmp-port-unreachable")
        #expect(try saved(["-j", "REJECT"], .ipv6) == "-j REJECT --reject-with icmp6-port-unreachable")
    }

    @Test func optionsOutsideAMatchAreProblems() {
        #expect(throws: SaveNormalizer.Problem.self) { try SaveNormalizer.normalize(["--dport", "80"], family: .ipv4) }
        #expect(throws: SaveNormalizer.Problem.self) { try SaveNormalizer.normalize(["-s"], family: .ipv4) }
        #expect(throws: SaveNormalizer.Problem.self) { try SaveNormalizer.normalize(["-s", "10.0.0.300"], family: .ipv4) }
    }

    @Test func ipvsMatchPrintsInLibxtIPVSOrder() throws {
        #expect(try saved(["-s", "198.51.100.10", "-m", "ipvs", "--vaddr", "198.51.100.10", "--vproto", "tcp", "--vport", "80", "-j", "DROP"])
            == "-s 198.51.100.10/32 -m ipvs --vproto 6 --vaddr 198.51.100.10 --vport 80 -j DROP")
        #expect(try saved(["-m", "ipvs", "--vaddr", "10.0.0.0/8", "--vproto", "udp", "-j", "X"]) == "-m ipvs --vproto 17 --vaddr 10.0.0.0/8 -j X")
    }

    /// Parsing and printing read numbers alike, as `xtables_strtoui` (strtoumax base 0): `010`
    /// is octal 8, `0x10` hex. (The old save-side grammar read `010` as 10.)
    @Test func numbersReadAsXtablesStrtoui() throws {
        #expect(try saved(["-m", "mark", "--mark", "010", "-j", "X"]) == "-m mark --mark 0x8 -j X")
        #expect(try saved(["-j", "MARK", "--set-mark", "010/0x0f"]) == "-j MARK --set-xmark 0x8/0xf")
        #expect(try saved(["-j", "MARK", "--or-mark", "+16"]) == "-j MARK --set-xmark 0x10/0x10")
        let cases: [(String, UInt64?)] = [
            ("0", 0), ("10", 10), ("010", 8), ("0x10", 16), ("0X1f", 31), ("+7", 7), (" 7", 7), ("08", nil), ("0x", nil),
            ("0xg", nil), ("-1", nil), ("", nil), ("+", nil), ("1a", nil), ("0x+1", nil), ("18446744073709551615", .max),
            ("18446744073709551616", nil),
        ]
        for (text, value) in cases { #expect(RuleParser.strtoui(text) == value, "\(text)") }
        #expect(throws: SaveNormalizer.Problem.self) { try SaveNormalizer.normalize(["-j", "MARK", "--or-mark", "0x100000000"], family: .ipv4) }
    }
}
