import Testing
@testable import Cluster
import Wire

@Suite struct ServiceAllocationTests {
    static let base = "nodes: [{name: n1}]\n"

    @Test func defaultKubernetesIsAddedOnTheFirstServiceAddress() throws {
        let c = try cluster(topology("", Self.base))
        let k = try #require(c.service(namespace: "default", name: "kubernetes"))
        #expect(k.clusterIPs == [ip("10.96.0.1")])
        #expect(k.ports.map { "\($0.name) \($0.port)->\($0.targetPort)" } == ["https 443->6443"])
        #expect(c.services.first?.key == "default/kubernetes")
    }

    @Test func kubernetesEndpointsAreEveryControlPlaneNodeOn6443() throws {
        let c = try cluster(topology("", "nodes: [{name: cp1, role: control-plane, ip: 172.18.0.2}, {name: w}, {name: cp2, role: control-plane, ip: 172.18.0.5}]"))
        let slice = try #require(c.endpointSlices(for: c.service(namespace: "default", name: "kubernetes")!).first)
        #expect(slice.endpoints.map(\.addresses[0].description) == ["172.18.0.2", "172.18.0.5"])
        #expect(slice.ports.map(\.port) == [6443])
    }

    @Test func explicitClusterIPsAreHonoured() throws {
        let c = try cluster(topology("", Self.base + "services: [{name: dns, clusterIP: 10.96.0.10, ports: [{port: 53, protocol: UDP}]}]"))
        #expect(c.service(namespace: "default", name: "dns")?.clusterIPs == [ip("10.96.0.10")])
    }

