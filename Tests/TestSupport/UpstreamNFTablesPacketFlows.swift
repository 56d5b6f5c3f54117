import Cluster
import Foundation
import KubeProxy
import Testing
import Wire

/// Every packet-flow expectation of upstream kube-proxy's nftables tests, as data
/// (kubernetes/kubernetes pkg/proxy/nftables/proxier_test.go at 81810de635aa), through kdp: each
/// `runPacketFlowTests` call's setup as manifests (loaded as `--topology` loads them), compiled by
/// `NFTablesCompiler` for NewFakeProxier's node with the call's proxier options, the transaction
/// traced by `kdp trace-rules --nft` (`NFTTraceRulesRequest`, every numgen branch), and judged as
/// upstream's tracer (helpers_test.go `tracePacket`) judges: the outputs of all branches (DNAT
/// targets, DROP, REJECT; nothing for a packet that is only accepted), and whether any branch
/// masquerades.
public enum UpstreamNFTablesPacketFlows {
    public struct Flow: Sendable {
        public var name: String
        public var source: String
        /// upstream's `protocol` (empty there means TCP).
        public var proto: IPProtocol = .tcp
        public var destination: String
        public var port: UInt16
        public var output: String
        public var masq = false
    }

    /// One `runPacketFlowTests` call: the upstream test (and case), its setup and its flows.
    public struct Group: Sendable, CustomTestStringConvertible {
        public var test: String
        public var family: IPFamily = .ipv4
        /// Services and EndpointSlices as kubectl YAML.
        public var manifests: String
        /// `fp.nodePortAddresses = NewNodePortAddresses(family, …)`; nil keeps NewFakeProxier's.
        public var nodePortAddresses: [String]? = nil
        public var masqueradeAll = false
        /// false: `fp.localDetector = NewNoOpLocalDetector()`.
        public var localDetector = true
        public var flows: [Flow]
        public var testDescription: String { test }
    }

    // Upstream's constants (proxier_test.go).
    public static let testNodeIP = "192.168.0.2"
    static let testNodeIPAlt = "192.168.1.2"
    static let testExternalIP = "192.168.99.11"
    public static let testNodeIPv6 = "2001:db8::1"
    static let testNodeIPv6Alt = "2001:db8:1::2"
    static let testExternalClient = "203.0.113.2"
    static let testExternalClientBlocked = "203.0.113.130"
    public static let testNodeIPs = [testNodeIP, testNodeIPAlt, testExternalIP, testNodeIPv6, testNodeIPv6Alt]

    // MARK: TestNoEndpointsReject

    static let noEndpointsReject = Group(test: "TestNoEndpointsReject", manifests: """
        apiVersion: v1
        kind: Service
        metadata: {name: svc1, namespace: ns1}
        spec:
          type: LoadBalancer
          clusterIP: "172.30.0.41"
          externalIPs: ["192.168.99.11"]
          ports: [{name: p80, protocol: TCP, port: 80, nodePort: 3001}]
        status: {loadBalancer: {ingress: [{ip: "1.2.3.4"}]}}
        """, flows: [
            Flow(name: "pod to cluster IP with no endpoints", source: "10.0.0.2", destination: "172.30.0.41", port: 80, output: "REJECT"),
            Flow(name: "external to external IP with no endpoints", source: testExternalClient, destination: "192.168.99.11", port: 80, output: "REJECT"),
            Flow(name: "pod to NodePort with no endpoints", source: "10.0.0.2", destination: testNodeIP, port: 3001, output: "REJECT"),
            Flow(name: "external to NodePort with no endpoints", source: testExternalClient, destination: testNodeIP, port: 3001, output: "REJECT"),
            Flow(name: "pod to LoadBalancer IP with no endpoints", source: "10.0.0.2", destination: "1.2.3.4", port: 80, output: "REJECT"),
            Flow(name: "external to LoadBalancer IP with no endpoints", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "REJECT"),
        ])

    // MARK: TestClusterIPGeneral

