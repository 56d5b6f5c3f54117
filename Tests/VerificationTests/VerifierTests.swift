import Cluster
import Dataplane
import Foundation
import Netfilter
import Testing
@testable import Verification
import Wire

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func loadTopology(_ relative: String) throws -> Cluster {
    try ClusterBuilder.load(paths: [repositoryRoot.appendingPathComponent(relative).path])
}

@Suite struct VerifierTests {
    @Test(arguments: ["topologies/demo.yaml", "topologies/ha-cluster.yaml"])
    func healthyShippedTopologiesVerifyClean(_ file: String) throws {
        var verifier = try Verifier(cluster: try loadTopology(file))
        let report = verifier.verify(Verifier.Options())
        for r in report.results {
            #expect(r.holds, "\(file): \(r.invariant.rawValue): \(r.violations.first?.why ?? "")")
        }
        #expect(report.results.map(\.invariant) == Invariant.allCases)
        // Every invariant but the host-network one (the demo has no host-network pods) checked classes.
        #expect(report.results.filter { $0.invariant != .hostNetworkToPod }.allSatisfy { $0.classes > 0 })
    }

    /// Each file in topologies/broken names the invariant it breaks (`# Violates: NAME`) and
    /// words its counterexample's why must hold (`# Why: …`).
    static let broken: [String] = {
        let dir = repositoryRoot.appendingPathComponent("topologies/broken")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { "topologies/broken/\($0)" }
    }()

    @Test func thereAreBrokenTopologies() {
        #expect(Self.broken.count >= 4)
    }

