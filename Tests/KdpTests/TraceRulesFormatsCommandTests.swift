import Foundation
import Testing

/// `kdp trace-rules` reads the formats people paste (issue 12 §2), detecting each: `iptables -S`
/// beside iptables-save, `ipvsadm -Ln` beside `-S`, `ipset list` beside `ipset save`; and says
/// what it assumed (§3). Every format's malformed input exits 2 with one `kdp:` line naming the
/// file and line.
@Suite struct TraceRulesFormatsCommandTests {
    let files = TraceRulesCommandTests()

    /// What `iptables -S` then `iptables -t nat -S` print for an iptables-save text: per table,
    /// `-P` for the built-in chains, `-N` for the others, then the rules.
    static func listing(_ save: String) -> String {
        var out = "", policies = "", chains = "", rules = ""
        for line in save.split(separator: "\n") {
            if line.hasPrefix("*") { continue }
            if line == "COMMIT" { out += policies + chains + rules; policies = ""; chains = ""; rules = ""; continue }
            if line.hasPrefix(":") {
                let w = line.dropFirst().split(separator: " ")
                if w[1] == "-" { chains += "-N \(w[0])\n" } else { policies += "-P \(w[0]) \(w[1])\n" }
                continue
            }
            rules += line + "\n"
        }
        return out
    }

    /// `ipvsadm -Ln` for kube-proxy's `ipvsadm -S -n` lines (`-A -t|-u ADDR -s SCHED`, `-a ... -r RS -m -w W`).
    static func ipvsList(_ save: String) -> String {
        var out = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        for line in save.split(separator: "\n") {
            let w = line.split(separator: " ")
            if w[0] == "-A" { out += (w[1] == "-t" ? "TCP  " : "UDP  ") + w[2] + " " + w[4] + "\n" }
            if w[0] == "-a" { out += "  -> " + w[4].padding(toLength: 28, withPad: " ", startingAt: 0) + " Masq    " + w[7] + "      0          0\n" }
        }
        return out
    }

    func run(_ dir: URL, _ args: [String]) throws -> KdpResult {
        try kdp(["trace-rules"] + args.map { $0.hasPrefix("@") ? dir.appendingPathComponent(String($0.dropFirst())).path : $0 })
    }

    @Test func anIPTablesSListingTracesAsItsIPTablesSaveDoes() throws {
        let sets = "create BLOCKED hash:ip family inet hashsize 1024 maxelem 65536\nadd BLOCKED 10.244.0.9\n"
        let list = "Name: BLOCKED\nType: hash:ip\nRevision: 6\nHeader: family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1\nSize in memory: 216\nReferences: 1\nNumber of entries: 1\nMembers:\n10.244.0.9\n"
        try files.withFiles(["save": TraceRulesCommandTests.rules, "S": Self.listing(TraceRulesCommandTests.rules), "sets": sets, "list": list]) { dir in
            let common = ["--local-ip", "172.18.0.3", "--src", "10.244.0.9", "--dst", "10.96.0.20", "--dport", "80", "--all-paths"]
            let a = try run(dir, ["--rules", "@save", "--ipsets", "@sets"] + common)
            let b = try run(dir, ["--rules", "@S", "--ipsets", "@list"] + common)
            #expect(a.status == 0 && b.status == 0, "\(a.stderr)\(b.stderr)")
            // The listing adds one note per table it took; every other line, notes included, is the same.
            let notes = b.stdout.split(separator: "\n").filter { $0.contains("`iptables -S` output") }
            #expect(notes.count == 2)
            #expect(notes.first?.contains("lines 1-14 are `iptables -S` output of table nat (from its -P lines") == true)
            #expect(notes.last?.contains("lines 15-18 are `iptables -S` output of table filter") == true)
            #expect(b.stdout.split(separator: "\n").filter { !$0.contains("`iptables -S` output") } == a.stdout.split(separator: "\n"))
            #expect(a.stdout.contains("drop"), "BLOCKED holds the source")
        }
    }