    static let clusterIPGeneral = Group(test: "TestClusterIPGeneral", manifests: """
        apiVersion: v1
        kind: Service
        metadata: {name: svc1, namespace: ns1}
        spec:
          clusterIP: "172.30.0.41"
          ports: [{name: http, port: 80, protocol: TCP}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: svc2, namespace: ns2}
        spec:
          clusterIP: "172.30.0.42"
          ports:
          - {name: http, port: 80, protocol: TCP}
          - {name: https, port: 443, protocol: TCP, targetPort: 8443}
          - {name: dns-udp, port: 53, protocol: UDP}
          - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 5353}
          - {name: dns-sctp, port: 53, protocol: SCTP}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
        addressType: IPv4
        endpoints:
        - {addresses: ["10.180.0.1"], nodeName: test-node}
        ports: [{name: http, port: 80, protocol: TCP}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: svc2-1, namespace: ns2, labels: {kubernetes.io/service-name: svc2}}
        addressType: IPv4
        endpoints:
        - {addresses: ["10.180.0.1"], nodeName: test-node}
        - {addresses: ["10.180.2.1"], nodeName: node2}
        ports:
        - {name: http, port: 80, protocol: TCP}
        - {name: https, port: 8443, protocol: TCP}
        - {name: dns-udp, port: 53, protocol: UDP}
        - {name: dns-tcp, port: 5353, protocol: TCP}
        - {name: dns-sctp, port: 53, protocol: SCTP}
        """, flows: [
            Flow(name: "simple clusterIP", source: "10.180.0.2", destination: "172.30.0.41", port: 80, output: "10.180.0.1:80", masq: false),
            Flow(name: "hairpin to cluster IP", source: "10.180.0.1", destination: "172.30.0.41", port: 80, output: "10.180.0.1:80", masq: true),
            Flow(name: "clusterIP with multiple endpoints", source: "10.180.0.2", destination: "172.30.0.42", port: 80, output: "10.180.0.1:80, 10.180.2.1:80", masq: false),
            Flow(name: "clusterIP with TargetPort", source: "10.180.0.2", destination: "172.30.0.42", port: 443, output: "10.180.0.1:8443, 10.180.2.1:8443", masq: false),
            Flow(name: "clusterIP with TCP, UDP, and SCTP on same port (TCP)", source: "10.180.0.2", proto: .tcp, destination: "172.30.0.42", port: 53, output: "10.180.0.1:5353, 10.180.2.1:5353", masq: false),
            // (upstream names this UDP flow "(TCP)" too)
            Flow(name: "clusterIP with TCP, UDP, and SCTP on same port (TCP)", source: "10.180.0.2", proto: .udp, destination: "172.30.0.42", port: 53, output: "10.180.0.1:53, 10.180.2.1:53", masq: false),
            Flow(name: "clusterIP with TCP, UDP, and SCTP on same port (SCTP)", source: "10.180.0.2", proto: .sctp, destination: "172.30.0.42", port: 53, output: "10.180.0.1:53, 10.180.2.1:53", masq: false),
            Flow(name: "TCP-only port does not match UDP traffic", source: "10.180.0.2", proto: .udp, destination: "172.30.0.42", port: 80, output: "REJECT"),
            Flow(name: "svc1 does not accept svc2's ports", source: "10.180.0.2", destination: "172.30.0.41", port: 443, output: "REJECT"),
            Flow(name: "packet to unallocated cluster ip", source: "10.180.0.2", destination: "172.30.0.50", port: 80, output: "DROP"),
        ])

    // MARK: TestLoadBalancer

    static let loadBalancer = Group(test: "TestLoadBalancer", manifests: """
        apiVersion: v1
        kind: Service
        metadata: {name: svc1, namespace: ns1}
        spec:
          type: LoadBalancer
          clusterIP: "172.30.0.41"
          ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]
          loadBalancerSourceRanges: ["192.168.0.0/24", " 203.0.113.0/25"]
        status: {loadBalancer: {ingress: [{ip: "1.2.3.4"}, {ip: "5.6.7.8"}]}}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
        addressType: IPv4
        endpoints:
        - {addresses: ["10.180.0.1"]}
        ports: [{name: p80, port: 80, protocol: TCP}]
        """, flows: [
            Flow(name: "pod to cluster IP", source: "10.0.0.2", destination: "172.30.0.41", port: 80, output: "10.180.0.1:80", masq: false),
            Flow(name: "external to nodePort", source: testExternalClient, destination: testNodeIP, port: 3001, output: "10.180.0.1:80", masq: true),
            Flow(name: "nodePort bypasses LoadBalancerSourceRanges", source: testExternalClientBlocked, destination: testNodeIP, port: 3001, output: "10.180.0.1:80", masq: true),
            Flow(name: "accepted external to LB1", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "10.180.0.1:80", masq: true),
            Flow(name: "accepted external to LB2", source: testExternalClient, destination: "5.6.7.8", port: 80, output: "10.180.0.1:80", masq: true),
            Flow(name: "blocked external to LB1", source: testExternalClientBlocked, destination: "1.2.3.4", port: 80, output: "DROP"),
            Flow(name: "blocked external to LB2", source: testExternalClientBlocked, destination: "5.6.7.8", port: 80, output: "DROP"),
            Flow(name: "pod to LB1 (blocked by LoadBalancerSourceRanges)", source: "10.0.0.2", destination: "1.2.3.4", port: 80, output: "DROP"),
            Flow(name: "pod to LB2 (blocked by LoadBalancerSourceRanges)", source: "10.0.0.2", destination: "5.6.7.8", port: 80, output: "DROP"),
            Flow(name: "node to LB1 (allowed by LoadBalancerSourceRanges)", source: testNodeIP, destination: "1.2.3.4", port: 80, output: "10.180.0.1:80", masq: true),
            Flow(name: "node to LB2 (allowed by LoadBalancerSourceRanges)", source: testNodeIP, destination: "5.6.7.8", port: 80, output: "10.180.0.1:80", masq: true),
            Flow(name: "same node to LB1, SNATted to LB1 (implicitly allowed)", source: "1.2.3.4", destination: "1.2.3.4", port: 80, output: "10.180.0.1:80", masq: true),
            Flow(name: "same node to LB2, SNATted to LB2 (implicitly allowed)", source: "5.6.7.8", destination: "5.6.7.8", port: 80, output: "10.180.0.1:80", masq: true),
        ])

