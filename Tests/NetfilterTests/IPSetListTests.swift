import Foundation
import Testing
@testable import Netfilter
import Wire

/// `ipset list` beside `ipset save` (issue 12 §2). The fixtures were recorded from ipset 7.17
/// in a test namespace, with the sets kube-proxy's IPVS mode creates (hash:ip, hash:ip,port,
/// hash:ip,port,ip, hash:ip,port,net, hash:net with nomatch, bitmap:port; IPv4 and IPv6) and a
/// set with timeout, counters and comments.
@Suite struct IPSetListTests {
    @Test func ipsetListGivesTheSetsOfIPSetSave() throws {
        let list = try IPSetStore.parse(ipsetText: Fixtures.text("kube-proxy-ipvs.ipset-list"))
        let save = try IPSetStore.parse(ipsetText: Fixtures.text("kube-proxy-ipvs.ipset-save"))
        #expect(list.sets.count == 16)
        #expect(list == save)
        #expect(list.sets["KUBE-6-CLUSTER-IP"]?.family == .ipv6)
        #expect(list.sets["KUBE-NODE-PORT-TCP"]?.members.count == 2)
        #expect(list.sets["KUBE-NET-TEST"]?.members.contains { $0.nomatch } == true)
        #expect(list.sets["KUBE-COMMENTED"]?.members.count == 1)
    }

    @Test func theFormatIsDetected() {
        #expect(IPSetTextFormat.detect("Name: X\nType: hash:ip\n") == .list)
        #expect(IPSetTextFormat.detect("create X hash:ip family inet\n") == .save)
        #expect(IPSetTextFormat.detect("\n\nName: X\n") == .list)
    }

    @Test func aListedSetMatchesAsItsSavedSetDoes() throws {
        let store = try IPSetStore.parse(ipsetText: Fixtures.text("kube-proxy-ipvs.ipset-list"))
        let p = Packet(source: try IPAddress(parsing: "10.1.1.1"), destination: try IPAddress(parsing: "10.96.0.10"), proto: .udp,
                       sourcePort: 40000, destinationPort: 53)
        #expect(store.sets["KUBE-CLUSTER-IP"]!.test(p, directions: [.dst, .dst]) == true)
        let q = Packet(source: try IPAddress(parsing: "10.1.2.3"), destination: try IPAddress(parsing: "10.96.0.10"), proto: .tcp)
        #expect(store.sets["KUBE-NET-TEST"]!.test(q, directions: [.src]) == nil, "10.1.0.0/16 is nomatch")
    }

    @Test func malformedListingsNameTheLine() {
        func error(_ text: String) -> IPSetParseError? {
            do { _ = try IPSetStore.parse(ipsetText: text); return nil } catch { return error }
        }
        let head = "Name: S\nType: hash:ip\nRevision: 6\nHeader: family inet hashsize 1024 maxelem 65536\nSize in memory: 296\nReferences: 0\n"
        #expect(error(head + "Number of entries: 2\nMembers:\n10.0.0.1\n")?.reason.contains("a cut paste") == true)
        #expect(error(head + "Number of entries: 1\nMembers:\n10.0.0.300\n")?.line == 9)
        #expect(error(head + "Number of entries: 1\n")?.line == 1, "ipset list -t has no members")
        #expect(error("Name: S\nType: hash:net,iface\n")?.line == 2)
        #expect(error("Name: S\nType: hash:ip\nBogus: 1\n")?.line == 3)
        #expect(error(head + "Number of entries: 0\nMembers:\n\nName: S\n")?.reason == "set listed twice")
        #expect(error("Type: hash:ip\n")?.line == 1, "not a listing: read as ipset save, which refuses it")
    }

    /// list:set, as Azure NPM uses for NetworkPolicy namespace selectors; the texts are what
    /// ipset 7.17 printed for these sets in a test namespace.
    @Test func aListSetMatchesWhenOneOfItsSetsMatches() throws {
        let save = """
        create a hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x4a0f43bf
        add a 10.0.0.0/8
        create b hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xf1e71839
        add b 10.96.0.1,tcp:80
        create L list:set size 8
        add L a
        add L b

        """
        let list = """
        Name: a
        Type: hash:net
        Revision: 7
        Header: family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x4a0f43bf
        Size in memory: 504
        References: 1
        Number of entries: 1
        Members:
        10.0.0.0/8

        Name: b
        Type: hash:ip,port
        Revision: 7
        Header: family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xf1e71839
        Size in memory: 248
        References: 1
        Number of entries: 1
        Members:
        10.96.0.1,tcp:80

        Name: L
        Type: list:set
        Revision: 3
        Header: size 8
        Size in memory: 176
        References: 0
        Number of entries: 2
        Members:
        a
        b

        """
        let store = try IPSetStore.parse(ipsetText: save)
        #expect(try IPSetStore.parse(ipsetText: list) == store)
        #expect(store.sets["L"]?.memberSets == ["a", "b"])
        let ip = { (s: String) in try! IPAddress(parsing: s) }
        let l = store.sets["L"]!
        #expect(store.test(l, Packet(source: ip("10.1.1.1"), destination: ip("192.0.2.1"), proto: .udp), directions: [.src]) == true, "a holds the source")
        #expect(store.test(l, Packet(source: ip("192.0.2.9"), destination: ip("10.96.0.1"), proto: .tcp, sourcePort: 1, destinationPort: 80),
                           directions: [.dst, .dst]) == true, "b holds the destination and port")
        #expect(store.test(l, Packet(source: ip("192.0.2.9"), destination: ip("192.0.2.1"), proto: .tcp), directions: [.src, .dst]) == false)
        #expect(throws: IPSetParseError.self) { try IPSetStore.parse(ipsetText: "create L list:set size 8\nadd L nosuch\n") }
        #expect(throws: IPSetParseError.self) { try IPSetStore.parse(ipsetText: "create L list:set size 8\ncreate M list:set size 8\nadd M L\n") }
    }
}
