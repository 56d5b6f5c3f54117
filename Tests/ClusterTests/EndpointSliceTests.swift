import Testing
@testable import Cluster
import Wire

@Suite struct EndpointSliceTests {
    static let nodes = "nodes: [{name: n1, zone: z1}, {name: n2, zone: z2}]\n"

    func slices(_ c: Cluster, _ name: String, namespace: String = "default") -> [EndpointSlice] {
        c.endpointSlices(for: c.service(namespace: namespace, name: name)!)
    }

    @Test func oneEndpointPerMatchingPodWithNodeZoneAndResolvedNamedPort() throws {
        let c = try cluster(topology("", Self.nodes + """
        pods:
          - {name: w1, node: n1, labels: {app: web, tier: fe}, ports: [{name: http, containerPort: 8080}]}
          - {name: w2, node: n2, labels: {app: web, tier: fe}, ports: [{name: http, containerPort: 8080}]}
          - {name: other, node: n2, labels: {app: web}}
          - {name: elsewhere, namespace: prod, node: n1, labels: {app: web, tier: fe}}
        services: [{name: web, selector: {app: web, tier: fe}, ports: [{name: http, port: 80, targetPort: http}]}]
        """))
        let s = slices(c, "web")
        #expect(s.count == 1)
        #expect(s[0].addressType == .ipv4)
        #expect(s[0].managedBy == EndpointSlice.controllerName)
        #expect(s[0].name.hasPrefix("web-") && s[0].name.count == 9)
        #expect(s[0].ports == [EndpointPort(name: "http", protocol: .tcp, port: 8080)])
        #expect(s[0].endpoints.map(\.addresses[0].description) == ["10.244.0.2", "10.244.1.2"])
        #expect(s[0].endpoints.map(\.nodeName) == ["n1", "n2"])
        #expect(s[0].endpoints.map(\.zone) == ["z1", "z2"])
        #expect(s[0].endpoints[0].targetRef == ObjectReference(kind: "Pod", namespace: "default", name: "w1"))
    }

    @Test func conditionsFollowReadinessAndTermination() throws {
        let c = try cluster(topology("", Self.nodes + """
        pods:
          - {name: ready, node: n1, labels: {app: a}}
          - {name: notready, node: n1, labels: {app: a}, ready: false}
          - {name: leaving, node: n1, labels: {app: a}, terminating: true}
          - {name: done, node: n1, labels: {app: a}, phase: Succeeded}
        services: [{name: a, selector: {app: a}, ports: [{port: 80}]}]
        """))
        let eps = slices(c, "a")[0].endpoints
        #expect(eps.count == 3)  // a Succeeded pod is not an endpoint
        #expect(eps.map(\.conditions) == [
            EndpointConditions(ready: true, serving: true, terminating: false),
            EndpointConditions(ready: false, serving: false, terminating: false),
            EndpointConditions(ready: false, serving: true, terminating: true),
        ])
    }

    @Test func publishNotReadyAddressesMakesEveryEndpointReady() throws {
        let c = try cluster(topology("", Self.nodes + """
        pods: [{name: p, node: n1, labels: {app: a}, ready: false}]
        services: [{name: a, publishNotReadyAddresses: true, selector: {app: a}, ports: [{port: 80}]}]
        """))
        #expect(slices(c, "a")[0].endpoints[0].conditions == EndpointConditions(ready: true, serving: false, terminating: false))
    }

    @Test func podsThatResolvePortsDifferentlyGoToDifferentSlices() throws {
        let c = try cluster(topology("", Self.nodes + """
        pods:
          - {name: a, node: n1, labels: {app: a}, ports: [{name: http, containerPort: 8080}]}
          - {name: b, node: n1, labels: {app: a}, ports: [{name: http, containerPort: 9090}]}
          - {name: c, node: n1, labels: {app: a}}
        services: [{name: a, selector: {app: a}, ports: [{name: http, port: 80, targetPort: http}]}]
        """))
        let s = slices(c, "a")
        #expect(s.map { $0.ports.map(\.port) } == [[8080], [9090], []])
        #expect(s.map { $0.endpoints.count } == [1, 1, 1])
    }

    @Test func namedPortsMatchOnProtocolToo() throws {
        let c = try cluster(topology("", Self.nodes + """
        pods: [{name: d, node: n1, labels: {app: d}, ports: [{name: dns, containerPort: 5353, protocol: UDP}]}]
        services: [{name: d, selector: {app: d}, ports: [{name: dns, port: 53, protocol: TCP, targetPort: dns}]}]
        """))
        #expect(slices(c, "d")[0].ports.isEmpty)
    }

    @Test func slicesHoldAtMostOneHundredEndpoints() throws {
        let pods = (0..<230).map { "  - {name: p\($0), node: n\($0 % 2 + 1), labels: {app: big}}" }.joined(separator: "\n")
        let c = try cluster(topology("", Self.nodes + "pods:\n\(pods)\nservices: [{name: big, selector: {app: big}, ports: [{port: 80}]}]"))
        #expect(slices(c, "big").map(\.endpoints.count) == [100, 100, 30])
        #expect(Set(slices(c, "big").map(\.name)).count == 3)
    }

    @Test func aSelectorThatMatchesNothingLeavesOneEmptySlice() throws {
        let c = try cluster(topology("", Self.nodes + "services: [{name: none, selector: {app: ghost}, ports: [{name: http, port: 80}]}]"))
        let s = slices(c, "none")
        #expect(s.count == 1 && s[0].endpoints.isEmpty)
    }

    @Test func servicesWithoutSelectorUseTheSlicesGiven() throws {
        let c = try cluster(topology("", Self.nodes + """
        services: [{name: ext, ports: [{name: p, port: 80}]}]
        objects:
          - apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: ext-1, namespace: default, labels: {kubernetes.io/service-name: ext}}
            addressType: IPv4
            ports: [{name: p, port: 8080, protocol: TCP}]
            endpoints:
              - addresses: [192.0.2.10]
              - addresses: [192.0.2.11]
                conditions: {ready: false, serving: true, terminating: true}
        """))
        let s = slices(c, "ext")
        #expect(s.map(\.name) == ["ext-1"])
        #expect(s[0].endpoints[1].conditions == EndpointConditions(ready: false, serving: true, terminating: true))
        #expect(s[0].endpoints[0].conditions.isReady)  // unset reads as ready
    }

    @Test func hostnameIsSetWhenThePodsSubdomainIsTheService() throws {
        let c = try cluster(topology("", Self.nodes + """
        pods: [{name: db-0, node: n1, labels: {app: db}, hostname: db-0, subdomain: db}, {name: x, node: n1, labels: {app: db}, hostname: x, subdomain: other}]
        services: [{name: db, clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}]
        """))
        #expect(slices(c, "db")[0].endpoints.map(\.hostname) == ["db-0", nil])
    }

    @Test func dualStackServicesGetASlicePerFamily() throws {
        let c = try cluster(topology("  clusterCIDR: 10.244.0.0/16,fd00:10:244::/56\n  serviceCIDR: 10.96.0.0/12,fd00:10:96::/112\n  nodeNetwork: 172.18.0.0/16,fd00:18::/64",
            Self.nodes + "pods: [{name: p, node: n1, labels: {app: a}}]\nservices: [{name: a, ipFamilyPolicy: RequireDualStack, selector: {app: a}, ports: [{port: 80}]}]"))
        #expect(slices(c, "a").map(\.addressType) == [.ipv4, .ipv6])
        #expect(slices(c, "a")[1].endpoints[0].addresses[0].description == "fd00:10:244::2")
    }
}
