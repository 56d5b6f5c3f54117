import Testing
@testable import Cluster
import Wire

@Suite struct ClusterDNSTests {
    static let yaml = topology("", """
    nodes: [{name: n1}]
    pods:
      - {name: w, node: n1, labels: {app: web}}
      - {name: db-0, namespace: data, node: n1, labels: {app: db}, hostname: db-0, subdomain: db}
      - {name: db-1, namespace: data, node: n1, labels: {app: db}, ready: false}
    services:
      - {name: web, clusterIP: 10.96.0.50, selector: {app: web}, ports: [{name: http, port: 80}]}
      - {name: db, namespace: data, clusterIP: None, selector: {app: db}, ports: [{name: pg, port: 5432}]}
      - {name: out, type: ExternalName, externalName: api.example.com}
    """)

    var dns: ClusterDNS { ClusterDNS(cluster: try! cluster(Self.yaml)) }

    @Test func shortNamesFollowTheNamespaceSearchList() {
        let a = dns.resolve("web", namespace: "default")
        #expect(a.rcode == "NOERROR")
        #expect(a.name == "web.default.svc.cluster.local.")
        #expect(a.records.map(\.data) == ["10.96.0.50"])
        #expect(a.records.first?.ttl == 30)
    }

    @Test func aBareNameFromAnotherNamespaceMisses() {
        let a = dns.resolve("web", namespace: "data")
        #expect(a.rcode == "NXDOMAIN")
        #expect(a.tried == ["web.data.svc.cluster.local.", "web.svc.cluster.local.", "web.cluster.local.", "web."])
    }

    @Test func serviceDotNamespaceResolvesFromAnywhere() {
        let a = dns.resolve("web.default", namespace: "data")
        #expect(a.name == "web.default.svc.cluster.local.")
        #expect(a.tried == ["web.default.data.svc.cluster.local.", "web.default.svc.cluster.local."])
    }

    @Test func headlessServicesAnswerWithReadyPodAddresses() {
        let a = dns.resolve("db.data.svc.cluster.local")
        #expect(a.records.map(\.data) == ["10.244.0.3"])  // db-1 is not ready
    }

    @Test func headlessEndpointsHaveTheirOwnNames() {
        #expect(dns.resolve("db-0.db.data.svc.cluster.local.").records.map(\.data) == ["10.244.0.3"])
    }

    @Test func srvRecordsNameThePort() {
        #expect(dns.resolve("_http._tcp.web.default.svc.cluster.local.").records.map(\.data) == ["0 100 80 web.default.svc.cluster.local."])
        #expect(dns.resolve("_pg._tcp.db.data.svc.cluster.local.").records.map(\.data) == ["0 100 5432 db-0.db.data.svc.cluster.local."])
    }

    @Test func podRecordsAreTheDashedAddress() {
        #expect(dns.resolve("10-244-0-9.default.pod.cluster.local").records.map(\.data) == ["10.244.0.9"])
        #expect(dns.resolve("10-244-0-9.nosuchns.pod.cluster.local").rcode == "NXDOMAIN")
    }

    @Test func externalNameIsACNAME() {
        let r = dns.resolve("out").records
        #expect(r.map(\.type) == ["CNAME"] && r.map(\.data) == ["api.example.com."])
    }

    @Test func unknownNamesAreNXDOMAIN() {
        #expect(dns.resolve("nope.default.svc.cluster.local.").rcode == "NXDOMAIN")
        #expect(dns.resolve("example.com.").rcode == "NXDOMAIN")
    }
}
