import Foundation
import Testing
@testable import Cluster
import Wire

@Suite struct ManifestInputTests {
    static let manifests = """
    apiVersion: v1
    kind: List
    items:
    - apiVersion: v1
      kind: Node
      metadata:
        name: kind-control-plane
        labels: {node-role.kubernetes.io/control-plane: "", topology.kubernetes.io/zone: az1}
      spec: {podCIDR: 10.244.0.0/24, podCIDRs: [10.244.0.0/24]}
      status:
        addresses: [{type: InternalIP, address: 172.18.0.2}, {type: Hostname, address: kind-control-plane}]
    - apiVersion: v1
      kind: Pod
      metadata: {name: web-abc, namespace: shop, labels: {app: web}}
      spec:
        nodeName: kind-control-plane
        containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 80, protocol: TCP}]}]
      status:
        phase: Running
        podIP: 10.244.0.7
        podIPs: [{ip: 10.244.0.7}]
        conditions: [{type: Ready, status: "True"}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec:
      type: LoadBalancer
      clusterIP: 10.96.100.100
      selector: {app: web}
      externalTrafficPolicy: Local
      loadBalancerSourceRanges: [" 203.0.113.0/25"]
      sessionAffinity: ClientIP
      sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
      ports: [{name: http, port: 80, targetPort: http, nodePort: 31000, protocol: TCP}]
    status:
      loadBalancer:
        ingress: [{ip: 198.51.100.7, ipMode: VIP}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: shop}
    """

    @Test func readsKubectlStyleObjectsWithDefaults() throws {
        let input = try TopologyLoader.parse(text: Self.manifests, file: "dump.yaml")
        let c = try ClusterBuilder.build(input)
        #expect(c.settings == ClusterSettings())  // plain manifests: kubeadm + flannel defaults
        let node = try #require(c.node(named: "kind-control-plane"))
        #expect(node.isControlPlane && node.zone == "az1")
        #expect(node.internalIPs == [ip("172.18.0.2")])
        #expect(node.podCIDRs.map(\.description) == ["10.244.0.0/24"])
        let pod = try #require(c.pod(namespace: "shop", name: "web-abc"))
        #expect(pod.ips == [ip("10.244.0.7")] && pod.ready)
        #expect(pod.ports == [ContainerPort(name: "http", containerPort: 80)])
        let svc = try #require(c.service(namespace: "shop", name: "web"))
        #expect(svc.type == .loadBalancer && svc.externalTrafficPolicy == .local)
        #expect(svc.loadBalancerIPs == [ip("198.51.100.7")])
        #expect(svc.loadBalancerSourceRanges.map(\.description) == ["203.0.113.0/25"])  // whitespace trimmed
        #expect(svc.sessionAffinity == .clientIP && svc.sessionAffinityTimeoutSeconds == 600)
        // It carries its ClusterIP: the API server has been through it, nothing more is drawn.
        #expect(svc.healthCheckNodePort == nil)
        #expect(c.endpointSlices(for: svc).first?.endpoints.first?.addresses == [ip("10.244.0.7")])
    }

    @Test func unknownKindsAreIgnoredWithANote() throws {
        let input = try TopologyLoader.parse(text: Self.manifests, file: "dump.yaml")
        // The note points at the document's first line (its apiVersion).
        let lines = Self.manifests.split(separator: "\n", omittingEmptySubsequences: false)
        let line = lines.firstIndex { $0 == "kind: Deployment" }!  // 0-based index of the next line
        #expect(input.notes == ["dump.yaml:\(line):1: ignoring kind Deployment (kdp reads Node, Pod, Service, EndpointSlice, Namespace)"])
    }

    @Test func podsReportingNotReadyAreNotReady() throws {
        let text = """
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec: {nodeName: n}
        status: {conditions: [{type: Ready, status: "False"}]}
        """
        #expect(try TopologyLoader.parse(text: text, file: "f").pods[0].ready == false)
    }

