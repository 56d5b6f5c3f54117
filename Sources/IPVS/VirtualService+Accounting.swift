/// Counter updates on one server, done inside one access to the service so the packet path
/// touches the service and server storage once per update rather than once per field.
extension VirtualService {
    /// ip_vs_bind_dest: count the entry, then set OVERLOAD at the upper threshold.
    mutating func bind(slot: Int32, template: Bool, inactive: Bool) {
        let i = Int(slot)
        if template {
            servers[i].persistConns += 1
        } else if inactive {
            servers[i].inactiveConns += 1
        } else {
            servers[i].activeConns += 1
        }
        let u = servers[i].upperThreshold
        if u != 0 && Int64(servers[i].totalConns) >= Int64(u) { servers[i].overloaded = true }
        if config.scheduler.usesLoadTree { treeUpdate(slot: slot) }
    }

    /// ip_vs_unbind_dest: uncount, then clear OVERLOAD below the lower threshold (or below 3/4
    /// of the upper one when there is no lower threshold, or always when there is neither).
    mutating func unbind(slot: Int32, template: Bool, inactive: Bool) {
        let i = Int(slot)
        if template {
            servers[i].persistConns -= 1
        } else if inactive {
            servers[i].inactiveConns -= 1
        } else {
            servers[i].activeConns -= 1
        }
        let total = Int64(servers[i].totalConns)
        let l = servers[i].lowerThreshold, u = servers[i].upperThreshold
        if l != 0 {
            if total < Int64(l) { servers[i].overloaded = false }
        } else if u != 0 {
            if total * 4 < Int64(u) * 3 { servers[i].overloaded = false }
        } else {
            servers[i].overloaded = false
        }
        if config.scheduler.usesLoadTree { treeUpdate(slot: slot) }
    }

    /// set_tcp_state's move between `inactconns` and `activeconns` (+1: to active).
    mutating func moveActive(slot: Int32, by delta: Int32) {
        servers[Int(slot)].activeConns += delta
        servers[Int(slot)].inactiveConns -= delta
        if config.scheduler.usesLoadTree { treeUpdate(slot: slot) }
    }

    /// ip_vs_in_stats for the server and the service; false when the server is not AVAILABLE
    /// (then nothing is counted).
    mutating func countIn(slot: Int32, length: UInt32) -> Bool {
        let i = Int(slot)
        guard servers[i].available else { return false }
        servers[i].stats.inPackets += 1
        servers[i].stats.inBytes += UInt64(length)
        stats.inPackets += 1
        stats.inBytes += UInt64(length)
        return true
    }

    /// ip_vs_out_stats for the server and the service.
    mutating func countOut(slot: Int32, length: UInt32) -> Bool {
        let i = Int(slot)
        guard servers[i].available else { return false }
        servers[i].stats.outPackets += 1
        servers[i].stats.outBytes += UInt64(length)
        stats.outPackets += 1
        stats.outBytes += UInt64(length)
        return true
    }

    /// ip_vs_conn_stats.
    mutating func countConn(slot: Int32) {
        servers[Int(slot)].stats.conns += 1
        stats.conns += 1
    }
}