    // MARK: TestNodePorts (table-driven: each case runs two calls)

    /// One TestNodePorts case, with the addresses upstream picks for its family.
    static func nodePorts(_ name: String, family: IPFamily, nodePortAddresses: [String]?, allowAltNodeIP: Bool) -> [Group] {
        let v4 = family == .ipv4
        let svcIP = v4 ? "172.30.0.41" : "fd00:172:30::41"
        let epIP1 = v4 ? "10.180.0.1" : "fd00:10:180::1"
        let epIP2 = v4 ? "10.180.2.1" : "fd00:10:180::2:1"
        let nodeIP = v4 ? testNodeIP : testNodeIPv6
        let podIP = v4 ? "10.0.0.2" : "fd00:10::2"
        let externalClientIP = v4 ? testExternalClient : "2600:5200::1"
        let altNodeIP = v4 ? testNodeIPAlt : testNodeIPv6Alt
        // net.JoinHostPort(epIP1, "80") + ", " + net.JoinHostPort(epIP2, "80")
        let join = { (ip: String) in v4 ? "\(ip):80" : "[\(ip)]:80" }
        let output = join(epIP1) + ", " + join(epIP2)
        let manifests = """
            apiVersion: v1
            kind: Service
            metadata: {name: svc1, namespace: ns1}
            spec:
              type: NodePort
              clusterIP: "\(svcIP)"
              ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
            addressType: \(v4 ? "IPv4" : "IPv6")
            endpoints:
            - {addresses: ["\(epIP1)"]}
            - {addresses: ["\(epIP2)"], nodeName: test-node}
            ports: [{name: p80, port: 80, protocol: TCP}]
            """
        let basic = Group(test: "TestNodePorts/\(name), basic", family: family, manifests: manifests, nodePortAddresses: nodePortAddresses, flows: [
            Flow(name: "pod to cluster IP", source: podIP, destination: svcIP, port: 80, output: output, masq: false),
            Flow(name: "external to nodePort", source: externalClientIP, destination: nodeIP, port: 3001, output: output, masq: true),
            Flow(name: "node to nodePort", source: nodeIP, destination: nodeIP, port: 3001, output: output, masq: true),
        ])
        let alt = allowAltNodeIP
            ? Flow(name: "external to nodePort on secondary IP", source: externalClientIP, destination: altNodeIP, port: 3001, output: output, masq: true)
            : Flow(name: "secondary nodeIP ignores NodePorts", source: externalClientIP, destination: altNodeIP, port: 3001, output: "")
        let second = Group(test: "TestNodePorts/\(name), \(allowAltNodeIP ? "allowAltNodeIP" : "not allowAltNodeIP")", family: family,
                           manifests: manifests, nodePortAddresses: nodePortAddresses, flows: [alt])
        return [basic, second]
    }

    static let nodePortsGroups: [Group] =
        nodePorts("ipv4", family: .ipv4, nodePortAddresses: nil, allowAltNodeIP: false)
        + nodePorts("ipv4, multiple nodeport-addresses", family: .ipv4,
                    nodePortAddresses: ["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64"], allowAltNodeIP: true)
        + nodePorts("ipv6", family: .ipv6, nodePortAddresses: nil, allowAltNodeIP: false)
        + nodePorts("ipv6, multiple nodeport-addresses", family: .ipv6,
                    nodePortAddresses: ["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64", "2001:db8:1::2/128"], allowAltNodeIP: true)

    // MARK: TestExternalTrafficPolicyLocal / TestExternalTrafficPolicyCluster

    static func trafficPolicyManifests(_ policy: String, healthCheckNodePort: Bool) -> String {
        """
        apiVersion: v1
        kind: Service
        metadata: {name: svc1, namespace: ns1}
        spec:
          type: LoadBalancer
          externalTrafficPolicy: \(policy)
          clusterIP: "172.30.0.41"
          externalIPs: ["192.168.99.11"]
          ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001, targetPort: 80}]\(healthCheckNodePort ? "\n  healthCheckNodePort: 30000" : "")
        status: {loadBalancer: {ingress: [{ip: "1.2.3.4"}]}}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
        addressType: IPv4
        endpoints:
        - {addresses: ["10.180.0.1"]}
        - {addresses: ["10.180.2.1"], nodeName: test-node}
        ports: [{name: p80, port: 80, protocol: TCP}]
        """
    }