    @Test func dynamicClusterIPsComeFromTheUpperBandAndRepeatForASeed() throws {
        let yaml = topology("  seed: 7", Self.base + "services: [{name: a, ports: [{port: 80}]}, {name: b, ports: [{port: 80}]}]")
        let one = try cluster(yaml), two = try cluster(yaml)
        let ips = one.services.dropFirst().map(\.clusterIPs[0])
        #expect(ips == two.services.dropFirst().map(\.clusterIPs[0]))
        // /12 has 2^20 addresses: the offset is min(max(16, 2^20/16), 256) = 256.
        let base = try Prefix(parsing: "10.96.0.0/12").network.bits
        for a in ips { #expect(a.bits - base > 256) }
        let other = try cluster(topology("  seed: 8", Self.base + "services: [{name: a, ports: [{port: 80}]}, {name: b, ports: [{port: 80}]}]"))
        #expect(other.services.dropFirst().map(\.clusterIPs[0]) != ips)
    }

    @Test func clusterIPOutsideTheRangeOrTakenIsAnError() {
        #expect(buildError(topology("", Self.base + "services: [{name: a, clusterIP: 10.0.0.1, ports: [{port: 80}]}]"))?.message
            == "service default/a clusterIP 10.0.0.1 is outside the service CIDR 10.96.0.0/12")
        #expect(buildError(topology("", Self.base + "services: [{name: a, clusterIP: 10.96.0.1, ports: [{port: 80}]}]"))?.message
            == "service default/a clusterIP 10.96.0.1 is already allocated to default/kubernetes")
    }

    @Test func headlessAndExternalNameServicesGetNoClusterIP() throws {
        let c = try cluster(topology("", Self.base + "services: [{name: h, clusterIP: None, ports: [{port: 80}]}, {name: x, type: ExternalName, externalName: example.com}]"))
        #expect(c.service(namespace: "default", name: "h")?.clusterIPs == [])
        #expect(c.service(namespace: "default", name: "h")?.headless == true)
        #expect(c.service(namespace: "default", name: "x")?.clusterIPs == [])
    }

    @Test func nodePortsAreHonouredOrAllocatedInRange() throws {
        let c = try cluster(topology("", Self.base + """
        services:
          - {name: a, type: NodePort, ports: [{port: 80, nodePort: 30080}]}
          - {name: b, type: NodePort, ports: [{name: http, port: 80}, {name: https, port: 443}]}
        """))
        #expect(c.service(namespace: "default", name: "a")?.ports[0].nodePort == 30080)
        let b = try #require(c.service(namespace: "default", name: "b"))
        let ports = b.ports.compactMap(\.nodePort)
        #expect(ports.count == 2 && Set(ports).count == 2)
        for p in ports { #expect((30000...32767).contains(p) && p != 30080) }
    }

    @Test func portsSharingANumberShareTheirNodePort() throws {
        let c = try cluster(topology("", Self.base + "services: [{name: d, type: NodePort, ports: [{name: u, port: 53, protocol: UDP}, {name: t, port: 53, protocol: TCP}]}]"))
        let ports = c.service(namespace: "default", name: "d")!.ports
        #expect(ports[0].nodePort != nil && ports[0].nodePort == ports[1].nodePort)
    }

    @Test func nodePortErrors() {
        #expect(buildError(topology("", Self.base + "services: [{name: a, type: NodePort, ports: [{port: 80, nodePort: 3001}]}]"))?.message
            == "service default/a nodePort 3001 is outside the node port range 30000-32767")
        #expect(buildError(topology("", Self.base + "services: [{name: a, type: NodePort, ports: [{port: 80, nodePort: 30001}]}, {name: b, type: NodePort, ports: [{port: 80, nodePort: 30001}]}]"))?.message
            == "service default/b nodePort 30001 is already allocated to default/a")
        #expect(buildError(topology("", Self.base + "services: [{name: a, ports: [{port: 80, nodePort: 30001}]}]"))?.message
            == "service default/a port 80 sets nodePort but type ClusterIP has no node ports")
    }

    @Test func onlyLoadBalancersWithLocalPolicyGetAHealthCheckNodePort() throws {
        let c = try cluster(topology("", Self.base + """
        services:
          - {name: local, type: LoadBalancer, externalTrafficPolicy: Local, ports: [{port: 80}]}
          - {name: cluster, type: LoadBalancer, ports: [{port: 80}]}
          - {name: np, type: NodePort, externalTrafficPolicy: Local, ports: [{port: 80}]}
        """))
        #expect(c.service(namespace: "default", name: "local")?.healthCheckNodePort != nil)
        #expect(c.service(namespace: "default", name: "cluster")?.healthCheckNodePort == nil)
        #expect(c.service(namespace: "default", name: "np")?.healthCheckNodePort == nil)
    }

    @Test func portValidationFollowsTheAPI() {
        #expect(buildError(topology("", Self.base + "services: [{name: a, ports: [{port: 80}, {port: 81}]}]"))?.message
            == "service default/a has 2 ports: each needs a name")
        #expect(buildError(topology("", Self.base + "services: [{name: a, ports: []}]"))?.message == "service default/a has no ports")
        #expect(buildError(topology("", Self.base + "services: [{name: a, ports: [{port: 80}]}, {name: a, ports: [{port: 80}]}]"))?.message.hasPrefix("duplicate service default/a") == true)
    }

    @Test func dualStackServicesFollowTheirFamilyPolicy() throws {
        let c = try cluster(topology("  clusterCIDR: 10.244.0.0/16,fd00:10:244::/56\n  serviceCIDR: 10.96.0.0/12,fd00:10:96::/112\n  nodeNetwork: 172.18.0.0/16,fd00:18::/64",
            Self.base + "services: [{name: single, ports: [{port: 80}]}, {name: dual, ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}, {name: six, ipFamilies: [IPv6], ports: [{port: 80}]}]"))
        #expect(c.service(namespace: "default", name: "single")?.clusterIPs.map(\.family) == [.ipv4])
        #expect(c.service(namespace: "default", name: "dual")?.clusterIPs.map(\.family) == [.ipv4, .ipv6])
        #expect(c.service(namespace: "default", name: "six")?.clusterIPs.first.map { try! Prefix(parsing: "fd00:10:96::/112").contains($0) } == true)
    }

    @Test func anExhaustedServiceRangeNamesTheServiceLeftOut() {
        // A /28 holds 14 usable addresses; default/kubernetes takes the first.
        let services = (0..<14).map { "  - {name: s\($0), ports: [{port: 80}]}" }.joined(separator: "\n")
        let e = buildError(topology("  serviceCIDR: 10.96.0.0/28", Self.base + "services:\n" + services))
        #expect(e?.message == "service CIDR 10.96.0.0/28 is exhausted: no ClusterIP left for default/s13")
    }

    @Test func anExhaustedNodePortRangeNamesTheServiceLeftOut() {
        let e = buildError(topology("  nodePortRange: 30000-30001", Self.base + """
        services:
          - {name: a, type: NodePort, ports: [{port: 80}]}
          - {name: b, type: NodePort, ports: [{port: 80}]}
          - {name: c, type: NodePort, ports: [{port: 80}]}
        """))
        #expect(e?.message == "node port range 30000-30001 is exhausted: no port left for default/c")
    }
}
