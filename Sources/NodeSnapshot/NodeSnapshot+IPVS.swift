import IPVS
import Netlink
import Wire

extension NodeSnapshot {
    /// The services and real servers read over generic netlink as `ipvsadm -S -n` prints them
    /// (the IPVS module's printer, the format `kdp trace-rules --ipvs` reads back), or why they
    /// cannot be: a scheduler or protocol kdp does not know, a service the kernel reported twice.
    public static func ipvsSave(_ services: [IPVSServiceEntry]) -> Result<String, SnapshotError> {
        var table = IPVSTable()
        for s in services {
            guard let scheduler = SchedulerName(rawValue: s.scheduler) else {
                return .failure(SnapshotError(file: SnapshotFile.ipvs.rawValue, "scheduler '\(s.scheduler.prefix(20))' is not one kdp models"))
            }
            let key: ServiceKey
            if s.fwmark != 0 {
                key = ServiceKey(fwmark: s.fwmark, family: s.family)
            } else if let address = s.address, s.ipProtocol <= UInt8.max {
                key = ServiceKey(protocol: IPProtocol(rawValue: UInt8(s.ipProtocol)), address: address, port: s.port)
            } else {
                return .failure(SnapshotError(file: SnapshotFile.ipvs.rawValue, "a service with neither an address nor a firewall mark"))
            }
            let index: Int32
            do {
                index = try table.addService(ServiceConfig(key: key, scheduler: scheduler, flags: ServiceFlags(rawValue: s.flags & 0x3D),
                                                           timeout: s.timeout, netmask: s.netmask))
            } catch { return .failure(SnapshotError(file: SnapshotFile.ipvs.rawValue, "service \(s.address.map { "\($0)" } ?? "fwmark \(s.fwmark)"):\(s.port): \(error)")) }
            for d in s.destinations {
                let forward = ForwardMethod(rawValue: UInt8(d.forwardMethod & 0x7)) ?? .masq
                do {
                    try table.addDestination(service: index, DestinationConfig(address: d.address, port: d.port, weight: d.weight, upperThreshold: d.upperThreshold,
                                                                              lowerThreshold: d.lowerThreshold, forward: forward))
                } catch { return .failure(SnapshotError(file: SnapshotFile.ipvs.rawValue, "real server \(d.address):\(d.port): \(error)")) }
            }
        }
        return .success(IPVSAdm.save(table))
    }
}