    static let externalTrafficPolicyLocal = Group(test: "TestExternalTrafficPolicyLocal",
                                                  manifests: trafficPolicyManifests("Local", healthCheckNodePort: true), flows: [
        Flow(name: "pod to cluster IP hits both endpoints, unmasqueraded", source: "10.0.0.2", destination: "172.30.0.41", port: 80, output: "10.180.0.1:80, 10.180.2.1:80", masq: false),
        Flow(name: "pod to external IP hits both endpoints, unmasqueraded", source: "10.0.0.2", destination: "192.168.99.11", port: 80, output: "10.180.0.1:80, 10.180.2.1:80", masq: false),
        Flow(name: "external to external IP hits only local endpoint, unmasqueraded", source: testExternalClient, destination: "192.168.99.11", port: 80, output: "10.180.2.1:80", masq: false),
        Flow(name: "pod to LB IP hits only both endpoints, unmasqueraded", source: "10.0.0.2", destination: "1.2.3.4", port: 80, output: "10.180.0.1:80, 10.180.2.1:80", masq: false),
        Flow(name: "external to LB IP hits only local endpoint, unmasqueraded", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "10.180.2.1:80", masq: false),
        Flow(name: "pod to NodePort hits both endpoints, unmasqueraded", source: "10.0.0.2", destination: testNodeIP, port: 3001, output: "10.180.0.1:80, 10.180.2.1:80", masq: false),
        Flow(name: "external to NodePort hits only local endpoint, unmasqueraded", source: testExternalClient, destination: testNodeIP, port: 3001, output: "10.180.2.1:80", masq: false),
    ])

    static let externalTrafficPolicyCluster = Group(test: "TestExternalTrafficPolicyCluster",
                                                    manifests: trafficPolicyManifests("Cluster", healthCheckNodePort: false), flows: [
        Flow(name: "pod to cluster IP hits both endpoints, unmasqueraded", source: "10.0.0.2", destination: "172.30.0.41", port: 80, output: "10.180.0.1:80, 10.180.2.1:80", masq: false),
        Flow(name: "pod to external IP hits both endpoints, masqueraded", source: "10.0.0.2", destination: "192.168.99.11", port: 80, output: "10.180.0.1:80, 10.180.2.1:80", masq: true),
        Flow(name: "external to external IP hits both endpoints, masqueraded", source: testExternalClient, destination: "192.168.99.11", port: 80, output: "10.180.0.1:80, 10.180.2.1:80", masq: true),
        Flow(name: "pod to LB IP hits both endpoints, masqueraded", source: "10.0.0.2", destination: "1.2.3.4", port: 80, output: "10.180.0.1:80, 10.180.2.1:80", masq: true),
        Flow(name: "external to LB IP hits both endpoints, masqueraded", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "10.180.0.1:80, 10.180.2.1:80", masq: true),
        Flow(name: "pod to NodePort hits both endpoints, masqueraded", source: "10.0.0.2", destination: testNodeIP, port: 3001, output: "10.180.0.1:80, 10.180.2.1:80", masq: true),
        Flow(name: "external to NodePort hits both endpoints, masqueraded", source: testExternalClient, destination: testNodeIP, port: 3001, output: "10.180.0.1:80, 10.180.2.1:80", masq: true),
    ])

    // MARK: TestInternalTrafficPolicy (table-driven: each case runs its flows, then "endpoints deleted")

    /// The case's Service (172.30.1.1:80, unnamed port) with its one EndpointSlice, or without it.
    static func internalTrafficPolicyManifests(_ policy: String, endpoints: [(String, String)]?) -> String {
        var text = """
            apiVersion: v1
            kind: Service
            metadata: {name: svc1, namespace: ns1}
            spec:
              clusterIP: "172.30.1.1"
              selector: {foo: bar}
              ports: [{name: "", port: 80, protocol: TCP}]
              internalTrafficPolicy: \(policy)
            """
        if let endpoints {
            text += """

                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
                addressType: IPv4
                ports: [{name: "", port: 80, protocol: TCP}]
                endpoints:

                """
            text += endpoints.map { "- {addresses: [\"\($0.0)\"], conditions: {ready: true}, nodeName: \($0.1)}" }.joined(separator: "\n")
        }
        return text
    }

    static func internalTrafficPolicy(_ name: String, _ policy: String, _ endpoints: [(String, String)], _ flows: [Flow]) -> [Group] {
        [
            Group(test: "TestInternalTrafficPolicy/\(name)", manifests: internalTrafficPolicyManifests(policy, endpoints: endpoints), flows: flows),
            Group(test: "TestInternalTrafficPolicy/\(name), endpoints deleted", manifests: internalTrafficPolicyManifests(policy, endpoints: nil), flows: [
                Flow(name: "endpoints deleted", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "REJECT"),
            ]),
        ]
    }

