import Foundation
import Testing
@testable import Cluster
import Wire

let dumpFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

func dump(_ name: String, flags: (inout TopologyInput) -> Void = { _ in }) throws -> Cluster {
    var input = try TopologyLoader.load(paths: [dumpFixtures.appendingPathComponent(name).path])
    flags(&input)
    return try ClusterBuilder.build(input)
}

func prefixes(_ p: [Prefix]) -> [String] { p.map(\.description) }

/// A `kubectl get -A -o yaml|json` dump is a set of facts: its ranges are inferred from its
/// objects, nothing is added to it, and kdp says what it inferred.
@Suite struct RangeInferenceTests {
    @Test func kubeRouterDualStackRangesComeFromPodCIDRsAndClusterIPs() throws {
        let c = try dump("kube-router-dualstack.yaml")
        #expect(prefixes(c.settings.clusterCIDRs) == ["10.242.0.0/16", "2001:db8:42::/56"])
        #expect(c.settings.families == [.ipv4, .ipv6])
        // 10.96.0.1 is default/kubernetes: kubeadm's default range holds every IPv4 ClusterIP.
        #expect(prefixes(c.settings.serviceCIDRs) == ["10.96.0.0/12", "2001:db8:42:fff0::/118"])
        let cluster = try #require(c.inferred.first { $0.setting == "clusterCIDR" && $0.value == "10.242.0.0/16" })
        #expect(cluster.basis == .inferred && cluster.from.contains("the Nodes' 3 IPv4 podCIDRs"))
        #expect(c.notes.contains("clusterCIDR 2001:db8:42::/56 inferred from the Nodes' 3 IPv6 podCIDRs: the /56 (256 node subnets) holding them, as kube-controller-manager ranges are cut"))
    }

    @Test func ipv6OnlyServicesOfADualStackDumpLoad() throws {
        let c = try dump("kube-router-dualstack.yaml")
        let v6 = try #require(c.service(namespace: "default", name: "whoami-v6"))
        #expect(v6.ipFamilies == [.ipv6] && v6.clusterIPs == [ip("2001:db8:42:fff0::8a")])
        #expect(v6.ports[0].nodePort == 31080)
        #expect(c.endpointSlices(for: v6).flatMap { $0.endpoints.flatMap(\.addresses) } == [ip("2001:db8:42:1::7"), ip("2001:db8:42:2::4")])
        let pod = try #require(c.pod(namespace: "default", name: "whoami-7d9c6b8f5-k2x8p"))
        #expect(pod.ips == [ip("10.242.1.7"), ip("2001:db8:42:1::7")])
    }

    @Test func anIPv6OnlyDumpIsIPv6Only() throws {
        let c = try dump("kind-ipv6.yaml")
        #expect(c.settings.families == [.ipv6])
        #expect(prefixes(c.settings.clusterCIDRs) == ["fd00:10:244::/56"] && prefixes(c.settings.serviceCIDRs) == ["fd00:10:96::/112"])
        #expect(c.notes.contains("clusterCIDR fd00:10:244::/56 assumed: kind's IPv6 default, which holds the Nodes' 2 IPv6 podCIDRs"))
    }

    @Test func theHardWayServicesOn10_32_0_0_24AreAnchoredByDefaultKubernetes() throws {
        let c = try dump("the-hard-way.json")
        #expect(prefixes(c.settings.serviceCIDRs) == ["10.32.0.0/24"])
        #expect(prefixes(c.settings.clusterCIDRs) == ["10.200.0.0/16"])
        #expect(c.notes.contains("serviceCIDR 10.32.0.0/24 inferred from the dump's 3 IPv4 ClusterIPs: the smallest prefix holding them whose first address, 10.32.0.1, is default/kubernetes's"))
        #expect(c.service(namespace: "default", name: "nginx")?.ports[0].nodePort == 31342)
        // The node network is the Nodes' own, not kind's 172.18.0.0/16.
        #expect(prefixes(c.settings.nodeNetworks) == ["10.240.0.0/24"])
    }