    @Test(arguments: broken)
    func brokenTopologyIsCaughtByTheInvariantItNames(_ file: String) throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent(file), encoding: .utf8)
        func header(_ key: String) -> String? {
            text.split(separator: "\n").first { $0.hasPrefix("# \(key): ") }.map { String($0.dropFirst(key.count + 4)) }
        }
        let named = try #require(header("Violates")?.split(separator: " ").first.map { String($0).trimmingCharacters(in: .punctuationCharacters) })
        let invariant = try #require(Invariant(rawValue: named), "\(file) names no invariant")
        let why = try #require(header("Why"), "\(file) has no # Why: line")
        var verifier = try Verifier(cluster: try loadTopology(file))
        var options = Verifier.Options()
        options.maxExamples = 100
        let result = try #require(verifier.verify(options).results.first { $0.invariant == invariant })
        #expect(!result.holds, "\(file): \(invariant.rawValue) holds")
        #expect(result.violations.contains { $0.why.contains(why) }, "\(file): no violation says \(why): \(result.violations.map(\.why))")
        if invariant != .routing {
            // A counterexample: one concrete packet with its full trace.
            let v = try #require(result.violations.first { $0.why.contains(why) })
            #expect(v.example != nil)
            #expect(v.trace.map { !$0.paths.isEmpty && !$0.paths[0].steps.isEmpty } == true)
        }
    }

    /// IPVS mode: every real server the scheduler could pick is a path, so every endpoint is
    /// seen; what is left is upstream's own choice for externalTrafficPolicy Local without a
    /// local endpoint (it forwards to the cluster's endpoints).
    @Test func ipvsModeFollowsEveryRealServer() throws {
        let cluster = try loadTopology("topologies/demo.yaml").withKubeProxy { $0.mode = .ipvs }
        var verifier = try Verifier(cluster: cluster)
        var options = Verifier.Options()
        options.invariants = [.podToPod, .serviceEndpoints]
        options.maxExamples = 10
        let report = verifier.verify(options)
        #expect(report.results[0].holds)
        let endpoints = report.results[1]
        #expect(endpoints.violationCount == 2)
        for v in endpoints.violations {
            #expect(v.why.contains("delivered with probability 100.0%"))
            #expect(v.why.contains("traffic policy Local and no local endpoint on node control-plane"))
            #expect(!v.why.contains("never reaches"))
        }
    }

    /// A dual-stack cluster is verified in both families: IPv6 classes are traced too.
    @Test func dualStackClustersAreVerifiedInBothFamilies() throws {
        let text = """
        kind: Topology
        cluster:
          clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
          serviceCIDR: 10.96.0.0/12,fd00:10:96::/112
          nodeNetwork: 172.18.0.0/16,fc00:f853:ccd:e793::/64
        nodes:
          - {name: control-plane, role: control-plane, ips: [172.18.0.2, "fc00:f853:ccd:e793::2"]}
          - {name: worker-1, ips: [172.18.0.3, "fc00:f853:ccd:e793::3"]}
        pods:
          - {name: client, node: worker-1}
          - {name: web-0, node: control-plane, labels: {app: web}}
        services:
          - {name: web, ipFamilyPolicy: PreferDualStack, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
        """
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "ds.yaml"))
        var verifier = try Verifier(cluster: cluster)
        var options = Verifier.Options()
        options.explain = true
        let report = verifier.verify(options)
        #expect(report.holds)
        let pods = try #require(report.results.first { $0.invariant == .podToPod })
        #expect(pods.classList.contains { $0.proto == .icmpv6 && $0.example.destination.family == .ipv6 })
        #expect(pods.classList.contains { $0.proto == .icmp && $0.example.destination.family == .ipv4 })
        let services = try #require(report.results.first { $0.invariant == .serviceEndpoints })
        #expect(services.classList.contains { $0.example.destination.family == .ipv6 })
    }

    /// The intended port is the Service's targetPort on the pod: a foreign slice that sends a
    /// selected pod's traffic to another port is caught, naming the port.
    @Test func aSliceWithTheWrongTargetPortIsCaught() throws {
        let text = """
        kind: Topology
        nodes:
          - {name: control-plane, role: control-plane}
          - {name: worker-1}
        pods:
          - {name: client, node: worker-1}
          - {name: web-0, node: worker-1, ip: 10.244.1.10, labels: {app: web}, ports: [{name: http, containerPort: 8080}]}
        services:
          - {name: web, clusterIP: 10.96.0.20, selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}
        objects:
          - apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: web-by-hand, namespace: default, labels: {kubernetes.io/service-name: web}}
            addressType: IPv4
            ports: [{name: http, port: 9090, protocol: TCP}]
            endpoints: [{addresses: [10.244.1.10], conditions: {ready: true}, targetRef: {kind: Pod, namespace: default, name: web-0}}]
        """
        let cluster = try ClusterBuilder.build(TopologyLoader.parse(text: text, file: "port.yaml"))
        var verifier = try Verifier(cluster: cluster)
        var options = Verifier.Options()
        options.invariants = [.serviceEndpoints]
        let result = verifier.verify(options).results[0]
        #expect(!result.holds)
        #expect(result.violations.contains { $0.why.contains("reached 10.244.1.10:9090, which is not an intended endpoint") })
    }

    /// A dump whose API servers are not Nodes (Kubernetes the Hard Way): the kubernetes
    /// Service's endpoints lie outside the cluster's nodes and pods, and are reached where the
    /// packet leaves the cluster towards them.
    @Test func endpointsOutsideTheClusterAreReachedAtItsEdge() throws {
        var verifier = try Verifier(cluster: loadTopology("Tests/ClusterTests/Fixtures/the-hard-way.json"))
        let report = verifier.verify(Verifier.Options())
        let reply = try #require(report.results.first { $0.invariant == .serviceReply })
        #expect(reply.notes.contains { $0.contains("outside the cluster's nodes and pods") })
    }

    /// Dumps of real clusters (kind IPv6, kube-router dual-stack, Calico IPAM, OpenShift OVN,
    /// the Hard Way) verify clean: finished pods own no address, single-family Services get
    /// NodePorts only in their family, endpoints off the cluster are reached at its edge.
    @Test(arguments: ["kind-ipv6.yaml", "kube-router-dualstack.yaml", "calico-ipam.yaml", "openshift-ovn.yaml", "the-hard-way.json"])
    func realClusterDumpsVerifyClean(_ file: String) throws {
        var verifier = try Verifier(cluster: loadTopology("Tests/ClusterTests/Fixtures/\(file)"))
        let report = verifier.verify(Verifier.Options())
        for r in report.results { #expect(r.holds, "\(file): \(r.invariant.rawValue): \(r.violations.first?.why ?? "")") }
        #expect(report.results.contains { $0.classes > 0 })
    }
}
