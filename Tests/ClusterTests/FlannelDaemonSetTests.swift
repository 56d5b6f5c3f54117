import Testing
@testable import Cluster
import Wire

/// flannel's DaemonSet in a dump states flanneld's flags, which kdp otherwise assumes.
@Suite struct FlannelDaemonSetTests {
    static func daemonSet(_ args: String, container: String = "kube-flannel") -> String {
        """
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: Node, metadata: {name: a}, spec: {podCIDR: 10.244.0.0/24}, status: {addresses: [{type: InternalIP, address: 172.18.0.2}]}}
        - apiVersion: apps/v1
          kind: DaemonSet
          metadata: {name: kube-flannel-ds, namespace: kube-flannel}
          spec:
            template:
              spec:
                containers:
                - name: \(container)
                  command: [/opt/bin/flanneld]
                  args: [\(args)]
        """
    }

    @Test func kubeFlannelYAMLsArgsTurnIPMasqOnAndAreSaid() throws {
        let c = try cluster(Self.daemonSet("--ip-masq, --kube-subnet-mgr, --healthz-port=8081"))
        #expect(c.settings.flannel.ipMasq && c.settings.flannel.iptablesForwardRules && !c.settings.flannel.ipMasqRandomFullyDisable)
        #expect(c.notes.contains("flannel ipMasq true, ipMasqRandomFullyDisable false, iptablesForwardRules true read from DaemonSet kube-flannel/kube-flannel-ds (flanneld's command and args)"))
        #expect(!c.notes.contains { $0.hasPrefix("flannel.ipMasq true assumed") })
        #expect(!c.notes.contains { $0.contains("ignoring kind DaemonSet") })
    }

    @Test func withoutIPMasqFlanneldWritesNoMasqueradeRules() throws {
        let c = try cluster(Self.daemonSet("--kube-subnet-mgr, -iptables-forward-rules=false, --ip-masq-fully-random-disable"))
        #expect(!c.settings.flannel.ipMasq && !c.settings.flannel.iptablesForwardRules && c.settings.flannel.ipMasqRandomFullyDisable)
        #expect(try !cluster(Self.daemonSet("--ip-masq=false")).settings.flannel.ipMasq)
    }

    @Test func aBadFlagValueIsAnErrorAndOtherDaemonSetsAreIgnored() throws {
        #expect(buildError(Self.daemonSet("--ip-masq=maybe"))?.message == "flanneld --ip-masq takes true or false, found \"maybe\"")
        let other = try cluster(Self.daemonSet("--ip-masq").replacingOccurrences(of: "name: kube-flannel-ds", with: "name: kube-proxy"))
        #expect(other.notes.contains { $0.contains("ignoring kind DaemonSet") })
        #expect(other.settings.flannel.ipMasq)  // assumed, as before
    }
}