    @Test func openShiftServicesOn172_30_0_0_16AndPodsWithoutPodCIDRs() throws {
        let c = try dump("openshift-ovn.yaml")
        #expect(prefixes(c.settings.serviceCIDRs) == ["172.30.0.0/16"])
        // OVN-Kubernetes leaves spec.podCIDR unset: the pods' own addresses give the range.
        #expect(prefixes(c.settings.clusterCIDRs) == ["10.128.0.0/14"])
        #expect(c.nodes.allSatisfy { $0.podCIDRs.isEmpty })  // none invented
        #expect(c.inferred.contains { $0.setting == "clusterCIDR" && $0.from.hasPrefix("the pods' IPv4 IPs (no Node has an IPv4 podCIDR)") })
    }

    @Test func explicitDefaultsStayWhenTheDumpAgreesWithThem() throws {
        let text = """
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: Node, metadata: {name: n1}, spec: {podCIDR: 10.244.3.0/24, podCIDRs: [10.244.3.0/24]}, status: {addresses: [{type: InternalIP, address: 172.18.0.4}]}}
        - {apiVersion: v1, kind: Service, metadata: {name: kubernetes, namespace: default}, spec: {clusterIP: 10.96.0.1, ports: [{name: https, port: 443, targetPort: 6443}]}}
        """
        let c = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "kind.yaml"))
        #expect(c.settings.clusterCIDRs == ClusterSettings().clusterCIDRs)
        #expect(c.settings.serviceCIDRs == ClusterSettings().serviceCIDRs)
        // The two ranges, and flannel's --ip-masq (a dump never shows flanneld's flags).
        #expect(c.inferred.map(\.basis) == [.assumed, .assumed, .assumed])
        #expect(c.inferred.last?.setting == "flannel.ipMasq")
        #expect(c.notes.contains("clusterCIDR 10.244.0.0/16 assumed: kubeadm's default, which holds the Nodes' 1 IPv4 podCIDR"))
    }

    @Test func flagsOverrideTheInference() throws {
        let c = try dump("the-hard-way.json") { input in
            input.flagServiceCIDRs = [try! Prefix(parsing: "10.32.0.0/16")]
            input.flagClusterCIDRs = [try! Prefix(parsing: "10.200.0.0/13")]
        }
        #expect(prefixes(c.settings.serviceCIDRs) == ["10.32.0.0/16"])
        #expect(prefixes(c.settings.clusterCIDRs) == ["10.200.0.0/13"])
        #expect(c.settings.kubeProxy.clusterCIDRs == c.settings.clusterCIDRs)  // kube-proxy's follows
        #expect(!c.inferred.contains { $0.basis == .inferred && ($0.setting == "serviceCIDR" || $0.setting == "clusterCIDR") })
    }

    @Test func aTopologyFilesClusterSettingsOverrideTheDump() throws {
        var input = try TopologyLoader.load(paths: [dumpFixtures.appendingPathComponent("the-hard-way.json").path])
        try input.merge(TopologyLoader.parse(text: "kind: Topology\ncluster:\n  clusterCIDR: 10.200.0.0/16\n  serviceCIDR: 10.32.0.0/20\n", file: "t.yaml"))
        let c = try ClusterBuilder.build(input)
        #expect(prefixes(c.settings.serviceCIDRs) == ["10.32.0.0/20"])
        #expect(!c.inferred.contains { $0.setting == "serviceCIDR" || $0.setting == "clusterCIDR" })
        #expect(c.inferred.map(\.setting) == ["nodeNetwork"])  // the key the topology left unset
    }

    @Test func rangesATopologyFileLeavesUnsetAreInferredFromTheDumpBesideIt() throws {
        var input = try TopologyLoader.load(paths: [dumpFixtures.appendingPathComponent("kube-router-dualstack.yaml").path])
        try input.merge(TopologyLoader.parse(text: "kind: Topology\ncluster:\n  cni: vxlan\n", file: "t.yaml"))
        let c = try ClusterBuilder.build(input)
        #expect(c.settings.cni == .vxlan)
        #expect(prefixes(c.settings.clusterCIDRs) == ["10.242.0.0/16", "2001:db8:42::/56"])
        // The dump's Pending pod stays Pending beside a topology file.
        #expect(c.pod(namespace: "default", name: "whoami-7d9c6b8f5-zr5mc")?.nodeName == nil)
    }

    @Test func aTopologysOwnPodsAreScheduledAroundADumpsPods() throws {
        var input = try TopologyLoader.load(paths: [dumpFixtures.appendingPathComponent("kube-router-dualstack.yaml").path])
        try input.merge(TopologyLoader.parse(text: "kind: Topology\npods: [{name: extra, node: kr-worker-1}]\n", file: "t.yaml"))
        let c = try ClusterBuilder.build(input)
        let extra = try #require(c.pod(namespace: "default", name: "extra"))
        #expect(extra.ips.count == 2 && !extra.ips.contains(ip("10.242.1.7")))
        #expect(c.pod(namespace: "default", name: "whoami-7d9c6b8f5-zr5mc")?.ips.isEmpty == true)
    }

    @Test func aTopologyFileAloneInfersNothing() throws {
        let c = try ClusterBuilder.load(paths: [])
        #expect(c.inferred.isEmpty)
        #expect(c.settings.clusterCIDRs == ClusterSettings().clusterCIDRs)
    }
}