    static let internalTrafficPolicyGroups: [Group] =
        internalTrafficPolicy("internalTrafficPolicy is cluster", "Cluster",
                              [("10.0.1.1", "test-node"), ("10.0.1.2", "node1"), ("10.0.1.3", "node2")], [
            Flow(name: "pod to ClusterIP hits all endpoints", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "10.0.1.1:80, 10.0.1.2:80, 10.0.1.3:80", masq: false),
        ])
        + internalTrafficPolicy("internalTrafficPolicy is local and there is one local endpoint", "Local",
                                [("10.0.1.1", "test-node"), ("10.0.1.2", "node1"), ("10.0.1.3", "node2")], [
            Flow(name: "pod to ClusterIP hits only local endpoint", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "10.0.1.1:80", masq: false),
        ])
        + internalTrafficPolicy("internalTrafficPolicy is local and there are multiple local endpoints", "Local",
                                [("10.0.1.1", "test-node"), ("10.0.1.2", "test-node"), ("10.0.1.3", "node2")], [
            Flow(name: "pod to ClusterIP hits all local endpoints", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "10.0.1.1:80, 10.0.1.2:80", masq: false),
        ])
        + internalTrafficPolicy("internalTrafficPolicy is local and there are no local endpoints", "Local",
                                [("10.0.1.1", "node0"), ("10.0.1.2", "node1"), ("10.0.1.3", "node2")], [
            Flow(name: "no endpoints", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "DROP"),
        ])

    // MARK: TestTerminatingEndpointsTrafficPolicyLocal / ...Cluster (table-driven, two calls per case)

    /// An endpoint of the cases' slice: address, ready, serving, terminating, node.
    typealias TerminatingEndpoint = (String, Bool, Bool, Bool, String)

    static func terminatingManifests(_ policy: String, endpoints: [TerminatingEndpoint]?) -> String {
        var text = """
            apiVersion: v1
            kind: Service
            metadata: {name: svc1, namespace: ns1}
            spec:
              clusterIP: "172.30.1.1"
              type: LoadBalancer
              externalTrafficPolicy: \(policy)
              ports: [{name: "", targetPort: 80, port: 80, protocol: TCP}]
              healthCheckNodePort: 30000
            status: {loadBalancer: {ingress: [{ip: "1.2.3.4"}]}}
            """
        if let endpoints {
            text += """

                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
                addressType: IPv4
                ports: [{name: "", port: 80, protocol: TCP}]
                endpoints:

                """
            text += endpoints.map { e in
                "- {addresses: [\"\(e.0)\"], conditions: {ready: \(e.1), serving: \(e.2), terminating: \(e.3)}, nodeName: \(e.4)}"
            }.joined(separator: "\n")
        }
        return text
    }

    static func terminating(_ test: String, _ policy: String, _ name: String, _ endpoints: [TerminatingEndpoint], _ flows: [Flow]) -> [Group] {
        [
            Group(test: "\(test)/\(name)", manifests: terminatingManifests(policy, endpoints: endpoints), flows: flows),
            Group(test: "\(test)/\(name), endpoints deleted", manifests: terminatingManifests(policy, endpoints: nil), flows: [
                Flow(name: "pod to clusterIP after endpoints deleted", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "REJECT"),
                Flow(name: "external to LB after endpoints deleted", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "REJECT"),
            ]),
        ]
    }

