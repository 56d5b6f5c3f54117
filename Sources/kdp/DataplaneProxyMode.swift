import ArgumentParser
import Cluster

/// `--proxy-mode` of the commands that walk the data plane (trace, replay, verify): the modes
/// `ProxyMode` holds, plus nftables, which a cluster carries as `nftablesModeSource` (set
/// here to the flag, so errors and notes can say where the mode came from).
enum DataplaneProxyMode: String, ExpressibleByArgument, CaseIterable {
    case iptables, ipvs, nftables

    /// Sets the cluster's kube-proxy mode as the flag says.
    func apply(to kp: inout KubeProxySettings) {
        switch self {
        case .iptables: kp.mode = .iptables; kp.nftablesModeSource = nil
        case .ipvs: kp.mode = .ipvs; kp.nftablesModeSource = nil
        case .nftables: kp.mode = .iptables; kp.nftablesModeSource = InputLocation(file: "--proxy-mode nftables")
        }
    }
}