@Suite struct DumpAsGivenTests {
    @Test func noKubernetesServiceIsAddedToPlainManifests() throws {
        let c = try dump("calico-ipam.yaml")
        #expect(c.services.isEmpty)
        let t = try cluster(topology("", "nodes: [{name: a}]"))
        #expect(t.services.map(\.key) == ["default/kubernetes"])  // a topology file keeps the API server's
    }

    @Test func pendingPodsGetNoNodeNoAddressNoEndpoint() throws {
        let c = try dump("kube-router-dualstack.yaml")
        let pending = try #require(c.pod(namespace: "default", name: "whoami-7d9c6b8f5-zr5mc"))
        #expect(pending.nodeName == nil && pending.ips.isEmpty)
        #expect(pending.pendingReason?.contains("is Pending") == true)
        #expect(c.notes.contains("1 pod is Pending (no nodeName): no node, no address, no endpoint: default/whoami-7d9c6b8f5-zr5mc"))
        #expect(!c.endpointSlices.contains { $0.endpoints.contains { $0.targetRef?.name == pending.name } })
    }

    @Test func aDumpsPodWithoutAnIPGetsNone() throws {
        let text = """
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: Node, metadata: {name: n1}, spec: {podCIDRs: [10.244.0.0/24]}, status: {addresses: [{type: InternalIP, address: 172.18.0.2}]}}
        - {apiVersion: v1, kind: Pod, metadata: {name: starting, labels: {app: a}}, spec: {nodeName: n1}, status: {phase: Pending}}
        - {apiVersion: v1, kind: Service, metadata: {name: a}, spec: {clusterIP: 10.96.5.5, selector: {app: a}, ports: [{port: 80}]}}
        """
        let c = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "d.yaml"))
        #expect(c.pods[0].ips.isEmpty && c.pods[0].nodeName == "n1")
        #expect(c.endpointSlices.flatMap(\.endpoints).isEmpty)
    }

    @Test func topologyFilesStillSchedulePods() throws {
        let c = try cluster(topology("", "nodes: [{name: a}]\npods: [{name: p}]"))
        #expect(c.pods[0].nodeName == "a" && !c.pods[0].ips.isEmpty)
    }

    @Test func aServiceThatCarriesAClusterIPIsNotAllocatedMore() throws {
        let text = """
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: Service, metadata: {name: np}, spec: {type: NodePort, clusterIP: 172.30.9.9, ports: [{port: 80, nodePort: 3001}, {name: b, port: 81}]}}
        - {apiVersion: v1, kind: Service, metadata: {name: fresh}, spec: {type: NodePort, ports: [{port: 80}]}}
        """
        // Two ports need names in the API; the first is unnamed here, as upstream's fixtures write them.
        let fixed = text.replacingOccurrences(of: "[{port: 80, nodePort: 3001}", with: "[{name: a, port: 80, nodePort: 3001}")
        let c = try ClusterBuilder.build(TopologyLoader.parse(text: fixed, file: "d.yaml"))
        let np = try #require(c.service(namespace: "default", name: "np"))
        #expect(np.clusterIPs == [ip("172.30.9.9")])
        #expect(np.ports.map(\.nodePort) == [3001, nil])  // 3001 is outside 30000-32767: kept
        let fresh = try #require(c.service(namespace: "default", name: "fresh"))
        #expect(fresh.clusterIPs.count == 1 && fresh.ports[0].nodePort != nil)  // lacked both: allocated
        #expect(c.notes.contains { $0.hasPrefix("1 ClusterIP missing from the dump's Services, allocated") })
        #expect(c.notes.contains { $0.contains("no NodePort rules for default/np:b") })
    }

    @Test func podAddressesOutsideTheNodesPodCIDRAreRoutedToTheirNode() throws {
        let c = try dump("calico-ipam.yaml")
        #expect(c.podAddressRoutes.map { "\($0.address) \($0.node)" } == ["192.168.43.70 ip-172-31-5-10", "192.168.201.3 ip-172-31-9-77"])
        #expect(c.notes.contains { $0.hasPrefix("2 pod addresses lie outside their node's podCIDR") })
        #expect(c.nodeOwningPodIP(ip("192.168.43.70"))?.name == "ip-172-31-5-10")
        let own = NodeNetwork(node: c.node(named: "ip-172-31-5-10")!, in: c).routes.map(\.description)
        #expect(own.contains("192.168.43.70 dev cni0 scope link"))
        #expect(own.contains("192.168.201.3 via 172.31.9.77 dev eth0"))
        let other = NodeNetwork(node: c.node(named: "ip-172-31-9-77")!, in: c).routes.map(\.description)
        #expect(other.contains("192.168.43.70 via 172.31.5.10 dev eth0"))
        let pod = PodNetwork(pod: c.pod(namespace: "default", name: "client")!, in: c)!
        #expect(pod.interfaces[1].addresses.map { "\($0.0)/\($0.1)" } == ["192.168.201.3/32"])
    }

    @Test func awsVPCCNIPodsShareTheNodesSubnetAndLoad() throws {
        let text = """
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: Node, metadata: {name: ip-192-168-12-34}, status: {addresses: [{type: InternalIP, address: 192.168.12.34}]}}
        - {apiVersion: v1, kind: Node, metadata: {name: ip-192-168-77-5}, status: {addresses: [{type: InternalIP, address: 192.168.77.5}]}}
        - {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {nodeName: ip-192-168-12-34}, status: {phase: Running, podIP: 192.168.20.1}}
        - {apiVersion: v1, kind: Pod, metadata: {name: b}, spec: {nodeName: ip-192-168-77-5}, status: {phase: Running, podIP: 192.168.70.2, podIPs: [{ip: 192.168.70.2}, {ip: "2600:1f14::2"}]}}
        - {apiVersion: v1, kind: Pod, metadata: {name: c}, spec: {nodeName: ip-192-168-77-5}, status: {phase: Running, podIP: 192.168.70.3, podIPs: [{ip: 192.168.70.3}, {ip: "2a05:d018::3"}]}}
        """
        let c = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "eks.yaml"))
        #expect(prefixes(c.settings.clusterCIDRs).first == "192.168.0.0/17")  // holds the node IPs too: fine for a dump
        #expect(c.podAddressRoutes.count == 5)
    }

    @Test func aFinishedPodsAddressMayBeReused() throws {
        let text = """
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: Node, metadata: {name: n1}, spec: {podCIDRs: [10.244.0.0/24]}, status: {addresses: [{type: InternalIP, address: 172.18.0.2}]}}
        - {apiVersion: v1, kind: Pod, metadata: {name: done}, spec: {nodeName: n1}, status: {phase: Succeeded, podIP: 10.244.0.5}}
        - {apiVersion: v1, kind: Pod, metadata: {name: now}, spec: {nodeName: n1}, status: {phase: Running, podIP: 10.244.0.5}}
        """
        let c = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "d.yaml"))
        #expect(c.pods.map(\.ips) == [[ip("10.244.0.5")], [ip("10.244.0.5")]])
    }
}

