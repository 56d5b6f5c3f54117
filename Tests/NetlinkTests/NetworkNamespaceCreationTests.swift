import Foundation
import Netlink
import TestSupport
import Testing

/// Named namespaces made and removed through Netlink (as `ip netns add/del`), dummy links and
/// bridge port hairpin mode; unique names, removed however the test ends.
@Suite(.serialized) struct NetworkNamespaceCreationTests {
    @Test func aNamespaceMadeByKdpIsListedByIPAndGoneAfterDelete() throws {
        guard !KernelCheck.unavailable() else { return }
        let name = "kdp-nlc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? NetworkNamespaceFile.delete(named: name) }
        do {
            let file = try NetworkNamespaceFile.create(named: name)
            #expect(throws: NetlinkError.self) { try NetworkNamespaceFile.create(named: name) }
            #expect(try Shell.sh("ip netns list").contains(name))
            #expect(NetworkNamespaceFile.names().contains(name))
            let s = try NetlinkSocket(namespace: file)
            #expect(try s.links().map(\.name) == ["lo"])
            do {
                try s.addDummy(name: "kube-ipvs0")
                #expect(try Shell.sh("ip -n \(name) -d link show kube-ipvs0").contains("dummy"))
            } catch let e as NetlinkError where e.message.contains("not supported") {
                print("skipping the dummy link check: this kernel has no dummy driver (\(e))")
            }
            try s.addBridge(name: "cni0")
            try s.addVeth(name: "veth0", peer: "veth1")
            try s.setLink(name: "veth0", masterIndex: try #require(try s.linkIndex(name: "cni0")))
            try s.setBridgePort(name: "veth0", hairpin: true)
            #expect(try Shell.sh("ip -n \(name) -d link show veth0").contains("hairpin on"))
            try s.setBridgePort(name: "veth0", hairpin: false)
            #expect(try Shell.sh("ip -n \(name) -d link show veth0").contains("hairpin off"))
        }
        try NetworkNamespaceFile.delete(named: name)
        #expect(!(try Shell.sh("ip netns list").contains(name)))
        #expect(!FileManager.default.fileExists(atPath: "/run/netns/\(name)"))
    }
}