    @Test func leadingZeroAddressesAreNormalised() throws {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: 010.096.0.041, externalIPs: [192.168.099.011], ports: [{port: 80}]}"
        let s = try TopologyLoader.parse(text: text, file: "f").services[0]
        #expect(s.clusterIPs.map(\.description) == ["10.96.0.41"])
        #expect(s.externalIPs.map(\.description) == ["192.168.99.11"])
    }

    @Test func foldersLoadEveryYAMLFileInNameOrder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-folder-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "apiVersion: v1\nkind: Node\nmetadata: {name: b}\n".write(to: dir.appendingPathComponent("2.yaml"), atomically: true, encoding: .utf8)
        try "apiVersion: v1\nkind: Node\nmetadata: {name: a}\n".write(to: dir.appendingPathComponent("1.yml"), atomically: true, encoding: .utf8)
        try "not read".write(to: dir.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        #expect(try TopologyLoader.load(paths: [dir.path]).nodes.map(\.name) == ["a", "b"])
    }

    @Test func theEmbeddedDefaultIsTheShippedDemoTopology() throws {
        let file = try String(contentsOf: repositoryRoot.appendingPathComponent("topologies/demo.yaml"), encoding: .utf8)
        #expect(TopologyLoader.embeddedDefault == file)
        let c = try ClusterBuilder.load(paths: [])
        #expect(c.nodes.map(\.name) == ["control-plane", "worker-1", "worker-2"])
    }
}

@Suite struct BadInputTests {
    func error(_ text: String) -> InputError? {
        do { _ = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "bad.yaml")); return nil } catch { return error }
    }

    @Test func brokenYAMLNamesLineAndColumn() {
        let e = error("kind: Topology\nnodes:\n  - {name: a\n  - {name: b}\n")
        #expect(e?.location?.file == "bad.yaml")
        #expect(e?.location?.line == 4)
        #expect(e?.message.hasPrefix("invalid YAML:") == true)
    }

    @Test func misspeltTopologyKeysAreErrorsAtTheKey() {
        let e = error("kind: Topology\ncluster:\n  clusterCidr: 10.0.0.0/8\n")
        #expect(e?.location == InputLocation(file: "bad.yaml", line: 3, column: 3))
        #expect(e?.message.hasPrefix("unknown key \"clusterCidr\" in cluster") == true)
    }

    @Test func invalidCIDRsSayWhatIsWrong() {
        #expect(error("kind: Topology\ncluster:\n  clusterCIDR: 10.244.0.0/33\n")?.description
            == "bad.yaml:3:16: cluster.clusterCIDR: invalid \"10.244.0.0/33\": prefix length must be 0-32")
        #expect(error("kind: Topology\ncluster:\n  serviceCIDR: 10.96.0.1/12\n")?.description
            == "bad.yaml:3:16: cluster.serviceCIDR: invalid \"10.96.0.1/12\": host bits are set (the network is 10.96.0.0/12)")
    }

    @Test func invalidAddressesSayWhereTheyAre() {
        #expect(error("kind: Topology\nnodes: [{name: a, ip: 10.0.0.256}]\n")?.description
            == "bad.yaml:2:23: node.ip: invalid \"10.0.0.256\": IPv4 field out of range (0-255)")
    }

    @Test func wrongTypesAreReported() {
        #expect(error("kind: Topology\nservices: [{name: s, ports: [{port: http}]}]\n")?.description
            == "bad.yaml:2:37: port must be a whole number, found \"http\"")
        #expect(error("kind: Topology\nservices: [{name: s, ports: [{port: 70000}]}]\n")?.message == "port must be 1-65535, found 70000")
        #expect(error("kind: Topology\nnodes: {name: a}\n")?.message == "nodes must be a list, found a mapping")
        #expect(error("kind: Topology\nservices: [{name: s, type: Nodeport, ports: [{port: 80}]}]\n")?.message
            == "type must be one of ClusterIP, NodePort, LoadBalancer, ExternalName, found \"Nodeport\"")
    }

    @Test func documentsNeedAKindAndObjectsAName() {
        #expect(error("apiVersion: v1\nmetadata: {name: x}\n")?.message.hasPrefix("document has no \"kind\"") == true)
        #expect(error("apiVersion: v1\nkind: Pod\nmetadata: {namespace: x}\n")?.message == "Pod metadata needs \"name\"")
        #expect(error("apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\n")?.message.contains("not a valid name") == true)
    }

    @Test func twoSetsOfClusterSettingsConflict() throws {
        var a = try TopologyLoader.parse(text: "kind: Topology\ncluster: {name: a}\n", file: "a.yaml")
        let b = try TopologyLoader.parse(text: "kind: Topology\ncluster: {name: b}\n", file: "b.yaml")
        #expect(throws: InputError.self) { try a.merge(b) }
    }

    @Test func missingFilesAreNamed() {
        #expect(throws: InputError.self) { try TopologyLoader.load(paths: ["/nonexistent/kdp.yaml"]) }
    }
}