@Suite struct MultipleInternalIPTests {
    @Test func theFirstInternalIPOfEachFamilyIsTheNodeIPAndTheOthersAreLocal() throws {
        let c = try dump("openshift-ovn.yaml")
        let node = try #require(c.node(named: "ocp-m5kx2-worker-0-qx7bp"))
        #expect(node.internalIPs == [ip("10.0.2.117"), ip("192.168.200.117")])
        #expect(node.internalIP(.ipv4) == ip("10.0.2.117"))
        let net = NodeNetwork(node: node, in: c)
        let eth0 = try #require(net.interfaces.first { $0.name == "eth0" })
        #expect(eth0.addresses.map(\.0) == [ip("10.0.2.117"), ip("192.168.200.117")])
        #expect(net.routes.filter { $0.destination == nil }.count == 1)  // one default route
        // The host-network router pod runs with the node's IP.
        #expect(c.pod(namespace: "openshift-ingress", name: "router-default-6c9f7d8b5-wp2rs")?.ips == [ip("10.0.2.117")])
    }

    @Test func topologyNodesMayListSeveralAddressesOfAFamily() throws {
        let c = try cluster(topology("", "nodes: [{name: a, ips: [172.18.0.2, 172.18.0.9]}]"))
        #expect(c.node(named: "a")?.internalIPs == [ip("172.18.0.2"), ip("172.18.0.9")])
    }
}

