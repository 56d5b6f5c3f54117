import IPVS
import Wire

/// One change kube-proxy makes to a node's IPVS during a sync, as `ipvsadm` would spell it.
public enum IPVSOperation: Sendable, Equatable {
    /// `AddVirtualServer` (ipvsadm -A).
    case addService(ServiceConfig)
    /// `UpdateVirtualServer` (ipvsadm -E): scheduler, flags or timeout changed.
    case editService(ServiceConfig)
    /// `cleanLegacyService` → `DeleteVirtualServer` (ipvsadm -D).
    case deleteService(ServiceKey)
    /// `AddRealServer` (ipvsadm -a), always weight 1.
    case addDestination(ServiceKey, DestinationConfig)
    /// `UpdateRealServer` (ipvsadm -e): kube-proxy only ever sets weight 0, to drain a server.
    case editDestination(ServiceKey, DestinationConfig)
    /// `DeleteRealServer` (ipvsadm -d).
    case deleteDestination(ServiceKey, address: IPAddress, port: UInt16)
}

extension IPVSModeRuleset {
    /// What the next sync does to a node whose IPVS is `current` so that it serves this ruleset
    /// (`syncService`, `syncEndpoint`, `cleanLegacyService`, and graceful_termination.go):
    ///
    /// * a missing virtual server is added, a changed one updated;
    /// * a wanted real server that is missing is added with weight 1; one that is draining
    ///   (weight 0: kube-proxy sets no other weight, so weight 0 means it is in the graceful
    ///   termination list) is taken out of the list, which deletes it, and added again
    ///   (`MoveRSOutofGracefulDeleteList`);
    /// * a real server no longer wanted and not yet draining is deleted at once when it is UDP
    ///   or SCTP or has no active or inactive connection (`deleteRsFunc`), and otherwise set to
    ///   weight 0 to drain (`GracefulDeleteRS`); the manager deletes it once its connections are
    ///   gone, which is `drainedDeletions(in:)`;
    /// * a virtual server of this family no longer wanted is deleted unless its address is in
    ///   `--ipvs-exclude-cidrs`.
    ///
    /// Virtual servers in this ruleset's order; within one, additions, then removals.
    public func operations(from current: IPVSTable, excludeCIDRs: [Prefix] = []) -> [IPVSOperation] {
        var ops: [IPVSOperation] = []
        var wantedServices: Set<ServiceKey> = []
        for desired in ipvs.services {
            let key = desired.key
            wantedServices.insert(key)
            let existing = current.serviceIndex(key).map { current.services[Int($0)] }
            if let existing {
                if existing.config != desired.config { ops.append(.editService(desired.config)) }
            } else {
                ops.append(.addService(desired.config))
            }
            let have = existing?.destinations ?? []
            let wanted = desired.destinations
            for d in wanted {
                let dest = DestinationConfig(address: d.address, port: d.port, weight: 1)
                if let h = have.first(where: { $0.address == d.address && $0.port == d.port }) {
                    guard h.weight == 0 else { continue }
                    ops.append(.deleteDestination(key, address: d.address, port: d.port))
                }
                ops.append(.addDestination(key, dest))
            }
            for h in have where !wanted.contains(where: { $0.address == h.address && $0.port == h.port }) {
                if h.weight == 0 { continue }  // already draining
                if !Self.needsGracefulTermination(key.protocol) || h.totalConns == 0 {
                    ops.append(.deleteDestination(key, address: h.address, port: h.port))
                } else {
                    ops.append(.editDestination(key, DestinationConfig(address: h.address, port: h.port, weight: 0)))
                }
            }
        }
        for s in current.services where !wantedServices.contains(s.key) && s.key.family == family
            && !excludeCIDRs.contains(where: { $0.contains(s.key.address) }) {
            ops.append(.deleteService(s.key))
        }
        return ops
    }

    /// The periodic pass of the graceful termination manager (`tryDeleteRs`): every draining
    /// (weight 0) real server whose connections are all gone is deleted.
    public static func drainedDeletions(in current: IPVSTable) -> [IPVSOperation] {
        current.services.flatMap { s in
            s.destinations.filter { $0.weight == 0 && $0.totalConns == 0 }
                .map { IPVSOperation.deleteDestination(s.key, address: $0.address, port: $0.port) }
        }
    }

    /// `IsRsGracefulTerminationNeeded`: UDP and SCTP servers go at once (with
    /// `expire_nodest_conn=1` their connections expire on the next packet).
    static func needsGracefulTermination(_ proto: IPProtocol) -> Bool { proto != .udp && proto != .sctp }
}
