import Foundation
import Testing

let clusterFixtures = "Tests/ClusterTests/Fixtures/"
let kubeProxyFixtures = "Tests/KubeProxyTests/Fixtures/"

/// Plain manifests (`kubectl get -A -o yaml|json`) through the commands: ranges inferred and
/// said, flags over inference, Pending pods refused by name, upstream's fixture compiled.
@Suite struct DumpCommandTests {
    @Test func clusterShowsWhatWasInferredAndNotesSayIt() throws {
        let r = try kdp("cluster", "--topology", clusterFixtures + "kube-router-dualstack.yaml")
        #expect(r.status == 0)
        #expect(r.stdout.contains("pods 10.242.0.0/16,2001:db8:42::/56"))
        #expect(r.stdout.contains("INFERRED\n  serviceCIDR 10.96.0.0/12 assumed: kubeadm's default"))
        #expect(r.stdout.contains("\n  clusterCIDR 10.242.0.0/16 inferred from the Nodes' 3 IPv4 podCIDRs"))
        #expect(r.stdout.contains("default    whoami-7d9c6b8f5-zr5mc  <none>       <none>                       pending"))
        #expect(r.stderr.contains("kdp: note: clusterCIDR 10.242.0.0/16 inferred from the Nodes' 3 IPv4 podCIDRs"))
    }

    @Test func clusterJSONListsInferredSettingsOnlyForDumps() throws {
        let r = try kdp("cluster", "--topology", clusterFixtures + "the-hard-way.json", "-o", "json")
        #expect(r.status == 0)
        let inferred = try #require(r.json["inferred"] as? [[String: Any]])
        let service = try #require(inferred.first { $0["setting"] as? String == "serviceCIDR" })
        #expect(service["value"] as? String == "10.32.0.0/24" && service["basis"] as? String == "inferred")
        #expect(try kdp("cluster", "-o", "json").json["inferred"] == nil)  // the demo topology says everything
    }

    @Test func serviceCIDRFlagOverridesTheInference() throws {
        let r = try kdp("cluster", "--topology", clusterFixtures + "the-hard-way.json", "--service-cidr", "10.32.0.0/16", "-o", "json")
        #expect(r.status == 0)
        #expect((r.json["cluster"] as? [String: Any])?["serviceCIDRs"] as? [String] == ["10.32.0.0/16"])
        #expect(r.stderr.contains("kdp: note: serviceCIDR 10.32.0.0/16 from --service-cidr"))
    }

    @Test func clusterCIDRFlagIsTheClusterRangeAndKubeProxys() throws {
        let r = try kdp("compile", "--node", "worker-1", "--cluster-cidr", "10.0.0.0/8")
        #expect(r.status == 0)
        #expect(r.stdout.contains("! -s 10.0.0.0/8 -j KUBE-MARK-MASQ"))
        let bad = try kdp("cluster", "--cluster-cidr", "10.0.0.0/8,10.1.0.0/16")
        #expect(bad.status == 2 && bad.stderr.contains("--cluster-cidr takes at most one IPv4 CIDR"))
        #expect(bad.stdout.isEmpty)  // refused before any work
    }

    @Test func upstreamsOverallRulesCompileFromPlainManifests() throws {
        let r = try kdp("compile", "--topology", kubeProxyFixtures + "upstream-overall-node.yaml",
                        "--topology", kubeProxyFixtures + "upstream-overall-manifests.yaml",
                        "--node", "test-node", "--order", "canonical", "--masquerade-mark", "0x4000", "--nfacct")
        #expect(r.status == 0)
        let expected = try String(contentsOf: repositoryRoot.appendingPathComponent(kubeProxyFixtures + "upstream-overall-expected.iptables-save"), encoding: .utf8)
        #expect(r.stdout == expected)
        #expect(r.stderr.contains("kdp: note: serviceCIDR 172.30.0.40/29 inferred"))
    }

    @Test func tracesToAndFromAPendingPodSaySo() throws {
        let topo = clusterFixtures + "kube-router-dualstack.yaml"
        let to = try kdp("trace", "--topology", topo, "--from", "pod/default/whoami-7d9c6b8f5-k2x8p", "--to", "pod/default/whoami-7d9c6b8f5-zr5mc:80")
        #expect(to.status == 2)
        #expect(to.stderr.split(separator: "\n").last?.contains("pod default/whoami-7d9c6b8f5-zr5mc is Pending: no node runs it") == true)
        let from = try kdp("trace", "--topology", topo, "--from", "pod/default/whoami-7d9c6b8f5-zr5mc", "--to", "service/default/whoami:80")
        #expect(from.status == 2)
        #expect(from.stderr.contains("kdp: --from pod/default/whoami-7d9c6b8f5-zr5mc: pod default/whoami-7d9c6b8f5-zr5mc is Pending"))
    }

    @Test func aDualStackDumpTracesOverIPv6() throws {
        let r = try kdp("trace", "--topology", clusterFixtures + "kube-router-dualstack.yaml", "--from", "pod/default/whoami-7d9c6b8f5-k2x8p",
                        "--to", "service/default/whoami-v6:80", "--all-paths", "-o", "json")
        #expect(r.status == 0)
        let paths = try #require(r.json["paths"] as? [[String: Any]])
        #expect(paths.count == 2 && paths.allSatisfy { $0["verdict"] as? String == "delivered" })
    }

    @Test func podsOffTheirPodCIDRAreReachedOnTheirNode() throws {
        let r = try kdp("trace", "--topology", clusterFixtures + "calico-ipam.yaml", "--from", "pod/default/client",
                        "--to", "pod/default/api-6d4cf56db6-2xq8l:8080", "-o", "json")
        #expect(r.status == 0)
        let path = try #require((r.json["paths"] as? [[String: Any]])?.first)
        #expect(path["delivered_to"] as? String == "pod/default/api-6d4cf56db6-2xq8l")
        #expect(r.stderr.contains("kdp routes each such address to the node that runs the pod"))
    }

    @Test func everyInternalIPOfANodeTakesNodePorts() throws {
        let r = try kdp("compile", "--topology", clusterFixtures + "openshift-ovn.yaml", "--node", "ocp-m5kx2-worker-0-qx7bp",
                        "--nodeport-addresses", "192.168.200.0/24")
        #expect(r.status == 0)
        #expect(r.stdout.contains("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -d 192.168.200.117 -j KUBE-NODEPORTS"))
    }

    @Test func primaryNodePortAddressesAreTheNodesFirstIP() throws {
        let configMap = try temporaryFile("""
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: kube-proxy, namespace: kube-system}
        data: {config.conf: "nodePortAddresses: [primary]"}
        """)
        defer { try? FileManager.default.removeItem(at: configMap.deletingLastPathComponent()) }
        let r = try kdp("compile", "--topology", clusterFixtures + "openshift-ovn.yaml", "--topology", configMap.path, "--node", "ocp-m5kx2-worker-0-qx7bp")
        #expect(r.status == 0)
        #expect(r.stdout.contains("-d 10.0.2.117 -j KUBE-NODEPORTS"))
        #expect(!r.stdout.contains("-d 192.168.200.117 -j KUBE-NODEPORTS"))
    }

    @Test func theKubeProxyConfigMapSetsTheMode() throws {
        let r = try kdp("compile", "--topology", clusterFixtures + "kubeadm-flannel-configmaps.yaml", "--node", "node-1")
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("# ipvsadm -S -n\n"))  // mode: ipvs
        #expect(r.stdout.contains("-A KUBE-MARK-MASQ -j MARK --or-mark 0x00002000"))  // iptables.masqueradeBit: 13
    }
}