@Suite struct ConfigMapTests {
    @Test func kubeProxyAndFlannelConfigMapsSetTheirFields() throws {
        let c = try dump("kubeadm-flannel-configmaps.yaml")
        let k = c.settings.kubeProxy
        #expect(k.mode == .ipvs)
        #expect(k.clusterCIDRs.map(prefixes) == ["10.85.0.0/16"])
        #expect(k.detectLocalMode == .clusterCIDR)  // "" is kube-proxy's default
        #expect(k.ipvsScheduler == "wrr")
        #expect(prefixes(k.nodePortAddresses) == ["192.168.56.0/24"])
        #expect(k.masqueradeAll && k.masqueradeBit == 13 && !k.localhostNodePorts)
        #expect(c.settings.cni == .hostGW)
        #expect(prefixes(c.settings.clusterCIDRs) == ["10.85.0.0/16"])
        #expect(c.notes.contains("cni host-gw read from flannel's ConfigMap kube-flannel-cfg (net-conf.json) Backend.Type"))
        #expect(c.notes.contains("kubeProxy mode ipvs, clusterCIDR 10.85.0.0/16, ipvs.scheduler wrr, nodePortAddresses 192.168.56.0/24, iptables.masqueradeAll true, iptables.masqueradeBit 13, iptables.localhostNodePorts false read from ConfigMap kube-system/kube-proxy (config.conf)"))
        // Other ConfigMaps (coredns) are ignored without a note.
        #expect(!c.notes.contains { $0.contains("coredns") || $0.contains("ignoring kind ConfigMap") })
    }