    static let terminatingLocalGroups: [Group] = {
        let t = "TestTerminatingEndpointsTrafficPolicyLocal"
        return terminating(t, "Local", "ready endpoints exist", [
            ("10.0.1.1", true, true, false, "test-node"),
            ("10.0.1.2", true, true, false, "test-node"),
            ("10.0.1.3", false, true, true, "test-node"),
            ("10.0.1.4", false, false, true, "test-node"),
            ("10.0.1.5", true, true, false, "node-1"),
        ], [
            Flow(name: "pod to clusterIP", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", masq: false),
            Flow(name: "external to LB", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "10.0.1.1:80, 10.0.1.2:80", masq: false),
        ])
        + terminating(t, "Local", "only terminating endpoints exist", [
            ("10.0.1.2", false, true, true, "test-node"),
            ("10.0.1.3", false, true, true, "test-node"),
            ("10.0.1.4", false, false, true, "test-node"),
            ("10.0.1.5", true, true, false, "node-1"),
        ], [
            Flow(name: "pod to clusterIP", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "10.0.1.5:80", masq: false),
            Flow(name: "external to LB", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "10.0.1.2:80, 10.0.1.3:80", masq: false),
        ])
        + terminating(t, "Local", "terminating endpoints on remote node", [
            ("10.0.1.5", false, true, true, "node-1"),
        ], [
            Flow(name: "pod to clusterIP", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "10.0.1.5:80"),
            Flow(name: "external to LB, no locally-usable endpoints", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "DROP"),
        ])
        + terminating(t, "Local", "no usable endpoints on any node", [
            ("10.0.1.5", false, false, true, "test-node"),
            ("10.0.1.5", false, false, true, "node-1"),
        ], [
            Flow(name: "pod to clusterIP, no usable endpoints", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "REJECT"),
            Flow(name: "external to LB, no usable endpoints", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "REJECT"),
        ])
    }()

    static let terminatingClusterGroups: [Group] = {
        let t = "TestTerminatingEndpointsTrafficPolicyCluster"
        return terminating(t, "Cluster", "ready endpoints exist", [
            ("10.0.1.1", true, true, false, "test-node"),
            ("10.0.1.2", true, true, false, "test-node"),
            ("10.0.1.3", false, true, true, "another-node"),
            ("10.0.1.4", false, false, true, "another-node"),
            ("10.0.1.5", true, true, false, "another-node"),
        ], [
            Flow(name: "pod to clusterIP", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", masq: false),
            Flow(name: "external to LB", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", masq: true),
        ])
        + terminating(t, "Cluster", "only terminating endpoints exist", [
            ("10.0.1.2", false, true, true, "test-node"),
            ("10.0.1.3", false, true, true, "test-node"),
            ("10.0.1.4", false, false, true, "another-node"),
            ("10.0.1.5", false, true, true, "another-node"),
        ], [
            Flow(name: "pod to clusterIP", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80", masq: false),
            Flow(name: "external to LB", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80", masq: true),
        ])
        + terminating(t, "Cluster", "terminating endpoints on remote node", [
            ("10.0.1.5", false, true, true, "node-1"),
        ], [
            Flow(name: "pod to clusterIP", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "10.0.1.5:80", masq: false),
            Flow(name: "external to LB", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "10.0.1.5:80", masq: true),
        ])
        + terminating(t, "Cluster", "no usable endpoints on any node", [
            ("10.0.1.5", false, false, true, "test-node"),
            ("10.0.1.5", false, false, true, "node-1"),
        ], [
            Flow(name: "pod to clusterIP", source: "10.0.0.2", destination: "172.30.1.1", port: 80, output: "REJECT"),
            Flow(name: "external to LB", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "REJECT"),
        ])
    }()

    // MARK: TestInternalExternalMasquerade (one flow list, four cases with overrides)

    static let internalExternalMasqueradeManifests = """
        apiVersion: v1
        kind: Service
        metadata: {name: svc1, namespace: ns1}
        spec:
          type: LoadBalancer
          clusterIP: "172.30.0.41"
          ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]
          healthCheckNodePort: 30001
        status: {loadBalancer: {ingress: [{ip: "1.2.3.4"}]}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: svc2, namespace: ns2}
        spec:
          type: LoadBalancer
          clusterIP: "172.30.0.42"
          ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3002}]
          healthCheckNodePort: 30002
          externalTrafficPolicy: Local
        status: {loadBalancer: {ingress: [{ip: "5.6.7.8"}]}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: svc3, namespace: ns3}
        spec:
          type: LoadBalancer
          clusterIP: "172.30.0.43"
          ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3003}]
          healthCheckNodePort: 30003
          internalTrafficPolicy: Local
        status: {loadBalancer: {ingress: [{ip: "9.10.11.12"}]}}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
        addressType: IPv4
        endpoints:
        - {addresses: ["10.180.0.1"], nodeName: test-node}
        - {addresses: ["10.180.1.1"], nodeName: remote}
        ports: [{name: p80, port: 80, protocol: TCP}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: svc2-1, namespace: ns2, labels: {kubernetes.io/service-name: svc2}}
        addressType: IPv4
        endpoints:
        - {addresses: ["10.180.0.2"], nodeName: test-node}
        - {addresses: ["10.180.1.2"], nodeName: remote}
        ports: [{name: p80, port: 80, protocol: TCP}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: svc3-1, namespace: ns3, labels: {kubernetes.io/service-name: svc3}}
        addressType: IPv4
        endpoints:
        - {addresses: ["10.180.0.3"], nodeName: test-node}
        - {addresses: ["10.180.1.3"], nodeName: remote}
        ports: [{name: p80, port: 80, protocol: TCP}]
        """

    /// upstream's `flowTests`: the normal case (working localDetector, no masqueradeAll).
    static let internalExternalMasqueradeFlows: [Flow] = [
        Flow(name: "pod to ClusterIP", source: "10.0.0.2", destination: "172.30.0.41", port: 80, output: "10.180.0.1:80, 10.180.1.1:80", masq: false),
        Flow(name: "pod to NodePort", source: "10.0.0.2", destination: testNodeIP, port: 3001, output: "10.180.0.1:80, 10.180.1.1:80", masq: true),
        Flow(name: "pod to LB", source: "10.0.0.2", destination: "1.2.3.4", port: 80, output: "10.180.0.1:80, 10.180.1.1:80", masq: true),
        Flow(name: "node to ClusterIP", source: testNodeIP, destination: "172.30.0.41", port: 80, output: "10.180.0.1:80, 10.180.1.1:80", masq: true),
        Flow(name: "node to NodePort", source: testNodeIP, destination: testNodeIP, port: 3001, output: "10.180.0.1:80, 10.180.1.1:80", masq: true),
        Flow(name: "node to LB", source: testNodeIP, destination: "1.2.3.4", port: 80, output: "10.180.0.1:80, 10.180.1.1:80", masq: true),
        Flow(name: "external to ClusterIP", source: testExternalClient, destination: "172.30.0.41", port: 80, output: "10.180.0.1:80, 10.180.1.1:80", masq: true),
        Flow(name: "external to NodePort", source: testExternalClient, destination: testNodeIP, port: 3001, output: "10.180.0.1:80, 10.180.1.1:80", masq: true),
        Flow(name: "external to LB", source: testExternalClient, destination: "1.2.3.4", port: 80, output: "10.180.0.1:80, 10.180.1.1:80", masq: true),
        Flow(name: "pod to ClusterIP with eTP:Local", source: "10.0.0.2", destination: "172.30.0.42", port: 80, output: "10.180.0.2:80, 10.180.1.2:80", masq: false),
        Flow(name: "pod to NodePort with eTP:Local", source: "10.0.0.2", destination: testNodeIP, port: 3002, output: "10.180.0.2:80, 10.180.1.2:80", masq: false),
        Flow(name: "pod to LB with eTP:Local", source: "10.0.0.2", destination: "5.6.7.8", port: 80, output: "10.180.0.2:80, 10.180.1.2:80", masq: false),
        Flow(name: "node to ClusterIP with eTP:Local", source: testNodeIP, destination: "172.30.0.42", port: 80, output: "10.180.0.2:80, 10.180.1.2:80", masq: true),
        // (upstream sends this one to svc1's NodePort 3001)
        Flow(name: "node to NodePort with eTP:Local", source: testNodeIP, destination: testNodeIP, port: 3001, output: "10.180.0.1:80, 10.180.1.1:80", masq: true),
        Flow(name: "node to LB with eTP:Local", source: testNodeIP, destination: "5.6.7.8", port: 80, output: "10.180.0.2:80, 10.180.1.2:80", masq: true),
        Flow(name: "external to ClusterIP with eTP:Local", source: testExternalClient, destination: "172.30.0.42", port: 80, output: "10.180.0.2:80, 10.180.1.2:80", masq: true),
        Flow(name: "external to NodePort with eTP:Local", source: testExternalClient, destination: testNodeIP, port: 3002, output: "10.180.0.2:80", masq: false),
        Flow(name: "external to LB with eTP:Local", source: testExternalClient, destination: "5.6.7.8", port: 80, output: "10.180.0.2:80", masq: false),
        Flow(name: "pod to ClusterIP with iTP:Local", source: "10.0.0.2", destination: "172.30.0.43", port: 80, output: "10.180.0.3:80", masq: false),
        Flow(name: "pod to NodePort with iTP:Local", source: "10.0.0.2", destination: testNodeIP, port: 3003, output: "10.180.0.3:80, 10.180.1.3:80", masq: true),
        Flow(name: "pod to LB with iTP:Local", source: "10.0.0.2", destination: "9.10.11.12", port: 80, output: "10.180.0.3:80, 10.180.1.3:80", masq: true),
        Flow(name: "node to ClusterIP with iTP:Local", source: testNodeIP, destination: "172.30.0.43", port: 80, output: "10.180.0.3:80", masq: true),
        Flow(name: "node to NodePort with iTP:Local", source: testNodeIP, destination: testNodeIP, port: 3003, output: "10.180.0.3:80, 10.180.1.3:80", masq: true),
        Flow(name: "node to LB with iTP:Local", source: testNodeIP, destination: "9.10.11.12", port: 80, output: "10.180.0.3:80, 10.180.1.3:80", masq: true),
        Flow(name: "external to ClusterIP with iTP:Local", source: testExternalClient, destination: "172.30.0.43", port: 80, output: "10.180.0.3:80", masq: true),
        Flow(name: "external to NodePort with iTP:Local", source: testExternalClient, destination: testNodeIP, port: 3003, output: "10.180.0.3:80, 10.180.1.3:80", masq: true),
        Flow(name: "external to LB with iTP:Local", source: testExternalClient, destination: "9.10.11.12", port: 80, output: "10.180.0.3:80, 10.180.1.3:80", masq: true),
    ]

    /// upstream's `packetFlowTestOverride`.
    public struct Override: Sendable {
        public var output: String? = nil
        public var masq: Bool? = nil
    }

    /// A case's flows: the base list with its overrides merged in, as upstream merges them.
    static func internalExternalMasquerade(_ name: String, masqueradeAll: Bool, localDetector: Bool, overrides: [String: Override]) -> Group {
        precondition(Set(overrides.keys).isSubset(of: internalExternalMasqueradeFlows.map(\.name)), "an override names no flow")
        let flows = internalExternalMasqueradeFlows.map { f -> Flow in
            var f = f
            if let o = overrides[f.name] {
                if let m = o.masq { precondition(m != f.masq, "override is the base value"); f.masq = m }
                if let out = o.output { precondition(out != f.output, "override is the base value"); f.output = out }
            }
            return f
        }
        return Group(test: "TestInternalExternalMasquerade/\(name)", manifests: internalExternalMasqueradeManifests,
                     masqueradeAll: masqueradeAll, localDetector: localDetector, flows: flows)
    }

    static let internalExternalMasqueradeGroups: [Group] = [
        internalExternalMasquerade("base", masqueradeAll: false, localDetector: true, overrides: [:]),
        internalExternalMasquerade("no LocalTrafficDetector", masqueradeAll: false, localDetector: false, overrides: [
            "node to ClusterIP": Override(masq: false),
            "node to ClusterIP with eTP:Local": Override(masq: false),
            "node to ClusterIP with iTP:Local": Override(masq: false),
            "external to ClusterIP": Override(masq: false),
            "external to ClusterIP with eTP:Local": Override(masq: false),
            "external to ClusterIP with iTP:Local": Override(masq: false),
            "pod to NodePort with eTP:Local": Override(output: "10.180.0.2:80"),
            "pod to LB with eTP:Local": Override(output: "10.180.0.2:80"),
        ]),
        internalExternalMasquerade("masqueradeAll", masqueradeAll: true, localDetector: true, overrides: [
            "pod to ClusterIP": Override(masq: true),
            "pod to ClusterIP with eTP:Local": Override(masq: true),
            "pod to ClusterIP with iTP:Local": Override(masq: true),
        ]),
        internalExternalMasquerade("masqueradeAll, no LocalTrafficDetector", masqueradeAll: true, localDetector: false, overrides: [
            "pod to ClusterIP": Override(masq: true),
            "pod to ClusterIP with eTP:Local": Override(masq: true),
            "pod to ClusterIP with iTP:Local": Override(masq: true),
            "pod to NodePort with eTP:Local": Override(output: "10.180.0.2:80"),
            "pod to LB with eTP:Local": Override(output: "10.180.0.2:80"),
        ]),
    ]

    /// Every `runPacketFlowTests` call of proxier_test.go, in file order.
    public static let groups: [Group] =
        [noEndpointsReject, clusterIPGeneral, loadBalancer] + nodePortsGroups
        + [externalTrafficPolicyLocal, externalTrafficPolicyCluster] + internalTrafficPolicyGroups
        + terminatingLocalGroups + terminatingClusterGroups + internalExternalMasqueradeGroups

    // MARK: Running a group through kdp

    /// NewFakeProxier's node (test-node with testNodeIPs), shared with the KubeProxy tests.
    public static let nodeManifest = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("KubeProxyTests/Fixtures/upstream-overall-node.yaml")

    /// The group's manifests with NewFakeProxier's node, loaded as `kdp … --topology FILE…` loads them.
    public static func cluster(_ group: Group) throws -> Cluster {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-upstream-flows-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("manifests.yaml")
        try group.manifests.write(to: file, atomically: true, encoding: .utf8)
        return try ClusterBuilder.load(paths: [nodeManifest.path, file.path])
    }

    /// NewFakeProxier(family) with the group's changes: test-node, the ClusterCIDR detector on
    /// the family's pod CIDR (or the no-op detector), Service CIDR, nodePortAddresses
    /// 192.168.0.2/32 and 2001:db8::1/128 unless the group sets them, mark written `0x4000`.
    public static func fakeProxier(_ cluster: Cluster, _ group: Group) throws -> (ProxierConfig, NFTablesCompiler.Options) {
        let v4 = group.family == .ipv4
        var config = ProxierConfig.forNode(try #require(cluster.node(named: "test-node")), in: cluster, family: group.family)
        config.masqueradeMarkText = "0x4000"
        config.clusterCIDRs = [try Prefix(parsing: v4 ? "10.0.0.0/8" : "fd00:10::/64")]
        if !group.localDetector { config.detectLocalMode = .none }
        config.masqueradeAll = group.masqueradeAll
        config.nodePortAddresses = try (group.nodePortAddresses ?? ["\(testNodeIP)/32", "\(testNodeIPv6)/128"]).map { try Prefix(parsing: $0) }
        return (config, NFTablesCompiler.Options(serviceCIDRs: [try Prefix(parsing: v4 ? "172.30.0.0/16" : "fd00:10:96::/112")]))
    }

    public static func transaction(_ group: Group) throws -> String {
        let c = try cluster(group)
        let (config, options) = try fakeProxier(c, group)
        return NFTablesCompiler.compile(c, config: config, options: options).transactionText()
    }

}