    @Test func anIPVSAdmLnListingTracesAsItsSaveDoes() throws {
        var dumps = try files.ipvsDumps()
        dumps["list"] = Self.ipvsList(dumps["ipvs"]!)
        try files.withFiles(dumps) { dir in
            let common = ["--rules", "@rules", "--ipsets", "@sets", "--local-ip", "172.18.0.3", "--src", "10.244.1.2", "--in-iface", "cni0",
                          "--dst", "10.105.17.17", "--dport", "80", "--all-paths"]
            let a = try run(dir, common + ["--ipvs", "@ipvs"])
            let b = try run(dir, common + ["--ipvs", "@list"])
            #expect(a.status == 0 && b.status == 0, "\(a.stderr)\(b.stderr)")
            let notes = b.stdout.split(separator: "\n").filter { $0.hasPrefix("note: \(dir.appendingPathComponent("list").path): ") }
            #expect(notes.count == 1 && notes[0].contains("rr/wrr walk that order"))
            #expect(b.stdout.split(separator: "\n").filter { !notes.contains($0) } == a.stdout.split(separator: "\n"))
            #expect(a.stdout.contains("ipvs"))
        }
    }

    @Test func aMissingSetIsAnErrorUnlessLenientAndTheOwnerIsStated() throws {
        let aks = "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n-A OUTPUT -d 168.63.129.16/32 -p tcp -m owner --uid-owner 0 -j ACCEPT\n-A OUTPUT -d 168.63.129.16/32 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP\n"
        try files.withFiles(["rules": TraceRulesCommandTests.rules, "aks": aks]) { dir in
            let args = ["--rules", "@rules", "--local-ip", "172.18.0.3", "--src", "10.244.0.9", "--dst", "10.96.0.20", "--dport", "80"]
            let strict = try run(dir, args)
            #expect(strict.status == 2)
            #expect(strict.stderr == "kdp: \(dir.appendingPathComponent("rules").path):21: rule matches set 'BLOCKED', which was not given: pass the node's `ipset save` (or `ipset list`) with --ipsets, or --lenient to take it as empty\n")
            let lenient = try run(dir, args + ["--lenient"])
            #expect(lenient.status == 0)
            #expect(lenient.stdout.contains("set BLOCKED not given: taken as empty, --lenient"))

            let wire = ["--rules", "@aks", "--table", "security", "--local-ip", "10.240.0.4", "--src", "10.240.0.4", "--dst", "168.63.129.16", "--dport", "80"]
            let root = try run(dir, wire)
            #expect(root.status == 0)
            #expect(root.stdout.contains("ACCEPTED"))
            #expect(root.stdout.contains("note: -m owner: the packet leaves a socket of uid 0 gid 0 (root, assumed; --uid and --gid set them)"))
            let user = try run(dir, wire + ["--uid", "1000"])
            #expect(user.stdout.contains("DROPPED"))
            #expect(user.stdout.contains("uid 1000 gid 0 (--uid/--gid; one not given is 0)"))
            #expect(try run(dir, wire + ["--table", "bogus"]).status == 2)
            #expect(try run(dir, wire + ["--uid", "4294967295"]).status == 2)
        }
    }

    @Test func malformedInputOfEveryFormatIsOneLineNamingFileAndLine() throws {
        let head = "Name: S\nType: hash:ip\nRevision: 6\nHeader: family inet hashsize 1024 maxelem 65536\nSize in memory: 296\nReferences: 0\nNumber of entries: 1\nMembers:\n"
        try files.withFiles([
            "rules": TraceRulesCommandTests.rules,
            "S": "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n-A INPUT -p tcp --dport 99999 -j ACCEPT\n",
            "list": head + "10.0.0.300\n",
            "ipvs": "IP Virtual Server version 1.2.1 (size=4096)\nTCP  10.96.0.1:443 rr\n  -> 10.0.0.1:80 Masq x 0 0\n",
        ]) { dir in
            let common = ["--local-ip", "172.18.0.3", "--src", "10.244.0.9", "--dst", "10.96.0.20", "--dport", "80"]
            for (args, file, line) in [(["--rules", "@S"], "S", 4), (["--rules", "@rules", "--ipsets", "@list"], "list", 9),
                                       (["--rules", "@rules", "--ipvs", "@ipvs"], "ipvs", 3)] {
                let r = try run(dir, args + common)
                #expect(r.status == 2, "\(file)")
                #expect(r.stderr.hasPrefix("kdp: \(dir.appendingPathComponent(file).path):\(line):"), "\(r.stderr)")
                #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            }
        }
    }
}