    @Test func flannelVXLANAndIPv6Network() throws {
        let text = """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: kube-flannel-cfg, namespace: kube-system}
        data:
          net-conf.json: '{"Network": "10.50.0.0/16", "EnableIPv6": true, "IPv6Network": "fd50::/56", "Backend": {"Type": "vxlan", "VNI": 1}}'
        """
        let c = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "f.yaml"))
        #expect(c.settings.cni == .vxlan)
        #expect(prefixes(c.settings.clusterCIDRs) == ["10.50.0.0/16", "fd50::/56"])
    }

    /// A dump holding only kube-proxy's ConfigMap with `conf` as its config.conf.
    func kubeProxyConfigMap(_ conf: String) throws -> Cluster {
        let text = """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: kube-proxy, namespace: kube-system}
        data:
          config.conf: "\(conf)"
        """
        return try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "f.yaml"))
    }

    @Test func primaryNodePortAddresses() throws {
        let c = try kubeProxyConfigMap("nodePortAddresses: [primary]\\nmode: nftables\\n")
        #expect(c.settings.kubeProxy.nodePortAddressesPrimary)
        // nftables mode is followed (`nftablesModeSource`, at the ConfigMap), not assumed away.
        #expect(c.settings.kubeProxy.nftablesModeSource?.file == "f.yaml")
        #expect(!c.notes.contains { $0.contains("kubeProxy.mode iptables assumed") })
    }

    /// A mode kdp does not emulate (Windows' kernelspace) is still noted, with what is assumed.
    @Test func aModeKdpDoesNotEmulateIsAssumedAwayWithANote() throws {
        let c = try kubeProxyConfigMap("mode: kernelspace\\n")
        #expect(c.settings.kubeProxy.mode == .iptables && c.settings.kubeProxy.nftablesModeSource == nil)
        #expect(c.notes.contains { $0.hasPrefix("kubeProxy.mode iptables assumed: ConfigMap kube-system/kube-proxy (config.conf) says mode kernelspace") })
    }

    @Test func aTopologyMaySayPrimaryToo() throws {
        let c = try cluster(topology("  kubeProxy: {nodePortAddresses: [primary]}", "nodes: [{name: a}]"))
        #expect(c.settings.kubeProxy.nodePortAddressesPrimary && c.settings.kubeProxy.nodePortAddresses.isEmpty)
    }

    @Test func badValuesInsideAConfigMapNameTheKeyAndTheLine() {
        let text = """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: kube-proxy, namespace: kube-system}
        data:
          config.conf: |
            mode: ipvs
            iptables:
              masqueradeBit: 40
        """
        #expect(throws: InputError.self) { try TopologyLoader.parse(text: text, file: "f.yaml") }
        do { _ = try TopologyLoader.parse(text: text, file: "f.yaml") } catch {
            #expect(error.location?.line == 5)
            #expect(error.message == "ConfigMap kube-system/kube-proxy config.conf line 3: iptables.masqueradeBit must be 0-31, found 40")
        }
    }

    @Test func theLocalDetectorComesFromTheConfigMapInAJSONDump() throws {
        let text = #"""
        {"apiVersion": "v1", "kind": "List", "items": [
          {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
           "data": {"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\ndetectLocalMode: BridgeInterface\ndetectLocal:\n  bridgeInterface: cbr0\n  interfaceNamePrefix: \"\"\n"}}
        ]}
        """#
        let c = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "d.json"))
        #expect(c.settings.kubeProxy.detectLocalMode == .bridgeInterface)
        #expect(c.settings.kubeProxy.bridgeInterface == "cbr0")
        #expect(c.settings.kubeProxy.interfaceNamePrefix == KubeProxySettings().interfaceNamePrefix)
    }

    @Test func emptyOrForeignConfigMapDataChangesNothing() throws {
        let text = """
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: kube-proxy, namespace: kube-system}, data: {config.conf: ""}}
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: kube-proxy, namespace: default}, data: {config.conf: "mode: ipvs"}}
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: kube-root-ca.crt, namespace: kube-system}, data: {ca.crt: "x"}}
        """
        let c = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "f.yaml"))
        #expect(c.settings.kubeProxy == KubeProxySettings())  // only kube-system/kube-proxy counts
        #expect(!c.notes.contains { $0.contains("ConfigMap") })
    }

    @Test func aNodeListingOneAddressTwiceIsFine() throws {
        let text = "apiVersion: v1\nkind: Node\nmetadata: {name: n}\nstatus: {addresses: [{type: InternalIP, address: 10.1.1.1}, {type: InternalIP, address: 10.1.1.1}]}\n"
        #expect(try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "f.yaml")).nodes.map(\.internalIPs) == [[ip("10.1.1.1")]])
    }

    @Test func aTopologysKubeProxyKeysWinOverTheConfigMap() throws {
        let text = """
        kind: Topology
        cluster:
          kubeProxy: {mode: iptables}
        objects:
        - apiVersion: v1
          kind: ConfigMap
          metadata: {name: kube-proxy, namespace: kube-system}
          data: {config.conf: "mode: ipvs\\nipvs: {scheduler: sh}\\n"}
        """
        let c = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "t.yaml"))
        #expect(c.settings.kubeProxy.mode == .iptables)
        #expect(c.settings.kubeProxy.ipvsScheduler == "sh")
    }
}
